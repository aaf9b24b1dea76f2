package proxy

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	toxiclient "github.com/Shopify/toxiproxy/v2/client"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

func apiServer(t *testing.T) (*Server, string) {
	t.Helper()
	s := NewServer()
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		hs.Close()
		_ = s.Close()
	})
	return s, strings.TrimPrefix(hs.URL, "http://")
}

func wantAPIError(t *testing.T, what string, err error, status int) {
	t.Helper()
	var ae *toxiclient.ApiError
	if !errors.As(err, &ae) || ae.Status != status {
		t.Fatalf("%s: %v, want an API error with status %d", what, err, status)
	}
}

// TestToxiproxyClientDrivesAPI uses the official Toxiproxy Go client, unchanged.
func TestToxiproxyClientDrivesAPI(t *testing.T) {
	_, api := apiServer(t)
	echo := echoServer(t)
	cl := toxiclient.NewClient(api)

	if v, err := cl.Version(); err != nil || !strings.Contains(string(v), `"version"`) {
		t.Fatalf("version: %s %v", v, err)
	}
	px, err := cl.CreateProxy("redis", "127.0.0.1:0", echo)
	if err != nil {
		t.Fatal(err)
	}
	if !px.Enabled || strings.HasSuffix(px.Listen, ":0") {
		t.Fatalf("created proxy: %+v, want enabled with a resolved port", px)
	}
	c := dial(t, px.Listen)
	if _, err := roundTrip(t, c, []byte("hi"), time.Second); err != nil {
		t.Fatal(err)
	}

	tx, err := px.AddToxic("lat", "latency", "downstream", 1, toxiclient.Attributes{"latency": 50})
	if err != nil {
		t.Fatal(err)
	}
	if tx.Name != "lat" || tx.Stream != "downstream" || tx.Toxicity != 1 || tx.Attributes["latency"] != float64(50) || tx.Attributes["jitter"] != float64(0) {
		t.Fatalf("toxic echoed back: %+v", tx)
	}
	if d, err := roundTrip(t, c, []byte("hi"), time.Second); err != nil || d < 50*time.Millisecond {
		t.Fatalf("latency 50 through the client: %v %v", d, err)
	}
	if _, err := px.UpdateToxic("lat", 1, toxiclient.Attributes{"latency": 120}); err != nil {
		t.Fatal(err)
	}
	if d, err := roundTrip(t, c, []byte("hi"), time.Second); err != nil || d < 120*time.Millisecond {
		t.Fatalf("after update to 120: %v %v", d, err)
	}
	defTx, err := px.AddToxic("", "timeout", "", 0.25, toxiclient.Attributes{"timeout": 0})
	if err != nil || defTx.Name != "timeout_downstream" || defTx.Toxicity != 0.25 {
		t.Fatalf("default name and explicit toxicity: %+v %v", defTx, err)
	}
	ts, err := px.Toxics()
	if err != nil || len(ts) != 2 {
		t.Fatalf("toxics: %+v %v", ts, err)
	}
	if err := px.RemoveToxic("timeout_downstream"); err != nil {
		t.Fatal(err)
	}
	if err := px.RemoveToxic("lat"); err != nil {
		t.Fatal(err)
	}
	if d, err := roundTrip(t, c, []byte("hi"), time.Second); err != nil || d > 60*time.Millisecond {
		t.Fatalf("after removal: %v %v", d, err)
	}

	if err := px.Disable(); err != nil {
		t.Fatal(err)
	}
	if _, err := net.DialTimeout("tcp", px.Listen, time.Second); err == nil {
		t.Fatal("disabled proxy still accepts connections")
	}
	if err := px.Enable(); err != nil {
		t.Fatal(err)
	}
	if _, err := roundTrip(t, dial(t, px.Listen), []byte("hi"), time.Second); err != nil {
		t.Fatalf("re-enabled: %v", err)
	}

	// Populate: one new proxy, one existing kept as is.
	ps, err := cl.Populate([]toxiclient.Proxy{
		{Name: "redis", Listen: px.Listen, Upstream: echo, Enabled: true},
		{Name: "pg", Listen: "127.0.0.1:0", Upstream: echo, Enabled: true},
	})
	if err != nil || len(ps) != 2 || ps[0].Listen != px.Listen {
		t.Fatalf("populate: %+v %v", ps, err)
	}
	all, err := cl.Proxies()
	if err != nil || len(all) != 2 || all["pg"] == nil || !all["pg"].Enabled {
		t.Fatalf("proxies: %+v %v", all, err)
	}
	if _, err := all["pg"].AddToxic("bw", "bandwidth", "upstream", 1, toxiclient.Attributes{"rate": 10}); err != nil {
		t.Fatal(err)
	}
	if err := all["pg"].Disable(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ResetState(); err != nil {
		t.Fatal(err)
	}
	pg, err := cl.Proxy("pg")
	if err != nil || !pg.Enabled || len(pg.ActiveToxics) != 0 {
		t.Fatalf("after reset: %+v %v, want enabled without toxics", pg, err)
	}

	// Error cases, with Toxiproxy's status codes.
	_, err = cl.CreateProxy("redis", "127.0.0.1:0", echo)
	wantAPIError(t, "duplicate proxy", err, http.StatusConflict)
	_, err = cl.Proxy("nope")
	wantAPIError(t, "unknown proxy", err, http.StatusNotFound)
	_, err = pg.AddToxic("x", "nope", "", 1, nil)
	wantAPIError(t, "unknown toxic type", err, http.StatusBadRequest)
	_, err = pg.AddToxic("x", "latency", "sideways", 1, nil)
	wantAPIError(t, "bad stream", err, http.StatusBadRequest)
	_, err = pg.AddToxic("x", "latency", "", 1, toxiclient.Attributes{"latency": -5})
	wantAPIError(t, "negative latency", err, http.StatusBadRequest)
	if _, err := pg.AddToxic("x", "latency", "", 1, nil); err != nil {
		t.Fatal(err)
	}
	_, err = pg.AddToxic("x", "latency", "", 1, nil)
	wantAPIError(t, "duplicate toxic", err, http.StatusConflict)
	wantAPIError(t, "remove absent toxic", pg.RemoveToxic("absent"), http.StatusNotFound)
	_, err = pg.UpdateToxic("absent", 1, nil)
	wantAPIError(t, "update absent toxic", err, http.StatusNotFound)
	_, err = cl.CreateProxy("clash", px.Listen, echo)
	if err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("port in use: %v", err)
	}
	_, err = cl.CreateProxy("bad", "127.0.0.1:0", "no-port")
	wantAPIError(t, "bad upstream", err, http.StatusBadRequest)

	if err := pg.Delete(); err != nil {
		t.Fatal(err)
	}
	wantAPIError(t, "delete twice", pg.Delete(), http.StatusNotFound)

	req, _ := http.NewRequest("GET", "http://"+api+"/proxies", nil)
	req.Header.Set("User-Agent", "Mozilla/5.0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("browser user agent: %v %v, want 403", resp, err)
	}
	resp.Body.Close()
}

// TestRemoteController drives our API and a real Toxiproxy 2.12 API with Remote.
func TestRemoteController(t *testing.T) {
	echo := echoServer(t)
	ours, oursAPI := apiServer(t)
	if _, err := ours.Add(Config{Name: "svc", Upstream: echo}, true); err != nil {
		t.Fatal(err)
	}

	tp := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	ths := httptest.NewServer(tp.Routes())
	t.Cleanup(func() {
		ths.Close()
		_ = tp.Collection.Clear()
	})
	if _, err := toxiclient.NewClient(ths.URL).CreateProxy("svc", "127.0.0.1:0", echo); err != nil {
		t.Fatal(err)
	}

	for name, api := range map[string]string{"faultline": oursAPI, "toxiproxy": ths.URL} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			rc, err := Remote(api, "svc")
			if err != nil {
				t.Fatal(err)
			}
			addr := rc.Addr()
			if addr == "" {
				t.Fatal("Addr: empty")
			}
			c := dial(t, addr)
			if err := rc.AddToxic(ctx, Toxic{Name: "lat", Type: "latency", Stream: Downstream, Toxicity: 1,
				Attributes: map[string]any{"latency": 40}}); err != nil {
				t.Fatal(err)
			}
			if d, err := roundTrip(t, c, []byte("x"), time.Second); err != nil || d < 40*time.Millisecond {
				t.Fatalf("remote latency: %v %v", d, err)
			}
			if err := rc.AddToxic(ctx, Toxic{Name: "lat", Type: "latency", Toxicity: 1}); !errors.Is(err, ErrToxicExists) {
				t.Fatalf("duplicate: %v", err)
			}
			ts, err := rc.(ToxicLister).Toxics(ctx)
			if err != nil || len(ts) != 1 || ts[0].Name != "lat" {
				t.Fatalf("Toxics: %+v %v", ts, err)
			}
			if err := rc.RemoveToxic(ctx, "lat"); err != nil {
				t.Fatal(err)
			}
			if err := rc.RemoveToxic(ctx, "lat"); !errors.Is(err, ErrToxicNotFound) {
				t.Fatalf("remove twice: %v, want ErrToxicNotFound", err)
			}
			if err := rc.SetEnabled(ctx, false); err != nil {
				t.Fatal(err)
			}
			if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
				t.Fatal("remote disabled proxy still accepts")
			}
			if err := rc.SetEnabled(ctx, true); err != nil {
				t.Fatal(err)
			}
			if _, err := roundTrip(t, dial(t, addr), []byte("x"), time.Second); err != nil {
				t.Fatalf("re-enabled: %v", err)
			}
			gone, _ := Remote(api, "gone")
			if err := gone.RemoveToxic(ctx, "x"); !errors.Is(err, ErrProxyNotFound) {
				t.Fatalf("unknown proxy: %v, want ErrProxyNotFound", err)
			}
		})
	}
}

func TestPopulateJSONConfigFile(t *testing.T) {
	s := NewServer()
	defer s.Close()
	echo := echoServer(t)
	ps, err := s.PopulateJSON(strings.NewReader(`[{"name":"a","listen":"127.0.0.1:0","upstream":"` + echo + `"},
		{"name":"b","listen":"127.0.0.1:0","upstream":"` + echo + `","enabled":false}]`))
	if err != nil || len(ps) != 2 || !ps[0].Enabled() || ps[1].Enabled() {
		t.Fatalf("populate: %v %v", ps, err)
	}
	if _, err := roundTrip(t, dial(t, ps[0].Addr()), []byte("x"), time.Second); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{`[{"name":"c","upstream":"nope"}]`, `[{"name":"c","upstream":"127.0.0.1:1","typo":1}]`, `[{"upstream":"127.0.0.1:1"}]`} {
		if _, err := s.PopulateJSON(strings.NewReader(bad)); err == nil {
			t.Errorf("PopulateJSON(%s): no error", bad)
		}
	}
	if len(s.Proxies()) != 2 {
		t.Fatalf("a bad config must add nothing: %d proxies", len(s.Proxies()))
	}
}
