package httpprobe

import (
	"context"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/faultline-dev/faultline/steadystate"
)

var _ io.Closer = (*Probe)(nil)

// server is a real HTTP server on 127.0.0.1:0 with a few behaviours by path.
func server(t testing.TB) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var conns atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Circuit-State", "Half-Open")
		io.WriteString(w, `{"state": "ready", "msg": "ok"}`)
	})
	mux.HandleFunc("/down", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "payments unavailable", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("/missing", http.NotFound)
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || string(b) != "ping" || r.Header.Get("X-Probe") != "faultline" || r.Host != "shop.local" {
			http.Error(w, "bad request: "+r.Method+" "+string(b)+" "+r.Host, http.StatusBadRequest)
			return
		}
		io.WriteString(w, "pong")
	})
	mux.HandleFunc("/hangup", func(w http.ResponseWriter, r *http.Request) {
		c, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			c.Close()
		}
	})
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	return srv, &conns
}

func startHTTP(t testing.TB) (*httptest.Server, *atomic.Int64) {
	srv, conns := server(t)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, conns
}

func probeOnce(t *testing.T, s Spec) steadystate.Observation {
	t.Helper()
	if errs := s.Validate(field.NewPath("http")); len(errs) > 0 {
		t.Fatalf("spec invalid: %v", errs.ToAggregate())
	}
	p, err := New(&s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	o := p.Probe(context.Background())
	if o.Time.IsZero() {
		t.Fatal("observation without time")
	}
	return o
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestProbe(t *testing.T) {
	srv, _ := startHTTP(t)
	tests := []struct {
		name   string
		spec   Spec
		status steadystate.Status
		detail string // prefix
	}{
		{"2xx by default", Spec{URL: srv.URL + "/ok"}, steadystate.StatusOK, "200"},
		{"503 fails", Spec{URL: srv.URL + "/down"}, steadystate.StatusFailed, "503"},
		{"expected 404", Spec{URL: srv.URL + "/missing", ExpectStatus: []int{404}}, steadystate.StatusOK, "404"},
		{"unexpected 200", Spec{URL: srv.URL + "/ok", ExpectStatus: []int{201, 204}}, steadystate.StatusFailed, "200"},
		{"body contains", Spec{URL: srv.URL + "/ok", BodyContains: "ok"}, steadystate.StatusOK, "200"},
		{"body lacks", Spec{URL: srv.URL + "/ok", BodyContains: "healthy"}, steadystate.StatusFailed, `200, body lacks "healthy"`},
		{"body regex", Spec{URL: srv.URL + "/ok", BodyRegex: `"state":\s*"ready"`}, steadystate.StatusOK, "200"},
		{"body regex mismatch", Spec{URL: srv.URL + "/ok", BodyRegex: `^down$`}, steadystate.StatusFailed, "200, body does not match /^down$/"},
		{"method body headers host", Spec{URL: srv.URL + "/echo", Method: "post", Body: "ping",
			Headers: map[string]string{"X-Probe": "faultline", "Host": "shop.local"}, BodyContains: "pong"}, steadystate.StatusOK, "200"},
		{"server hangs up", Spec{URL: srv.URL + "/hangup"}, steadystate.StatusFailed, "connection closed by the server"},
		{"refused", Spec{URL: "http://" + closedPort(t) + "/"}, steadystate.StatusFailed, "connection refused"},
		{"dns nxdomain is errored", Spec{URL: "http://faultline-probe.invalid/"}, steadystate.StatusErrored, "dns: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := probeOnce(t, tt.spec)
			if o.Status != tt.status || !strings.HasPrefix(o.Detail, tt.detail) {
				t.Errorf("got %s %q, want %s %q...", o.Status, o.Detail, tt.status, tt.detail)
			}
			if o.Latency <= 0 {
				t.Errorf("latency %v", o.Latency)
			}
		})
	}
}

// TestUnbuildableRequestIsErrored: a request that cannot even be built (a header
// value with CR/LF, in a spec built in Go without Validate) says nothing of the
// system: every observation is errored, and nothing reaches the server.
func TestUnbuildableRequestIsErrored(t *testing.T) {
	srv, conns := startHTTP(t)
	for _, h := range []map[string]string{{"X-A": "1\r\nX-B: 2"}, {"Host": "a\nb"}} {
		p, err := New(&Spec{URL: srv.URL + "/ok", Headers: h})
		if err != nil {
			t.Fatal(err)
		}
		o := p.Probe(context.Background())
		if o.Status != steadystate.StatusErrored || !strings.Contains(o.Detail, "must not contain CR or LF") {
			t.Errorf("headers %q: got %s %q, want errored", h, o.Status, o.Detail)
		}
	}
	if n := conns.Load(); n != 0 {
		t.Errorf("%d connections reached the server", n)
	}
}

func TestProbeValues(t *testing.T) {
	srv, _ := startHTTP(t)
	o := probeOnce(t, Spec{URL: srv.URL + "/ok"})
	if o.Values["status"] != "200" || o.Values["breaker"] != "half-open" {
		t.Errorf("values = %v, want status 200 and breaker half-open", o.Values)
	}
	o = probeOnce(t, Spec{URL: srv.URL + "/down"})
	if _, ok := o.Values["breaker"]; ok || o.Values["status"] != "503" {
		t.Errorf("values = %v", o.Values)
	}
}

func TestProbeTimeout(t *testing.T) {
	srv, _ := startHTTP(t)
	o := probeOnce(t, Spec{URL: srv.URL + "/slow", Timeout: 150 * time.Millisecond})
	if o.Status != steadystate.StatusFailed || o.Detail != "timeout after 150ms" {
		t.Errorf("got %s %q, want failed \"timeout after 150ms\"", o.Status, o.Detail)
	}
	if o.Latency < 150*time.Millisecond || o.Latency > time.Second {
		t.Errorf("latency %v, want about 150ms", o.Latency)
	}
}

func TestProbeCancelledIsErrored(t *testing.T) {
	srv, _ := startHTTP(t)
	p, err := New(&Spec{URL: srv.URL + "/slow", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	o := p.Probe(ctx)
	if o.Status != steadystate.StatusErrored || !strings.HasPrefix(o.Detail, "cancelled") {
		t.Errorf("got %s %q, want errored cancelled", o.Status, o.Detail)
	}
	if o.Latency > 2*time.Second {
		t.Errorf("probe did not honour ctx: %v", o.Latency)
	}
}

func TestProbeKeepAlive(t *testing.T) {
	srv, conns := startHTTP(t)
	p, err := New(&Spec{URL: srv.URL + "/ok"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for i := range 10 {
		if o := p.Probe(context.Background()); o.Status != steadystate.StatusOK {
			t.Fatalf("probe %d: %s %q", i, o.Status, o.Detail)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("10 sequential probes opened %d connections, want 1 (keep-alive)", n)
	}
}

func TestProbeTLS(t *testing.T) {
	srv, _ := server(t)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(ca, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	notPEM := filepath.Join(dir, "bad.pem")
	if err := os.WriteFile(notPEM, []byte("nope"), 0o600); err != nil {
		t.Fatal(err)
	}
	url := srv.URL + "/ok"
	tests := []struct {
		name   string
		tls    *TLS
		status steadystate.Status
		detail string
	}{
		{"caFile", &TLS{CAFile: ca}, steadystate.StatusOK, "200"},
		{"caFile and serverName", &TLS{CAFile: ca, ServerName: "example.com"}, steadystate.StatusOK, "200"},
		{"wrong serverName", &TLS{CAFile: ca, ServerName: "wrong.test"}, steadystate.StatusFailed, "tls: failed to verify certificate"},
		{"unknown authority", nil, steadystate.StatusFailed, "tls: failed to verify certificate"},
		{"insecureSkipVerify", &TLS{InsecureSkipVerify: true}, steadystate.StatusOK, "200"},
		{"caFile missing is errored", &TLS{CAFile: filepath.Join(dir, "nope.pem")}, steadystate.StatusErrored, "reading tls.caFile"},
		{"caFile not PEM is errored", &TLS{CAFile: notPEM}, steadystate.StatusErrored, "tls.caFile"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := probeOnce(t, Spec{URL: url, TLS: tt.tls, Timeout: 5 * time.Second})
			if o.Status != tt.status || !strings.HasPrefix(o.Detail, tt.detail) {
				t.Errorf("got %s %q, want %s %q...", o.Status, o.Detail, tt.status, tt.detail)
			}
		})
	}
	t.Run("plain http to a TLS port fails", func(t *testing.T) {
		o := probeOnce(t, Spec{URL: strings.Replace(url, "https://", "http://", 1)})
		if o.Status != steadystate.StatusFailed || o.Detail != "400" {
			t.Errorf("got %s %q, want failed 400 (Go's TLS server answers plain HTTP with 400)", o.Status, o.Detail)
		}
	})
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		spec Spec
		errs []string // "field: substring"
	}{
		{"ok", Spec{URL: "https://a.example/x", Method: "PATCH", ExpectStatus: []int{200, 503}, BodyRegex: `^ok$`,
			Headers: map[string]string{"X-A": "1"}, Timeout: time.Second, TLS: &TLS{CAFile: "ca.pem"}}, nil},
		{"missing url", Spec{}, []string{"http.url: Required value"}},
		{"bad scheme", Spec{URL: "ftp://a/"}, []string{"http.url: Invalid value", "scheme must be http or https"}},
		{"no host", Spec{URL: "http:///x"}, []string{"must have a host"}},
		{"unparseable", Spec{URL: "http://a b/"}, []string{"must be a valid url"}},
		{"bad method", Spec{URL: "http://a/", Method: "GE T"}, []string{"http.method"}},
		{"bad header", Spec{URL: "http://a/", Headers: map[string]string{"X Bad": "1"}}, []string{"http.headers[X Bad]"}},
		{"header value with CR LF", Spec{URL: "http://a/", Headers: map[string]string{"X-A": "1\r\nX-Injected: 2"}}, []string{"http.headers[X-A]", "must not contain CR or LF"}},
		{"header value with LF", Spec{URL: "http://a/", Headers: map[string]string{"Host": "a\nb"}}, []string{"http.headers[Host]", "must not contain CR or LF"}},
		{"header value with NUL", Spec{URL: "http://a/", Headers: map[string]string{"X-A": "a\x00b"}}, []string{"must not contain control characters"}},
		{"bad status", Spec{URL: "http://a/", ExpectStatus: []int{200, 99}}, []string{"http.expectStatus[1]", "between 100 and 599"}},
		{"bad regex", Spec{URL: "http://a/", BodyRegex: "(("}, []string{"http.bodyRegex", "valid regular expression"}},
		{"negative timeout", Spec{URL: "http://a/", Timeout: -time.Second}, []string{"http.timeout", "must be > 0"}},
		{"tls on http", Spec{URL: "http://a/", TLS: &TLS{InsecureSkipVerify: true}}, []string{"http.tls: Forbidden", "only to https"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := tt.spec.Validate(field.NewPath("http"))
			if len(tt.errs) == 0 {
				if len(errs) > 0 {
					t.Fatalf("unexpected errors: %v", errs.ToAggregate())
				}
				return
			}
			if len(errs) == 0 {
				t.Fatalf("no error, want %v", tt.errs)
			}
			msg := errs.ToAggregate().Error()
			for _, want := range tt.errs {
				if !strings.Contains(msg, want) {
					t.Errorf("errors %q lack %q", msg, want)
				}
			}
		})
	}
}

func TestRegister(t *testing.T) {
	srv, _ := startHTTP(t)
	r := steadystate.NewRegistry()
	if err := Register(r); err != nil {
		t.Fatal(err)
	}
	if err := Register(r); err == nil {
		t.Error("registering twice must fail")
	}
	d, ok := r.Probe(Key)
	if !ok {
		t.Fatal("http not registered")
	}
	spec := d.NewSpec().(*Spec)
	spec.URL = srv.URL + "/ok"
	if _, isValidator := any(spec).(steadystate.Validator); !isValidator {
		t.Error("spec must implement steadystate.Validator")
	}
	p, err := d.New(spec, &steadystate.Env{})
	if err != nil {
		t.Fatal(err)
	}
	if o := p.Probe(context.Background()); o.Status != steadystate.StatusOK {
		t.Errorf("got %s %q", o.Status, o.Detail)
	}
	if _, err := d.New(struct{}{}, nil); err == nil {
		t.Error("wrong spec type must fail")
	}
}

// BenchmarkProbeLoopback measures one probe round trip (keep-alive) on loopback.
func BenchmarkProbeLoopback(b *testing.B) {
	srv, _ := startHTTP(b)
	p, err := New(&Spec{URL: srv.URL + "/ok", BodyContains: "ok"})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if o := p.Probe(ctx); o.Status != steadystate.StatusOK {
			b.Fatalf("%s %q", o.Status, o.Detail)
		}
	}
}

func TestProbeConcurrent(t *testing.T) {
	srv, conns := startHTTP(t)
	p, err := New(&Spec{URL: srv.URL + "/ok", BodyRegex: "ready"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var bad atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 25 {
				if o := p.Probe(context.Background()); o.Status != steadystate.StatusOK {
					bad.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if bad.Load() != 0 {
		t.Errorf("%d of 200 concurrent probes were not ok", bad.Load())
	}
	// At most 4 idle connections are kept, so some are reopened, but most requests
	// must reuse one.
	if n := conns.Load(); n > 100 {
		t.Errorf("200 requests from 8 callers opened %d connections: no reuse", n)
	}
}
