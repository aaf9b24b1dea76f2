package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"
)

// TestAPIRejectsUnknownKeys: a typo in a key is a 400, never silently ignored, and
// nothing changes; what Toxiproxy's own client sends is accepted.
func TestAPIRejectsUnknownKeys(t *testing.T) {
	s, api := apiServer(t)
	echo := echoServer(t)
	p, err := s.Add(Config{Name: "p", Upstream: echo}, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ method, path, body string }{
		{"POST", "/proxies", fmt.Sprintf(`{"name":"x","upstream":%q,"enabeld":false}`, echo)},
		{"POST", "/populate", fmt.Sprintf(`[{"name":"x","upstream":%q,"enabeld":false}]`, echo)},
		{"POST", "/proxies/p", `{"enabeld":false}`},
		{"PATCH", "/proxies/p", `{"upstrem":"127.0.0.1:1"}`},
		{"POST", "/proxies/p/toxics", `{"name":"t","type":"latency","attributes":{"latency":5},"strem":"upstream"}`},
		{"POST", "/proxies/p/toxics", `{"name":"t","type":"latency"} {"name":"u","type":"latency"}`},
		{"POST", "/proxies/p", `{"name":"other"}`},
	} {
		code, body, _ := call(t, tc.method, "http://"+api+tc.path, tc.body, nil)
		if code != http.StatusBadRequest {
			t.Errorf("%s %s %s = %d %s, want 400", tc.method, tc.path, tc.body, code, body)
		}
	}
	if len(s.Proxies()) != 1 || !p.Enabled() || len(p.Toxics()) != 0 || p.Upstream() != echo {
		t.Fatalf("a refused request changed the server: %d proxies, enabled %v, toxics %v, upstream %s",
			len(s.Proxies()), p.Enabled(), p.Toxics(), p.Upstream())
	}
	// Toxiproxy's client sends "toxics" with a proxy, and "name" on update.
	px, err := toxiclient.NewClient(api).Proxy("p")
	if err != nil {
		t.Fatal(err)
	}
	if err := px.Disable(); err != nil || p.Enabled() {
		t.Fatalf("client Disable: %v (enabled %v)", err, p.Enabled())
	}
}

// TestRefusedUpdateLeavesProxyAsItWas: an update to an address in use answers 409
// with the reason, and the proxy keeps listening where it was, with its live
// connections and toxics; the same for enabling a disabled proxy onto a busy port.
func TestRefusedUpdateLeavesProxyAsItWas(t *testing.T) {
	s, api := apiServer(t)
	echo := echoServer(t)
	p, err := s.Add(Config{Name: "p", Upstream: echo}, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AddToxic(Toxic{Name: "lat", Type: "latency", Toxicity: 1, Attributes: map[string]any{"latency": 30}}); err != nil {
		t.Fatal(err)
	}
	before := p.Addr()
	c := dial(t, before)
	if _, err := roundTrip(t, c, []byte("x"), time.Second); err != nil {
		t.Fatal(err)
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()

	for _, body := range []string{
		fmt.Sprintf(`{"listen":%q}`, busy.Addr()),
		fmt.Sprintf(`{"listen":%q,"upstream":"127.0.0.1:9"}`, busy.Addr()),
	} {
		code, reply, _ := call(t, "POST", "http://"+api+"/proxies/p", body, nil)
		if code != http.StatusConflict || !strings.Contains(reply, "address already in use") {
			t.Fatalf("update onto a busy port: %d %s, want 409 with the reason", code, reply)
		}
		if !p.Enabled() || p.Addr() != before || p.Upstream() != echo || len(p.Toxics()) != 1 {
			t.Fatalf("after the refused update: enabled %v addr %s (was %s) upstream %s toxics %v",
				p.Enabled(), p.Addr(), before, p.Upstream(), p.Toxics())
		}
		if d, err := roundTrip(t, c, []byte("x"), time.Second); err != nil || d < 30*time.Millisecond {
			t.Fatalf("the live connection after a refused update: %v %v", d, err)
		}
	}

	if err := p.SetEnabled(false); err != nil {
		t.Fatal(err)
	}
	code, reply, _ := call(t, "POST", "http://"+api+"/proxies/p", fmt.Sprintf(`{"listen":%q,"enabled":true}`, busy.Addr()), nil)
	if code != http.StatusConflict || p.Enabled() || p.Addr() != before {
		t.Fatalf("enable onto a busy port: %d %s; enabled %v addr %s (was %s)", code, reply, p.Enabled(), p.Addr(), before)
	}
	code, reply, _ = call(t, "POST", "http://"+api+"/proxies", fmt.Sprintf(`{"name":"q","listen":%q,"upstream":%q}`, busy.Addr(), echo), nil)
	if code != http.StatusConflict || !strings.Contains(reply, "cannot listen") {
		t.Fatalf("create on a busy port: %d %s, want 409", code, reply)
	}

	// A good update still works: a new upstream keeps the listening socket.
	if err := p.SetEnabled(true); err != nil {
		t.Fatal(err)
	}
	echo2 := echoServer(t)
	if code, reply, _ := call(t, "POST", "http://"+api+"/proxies/p", fmt.Sprintf(`{"upstream":%q}`, echo2), nil); code != http.StatusOK {
		t.Fatalf("upstream update: %d %s", code, reply)
	}
	if p.Addr() != before || p.Upstream() != echo2 {
		t.Fatalf("after upstream update: %s -> %s", p.Addr(), p.Upstream())
	}
	if _, err := roundTrip(t, dial(t, before), []byte("x"), time.Second); err != nil {
		t.Fatalf("through the updated proxy: %v", err)
	}
	free := freeAddr(t)
	if code, reply, _ := call(t, "POST", "http://"+api+"/proxies/p", fmt.Sprintf(`{"listen":%q}`, free), nil); code != http.StatusOK || p.Addr() != free {
		t.Fatalf("listen update: %d %s, addr %s", code, reply, p.Addr())
	}
	if _, err := roundTrip(t, dial(t, free), []byte("x"), time.Second); err != nil {
		t.Fatalf("on the new address: %v", err)
	}
	if c, err := net.DialTimeout("tcp", before, time.Second); err == nil {
		c.Close()
		t.Fatal("still listening on the old address")
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestHugeDelaysRejected: time attributes beyond 24 h are refused with the bound,
// rather than overflowing to no delay.
func TestHugeDelaysRejected(t *testing.T) {
	s, api := apiServer(t)
	if _, err := s.Add(Config{Name: "p", Upstream: echoServer(t)}, true); err != nil {
		t.Fatal(err)
	}
	px, err := toxiclient.NewClient(api).Proxy("p")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		typ, stream string
		attrs       toxiclient.Attributes
		want        string
	}{
		{"latency", "", toxiclient.Attributes{"latency": 1e15}, "latency must be <= 86400000"},
		{"latency", "", toxiclient.Attributes{"latency": 5, "jitter": MaxDelayMS + 1}, "jitter must be <= 86400000"},
		{"http_fault", "upstream", toxiclient.Attributes{"action": "delay", "delay_ms": 9e15}, "delay_ms must be <= 86400000"},
		{"timeout", "", toxiclient.Attributes{"timeout": 1e13}, "timeout must be <= 86400000"},
		{"slow_close", "", toxiclient.Attributes{"delay": 1e13}, "delay must be <= 86400000"},
		{"slicer", "", toxiclient.Attributes{"average_size": 10, "delay": 1e15}, "delay must be <= 86400000000"},
		{"bandwidth", "", toxiclient.Attributes{"rate": 9e15}, "rate must be <="},
	} {
		_, err := px.AddToxic("", tc.typ, tc.stream, 1, tc.attrs)
		var ae *toxiclient.ApiError
		if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest || !strings.Contains(ae.Message, tc.want) {
			t.Errorf("%s %v: %v, want 400 %q", tc.typ, tc.attrs, err, tc.want)
		}
	}
	if _, err := px.AddToxic("ok", "latency", "", 1, toxiclient.Attributes{"latency": MaxDelayMS}); err != nil {
		t.Fatalf("the bound itself: %v", err)
	}
	if _, err := px.UpdateToxic("ok", 1, toxiclient.Attributes{"latency": MaxDelayMS + 1}); err == nil {
		t.Fatal("an update beyond the bound was accepted")
	}
	if errs := (&LatencySpec{Proxy: "p", Delay: 25 * time.Hour}).Validate(nil); len(errs) == 0 || !strings.Contains(errs.ToAggregate().Error(), "must be <= 24h0m0s") {
		t.Fatalf("latency fault of 25h: %v", errs)
	}
}

// TestUpstreamAllowList: proxies are created only for allowed upstreams (by name,
// glob, IP, CIDR, port); a refused create or update is 403 and changes nothing; a
// proxy admitted through a CIDR dials only addresses inside it.
func TestUpstreamAllowList(t *testing.T) {
	echo := echoServer(t)
	_, echoPort, _ := net.SplitHostPort(echo)
	s, api, _ := protectedServer(t, "127.0.0.0/8:"+echoPort, "db-*.internal:5432")
	cl := toxiclient.NewClient("http://" + DefaultUser + ":" + testToken + "@" + api)

	px, err := cl.CreateProxy("ok", "127.0.0.1:0", echo)
	if err != nil {
		t.Fatalf("allowed by CIDR and port: %v", err)
	}
	if _, err := roundTrip(t, dial(t, px.Listen), []byte("x"), time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.CreateProxy("byname", "127.0.0.1:0", "localhost:"+echoPort); err != nil {
		t.Fatalf("localhost resolves inside the CIDR: %v", err)
	}
	for _, up := range []string{"127.0.0.1:22", "10.0.0.1:" + echoPort, "db-1.internal:5433", "example.invalid:" + echoPort} {
		_, err := cl.CreateProxy("bad", "127.0.0.1:0", up)
		var ae *toxiclient.ApiError
		if !errors.As(err, &ae) || ae.Status != http.StatusForbidden || !strings.Contains(ae.Message, "upstream not allowed") {
			t.Errorf("upstream %s: %v, want 403 upstream not allowed", up, err)
		}
	}
	if _, err := cl.Populate([]toxiclient.Proxy{{Name: "p1", Listen: "127.0.0.1:0", Upstream: echo}, {Name: "p2", Listen: "127.0.0.1:0", Upstream: "127.0.0.1:22"}}); err == nil {
		t.Error("populate with one disallowed upstream was accepted")
	}
	if _, err := s.Get("p1"); err == nil {
		t.Error("populate created p1 although p2 was refused: it must check all first")
	}
	px.Upstream = "127.0.0.1:22"
	if err := px.Save(); err == nil {
		t.Error("update to a disallowed upstream was accepted")
	}
	if p, _ := s.Get("ok"); p.Upstream() != echo {
		t.Fatalf("refused update changed the upstream to %s", p.Upstream())
	}

	al, err := ParseAllowList([]string{"db-*.internal:5432", "10.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	for up, want := range map[string]bool{
		"db-1.internal:5432": true, "DB-2.Internal:5432": true, "db-1.internal:5433": false, "x.db-1.internal:5432": false,
		"10.1.2.3:1": true, "[::ffff:10.1.2.3]:80": true, "11.0.0.1:80": false,
	} {
		if err := al.Admit(context.Background(), up); (err == nil) != want {
			t.Errorf("Admit(%s) = %v, want allowed %v", up, err, want)
		}
	}
	// The dial check: a proxy for a name admitted through its addresses connects
	// only to addresses inside the CIDRs, whatever DNS answers later.
	p, _ := New(Config{Name: "n", Upstream: "svc.example:80"})
	ctl := al.control(p)
	if err := ctl("tcp4", "10.9.9.9:80", nil); err != nil {
		t.Errorf("dial inside the CIDR refused: %v", err)
	}
	if err := ctl("tcp4", "192.168.1.1:80", nil); !errors.Is(err, ErrUpstreamNotAllowed) {
		t.Errorf("dial outside the CIDR: %v", err)
	}
	for _, bad := range []string{"", "host", "host:0", "host:http", "[a:80", "10.0.0.0/33"} {
		if _, err := ParseAllowList([]string{bad}); err == nil {
			t.Errorf("ParseAllowList(%q): no error", bad)
		}
	}
}
