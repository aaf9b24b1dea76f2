package proxy

import (
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	toxiclient "github.com/Shopify/toxiproxy/v2/client"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

const testToken = "s3cret-token-0123456789abcdef"

// syncLog collects the server's log lines.
type syncLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *syncLog) logf(format string, a ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, a...))
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// protectedServer serves an API that needs testToken; it returns the server, its
// host:port and its log.
func protectedServer(t *testing.T, allow ...string) (*Server, string, *syncLog) {
	t.Helper()
	log := &syncLog{}
	o := Options{Credentials: &Credentials{User: DefaultUser, Token: testToken, Source: "test"}, Logf: log.logf}
	if len(allow) > 0 {
		al, err := ParseAllowList(allow)
		if err != nil {
			t.Fatal(err)
		}
		o.Upstreams = al
	}
	s := NewServerWith(o)
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		hs.Close()
		_ = s.Close()
	})
	return s, strings.TrimPrefix(hs.URL, "http://"), log
}

func call(t *testing.T, method, url, body string, setAuth func(*http.Request)) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if setAuth != nil {
		setAuth(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// TestAPIRequiresCredentials: without credentials, with a wrong token, and with a
// wrong user the API answers the same 401 (it does not say which part was wrong),
// creates nothing, and logs each attempt without the token; the official Go client
// with the credentials in the URL's user info works unchanged.
func TestAPIRequiresCredentials(t *testing.T) {
	s, api, log := protectedServer(t)
	echo := echoServer(t)
	body := fmt.Sprintf(`{"name":"x","listen":"127.0.0.1:0","upstream":%q}`, echo)
	var replies []string
	for _, tc := range []struct {
		name string
		auth func(*http.Request)
	}{
		{"none", nil},
		{"wrong token", func(r *http.Request) { r.SetBasicAuth(DefaultUser, testToken+"x") }},
		{"wrong user", func(r *http.Request) { r.SetBasicAuth("admin", testToken) }},
		{"token as user", func(r *http.Request) { r.SetBasicAuth(testToken, "") }},
		{"bearer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+testToken) }},
	} {
		for _, m := range []struct{ method, path, body string }{{"GET", "/version", ""}, {"GET", "/proxies", ""}, {"POST", "/proxies", body}} {
			code, reply, h := call(t, m.method, "http://"+api+m.path, m.body, tc.auth)
			if code != http.StatusUnauthorized || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Basic ") {
				t.Fatalf("%s: %s %s = %d %q (WWW-Authenticate %q), want 401", tc.name, m.method, m.path, code, reply, h.Get("WWW-Authenticate"))
			}
			replies = append(replies, reply)
		}
	}
	for _, r := range replies[1:] {
		if r != replies[0] {
			t.Fatalf("401 replies differ, so they tell which part was wrong: %q vs %q", replies[0], r)
		}
	}
	if len(s.Proxies()) != 0 {
		t.Fatalf("a refused request created proxies: %v", s.Proxies())
	}
	logged := log.String()
	if strings.Count(logged, "refused ") != len(replies) || !strings.Contains(logged, "no credentials") ||
		!strings.Contains(logged, "wrong credentials") || !strings.Contains(logged, `"/proxies"`) {
		t.Fatalf("log of refused requests:\n%s", logged)
	}
	if strings.Contains(logged, testToken) {
		t.Fatalf("the log shows the token:\n%s", logged)
	}

	cl := toxiclient.NewClient("http://" + DefaultUser + ":" + testToken + "@" + api)
	px, err := cl.CreateProxy("redis", "127.0.0.1:0", echo)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := px.AddToxic("lat", "latency", "downstream", 1, toxiclient.Attributes{"latency": 40}); err != nil {
		t.Fatal(err)
	}
	if d, err := roundTrip(t, dial(t, px.Listen), []byte("hi"), time.Second); err != nil || d < 40*time.Millisecond {
		t.Fatalf("through the proxy made with credentials: %v %v", d, err)
	}
	if _, err := toxiclient.NewClient(api).Proxies(); err == nil || !strings.Contains(err.Error(), "unauthorized") {
		t.Fatalf("the Go client without credentials: %v, want unauthorized", err)
	}
}

// TestAuthLogIsRateLimited: a flood of bad requests does not flood the log; what
// was not logged is counted in a later line.
func TestAuthLogIsRateLimited(t *testing.T) {
	_, api, log := protectedServer(t)
	for range 50 {
		call(t, "GET", "http://"+api+"/proxies", "", nil)
	}
	if n := strings.Count(log.String(), "\n") + 1; n > 25 {
		t.Fatalf("%d log lines for 50 refused requests in a burst", n)
	}
	time.Sleep(150 * time.Millisecond) // the limiter refills 10 a second
	call(t, "GET", "http://"+api+"/proxies", "", nil)
	if !strings.Contains(log.String(), "more refused requests not logged") {
		t.Fatalf("dropped lines were not counted:\n%s", log.String())
	}
}

// TestRemoteWithCredentials drives a protected API with the remote client: with
// credentials (explicit, from the environment, from a token file, in the URL) it
// works; without or with wrong ones the error says what to do and never shows the
// token; APIAddr (what the journal keeps) never carries it.
func TestRemoteWithCredentials(t *testing.T) {
	s, api, _ := protectedServer(t)
	p, err := s.Add(Config{Name: "payments", Upstream: echoServer(t)}, true)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	add := func(c Controller) error {
		err := c.AddToxic(ctx, Toxic{Name: "t1", Type: "latency", Toxicity: 1})
		if err == nil {
			err = c.RemoveToxic(ctx, "t1")
		}
		return err
	}
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(testToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	t.Setenv(EnvToken, "")
	t.Setenv(EnvTokenFile, "")
	rc, err := Remote(api, "payments")
	if err != nil {
		t.Fatal(err)
	}
	if err := add(rc); !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), EnvTokenFile) {
		t.Fatalf("without credentials: %v, want ErrUnauthorized naming %s", err, EnvTokenFile)
	}
	if _, err := rc.(RemoteController).Describe(ctx); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("Describe without credentials: %v", err)
	}

	t.Setenv(EnvToken, "not-the-token")
	rc, _ = Remote(api, "payments")
	if err := add(rc); !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), "$"+EnvToken) || strings.Contains(err.Error(), "not-the-token") {
		t.Fatalf("wrong token: %v, want ErrUnauthorized naming the source, not the token", err)
	}

	t.Setenv(EnvToken, testToken)
	rc, _ = Remote(api, "payments")
	if err := add(rc); err != nil {
		t.Fatalf("token from $%s: %v", EnvToken, err)
	}
	t.Setenv(EnvTokenFile, tokenFile)
	if _, err := Remote(api, "payments"); err == nil || !strings.Contains(err.Error(), "set only one") {
		t.Fatalf("both variables set: %v", err)
	}
	t.Setenv(EnvToken, "")
	rc, _ = Remote(api, "payments")
	if err := add(rc); err != nil {
		t.Fatalf("token from $%s: %v", EnvTokenFile, err)
	}
	t.Setenv(EnvTokenFile, filepath.Join(t.TempDir(), "missing"))
	if _, err := Remote(api, "payments"); err == nil || !strings.Contains(err.Error(), EnvTokenFile) {
		t.Fatalf("missing token file: %v", err)
	}
	t.Setenv(EnvTokenFile, "")

	for _, addr := range []string{"http://" + DefaultUser + ":" + testToken + "@" + api, DefaultUser + ":" + testToken + "@" + api} {
		rc, err := Remote(addr, "payments")
		if err != nil {
			t.Fatal(err)
		}
		if err := add(rc); err != nil {
			t.Fatalf("credentials in the URL %s: %v", rc.(RemoteController).APIAddr(), err)
		}
		if a := rc.(RemoteController).APIAddr(); strings.Contains(a, testToken) || !strings.Contains(a, api) {
			t.Fatalf("APIAddr %q: must name the API without the token", a)
		}
	}
	rc, _ = RemoteWith(api, "payments", RemoteOptions{Credentials: &Credentials{User: DefaultUser, Token: testToken}})
	info, err := rc.(RemoteController).Describe(ctx)
	if err != nil || !info.Faultline || !info.Supports("http_fault") || rc.Addr() != p.Addr() {
		t.Fatalf("Describe: %+v %v, Addr %q", info, err, rc.Addr())
	}
	if _, err := RemoteWith("http://"+DefaultUser+":"+testToken+"@bad host", "payments", RemoteOptions{}); err == nil || strings.Contains(err.Error(), testToken) {
		t.Fatalf("bad address: %v (must not show the token)", err)
	}
}

// TestRemoteTLS: an https API is reached with the CA from $FAULTLINE_PROXY_CA_FILE,
// and refused without it.
func TestRemoteTLS(t *testing.T) {
	s := NewServerWith(Options{Credentials: &Credentials{User: DefaultUser, Token: testToken}})
	hs := httptest.NewTLSServer(s.Handler())
	t.Cleanup(func() { hs.Close(); _ = s.Close() })
	if _, err := s.Add(Config{Name: "payments", Upstream: echoServer(t)}, true); err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	var buf bytes.Buffer
	_ = pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: hs.Certificate().Raw})
	if err := os.WriteFile(ca, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvToken, testToken)
	t.Setenv(EnvTokenFile, "")
	t.Setenv(EnvCAFile, "")
	rc, _ := Remote(hs.URL, "payments")
	if _, err := rc.(RemoteController).Describe(context.Background()); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("without the CA: %v, want a certificate error", err)
	}
	t.Setenv(EnvCAFile, ca)
	rc, err := Remote(hs.URL, "payments")
	if err != nil {
		t.Fatal(err)
	}
	if info, err := rc.(RemoteController).Describe(context.Background()); err != nil || !info.Faultline {
		t.Fatalf("with the CA: %+v %v", info, err)
	}
	t.Setenv(EnvCAFile, filepath.Join(t.TempDir(), "none.pem"))
	if _, err := Remote(hs.URL, "payments"); err == nil || !strings.Contains(err.Error(), EnvCAFile) {
		t.Fatalf("missing CA file: %v", err)
	}
}

// TestDescribeTellsToxiproxyFromChaosProxy: the plan knows what serves an api:
// proxy. Against a real Toxiproxy 2.12, dependencyFailure httpError (http_fault) is
// refused before anything is injected, saying it needs `chaos proxy`; modes
// Toxiproxy has are planned; against our API httpError is planned.
func TestDescribeTellsToxiproxyFromChaosProxy(t *testing.T) {
	echo := echoServer(t)
	zerolog.SetGlobalLevel(zerolog.Disabled)
	tp := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	ths := httptest.NewServer(tp.Routes())
	t.Cleanup(func() { ths.Close(); _ = tp.Collection.Clear() })
	if _, err := toxiclient.NewClient(ths.URL).CreateProxy("payments", "127.0.0.1:0", echo); err != nil {
		t.Fatal(err)
	}
	ours, oursAPI := apiServer(t)
	if _, err := ours.Add(Config{Name: "payments", Upstream: echo}, true); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvToken, "")
	t.Setenv(EnvTokenFile, "")
	plan := func(api string, spec any, key string) error {
		rc, err := Remote(api, "payments")
		if err != nil {
			t.Fatal(err)
		}
		_, err = build(t, key, spec, newEnv(rc)).Plan(context.Background())
		return err
	}
	httpErr := &DependencyFailureSpec{Proxy: "payments", Mode: ModeHTTPError}
	err := plan(ths.URL, httpErr, "dependencyFailure")
	if err == nil || !strings.Contains(err.Error(), "dependencyFailure mode httpError needs the http_fault toxic, which only `chaos proxy` serves") ||
		!strings.Contains(err.Error(), "is Toxiproxy") {
		t.Fatalf("httpError on Toxiproxy: %v", err)
	}
	for _, spec := range []any{&DependencyFailureSpec{Proxy: "payments", Mode: ModeReset}, &DependencyFailureSpec{Proxy: "payments", Mode: ModeDown}} {
		if err := plan(ths.URL, spec, "dependencyFailure"); err != nil {
			t.Fatalf("%+v on Toxiproxy: %v", spec, err)
		}
	}
	if err := plan(ths.URL, &LatencySpec{Proxy: "payments", Delay: time.Millisecond}, "latency"); err != nil {
		t.Fatalf("latency on Toxiproxy: %v", err)
	}
	if err := plan(oursAPI, httpErr, "dependencyFailure"); err != nil {
		t.Fatalf("httpError on chaos proxy: %v", err)
	}
	rc, _ := Remote(oursAPI, "absent")
	if _, err := build(t, "latency", &LatencySpec{Proxy: "payments", Delay: time.Millisecond}, newEnv(rc)).Plan(context.Background()); !errors.Is(err, ErrProxyNotFound) {
		t.Fatalf("a proxy the API does not serve: %v, want ErrProxyNotFound at plan time", err)
	}
	// Nothing was added to either while planning.
	tps, _ := toxiclient.NewClient(ths.URL).Proxies()
	if len(tps["payments"].ActiveToxics) != 0 {
		t.Fatalf("planning touched Toxiproxy: %+v", tps["payments"].ActiveToxics)
	}
}

// BenchmarkAPIAuth measures what the credential check adds to an API request
// (GET /proxies/{name} through the handler, no network).
func BenchmarkAPIAuth(b *testing.B) {
	for _, tc := range []struct {
		name  string
		creds *Credentials
	}{{"open", nil}, {"basic-auth", &Credentials{User: DefaultUser, Token: testToken}}} {
		b.Run(tc.name, func(b *testing.B) {
			s := NewServerWith(Options{Credentials: tc.creds})
			defer s.Close()
			if _, err := s.Add(Config{Name: "p", Upstream: "127.0.0.1:9"}, false); err != nil {
				b.Fatal(err)
			}
			h := s.Handler()
			req := httptest.NewRequest("GET", "/proxies/p", nil)
			req.SetBasicAuth(DefaultUser, testToken)
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != 200 {
					b.Fatal(w.Code)
				}
			}
		})
	}
}
