package proxy

import (
	"context"
	"io"
	"net/http"
	"net/http/httptrace"
	"strings"
	"testing"
	"time"
)

type httpResult struct {
	status int
	body   string
	reused bool
	took   time.Duration
	err    error
}

func doHTTP(c *http.Client, method, url, body string, hdr map[string]string, chunked bool) httpResult {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
		if chunked {
			r = io.MultiReader(strings.NewReader(body)) // hides the length: chunked encoding
		}
	}
	var res httpResult
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) { res.reused = i.Reused },
	})
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		return httpResult{err: err}
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		res.err = err
		return res
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	res.status, res.body, res.took, res.err = resp.StatusCode, string(b), time.Since(start), err
	return res
}

func TestHTTPFaultOnlyMatchingRequests(t *testing.T) {
	up := httpUpstream(t)
	p := startProxy(t, strings.TrimPrefix(up.URL, "http://"))
	base := "http://" + p.Addr()
	c := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	defer c.CloseIdleConnections()

	// A live keep-alive connection exists before the toxic is added.
	if r := doHTTP(c, "GET", base+"/pay/x", "", nil, false); r.err != nil || r.status != 200 {
		t.Fatalf("baseline: %+v", r)
	}
	if err := p.AddToxic(Toxic{Name: "pay503", Type: "http_fault", Toxicity: 1, Attributes: map[string]any{
		"path_prefix": "/pay", "method": "POST", "action": "status", "status": 503, "body": "payments down"}}); err != nil {
		t.Fatal(err)
	}
	for i, tc := range []struct {
		method, path, body string
		chunked            bool
		status             int
		want               string
	}{
		{"POST", "/pay/charge", "amount=1", false, 503, "payments down"},
		{"GET", "/other", "", false, 200, "ok /other"},
		{"POST", "/pay/charge", strings.Repeat("z", 100_000), true, 503, "payments down"},
		{"GET", "/pay/status", "", false, 200, "ok /pay/status"}, // method does not match
		{"POST", "/other", "hello", false, 200, "ok /other"},
		{"HEAD", "/pay", "", false, 200, ""},
	} {
		r := doHTTP(c, tc.method, base+tc.path, tc.body, nil, tc.chunked)
		if r.err != nil || r.status != tc.status || r.body != tc.want {
			t.Fatalf("request %d %s %s: %+v, want %d %q", i, tc.method, tc.path, r, tc.status, tc.want)
		}
		if !r.reused {
			t.Errorf("request %d: the keep-alive connection was not reused: the fault broke the stream", i)
		}
	}
	if err := p.RemoveToxic("pay503"); err != nil {
		t.Fatal(err)
	}
	if r := doHTTP(c, "POST", base+"/pay/charge", "a", nil, false); r.err != nil || r.status != 200 || !r.reused {
		t.Fatalf("after removal: %+v", r)
	}
}

func TestHTTPFaultHeaderShareDelayAbort(t *testing.T) {
	up := httpUpstream(t)
	p := startProxy(t, strings.TrimPrefix(up.URL, "http://"))
	base := "http://" + p.Addr()
	c := &http.Client{Timeout: 3 * time.Second}
	defer c.CloseIdleConnections()

	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(p.AddToxic(Toxic{Name: "hdr", Type: "http_fault", Toxicity: 1, Attributes: map[string]any{
		"header": "X-Tenant: beta", "status": 429}}))
	if r := doHTTP(c, "GET", base+"/", "", map[string]string{"X-Tenant": "beta"}, false); r.status != 429 {
		t.Fatalf("header match: %+v", r)
	}
	if r := doHTTP(c, "GET", base+"/", "", map[string]string{"X-Tenant": "alpha"}, false); r.status != 200 {
		t.Fatalf("header mismatch: %+v", r)
	}
	must(p.RemoveToxic("hdr"))

	must(p.AddToxic(Toxic{Name: "half", Type: "http_fault", Toxicity: 1, Attributes: map[string]any{"share": 0.5, "status": 500}}))
	failed := 0
	const n = 200
	for range n {
		r := doHTTP(c, "GET", base+"/s", "", nil, false)
		if r.err != nil {
			t.Fatal(r.err)
		}
		if r.status == 500 {
			failed++
		}
	}
	if failed < n/2-35 || failed > n/2+35 {
		t.Fatalf("share 0.5: %d of %d requests failed, want about %d", failed, n, n/2)
	}
	must(p.RemoveToxic("half"))

	must(p.AddToxic(Toxic{Name: "slow", Type: "http_fault", Toxicity: 1, Attributes: map[string]any{
		"path_prefix": "/slow", "action": "delay", "delay_ms": 1000}}))
	if r := doHTTP(c, "GET", base+"/slow", "", nil, false); r.status != 200 || r.took < time.Second || r.took > 3*time.Second {
		t.Fatalf("delay 1s: %+v", r)
	}
	if r := doHTTP(c, "GET", base+"/fast", "", nil, false); r.status != 200 || r.took > 500*time.Millisecond {
		t.Fatalf("unmatched request must not be delayed: %+v", r)
	}
	must(p.RemoveToxic("slow"))

	must(p.AddToxic(Toxic{Name: "abort", Type: "http_fault", Toxicity: 1, Attributes: map[string]any{
		"path_prefix": "/boom", "action": "abort"}}))
	if r := doHTTP(c, "GET", base+"/boom", "", nil, false); r.err == nil {
		t.Fatalf("abort: got %+v, want a transport error", r)
	}
	if r := doHTTP(c, "GET", base+"/fine", "", nil, false); r.status != 200 {
		t.Fatalf("after abort, other requests work: %+v", r)
	}
}

func TestHTTPFaultNonHTTPPassesThrough(t *testing.T) {
	p := startProxy(t, echoServer(t))
	if err := p.AddToxic(Toxic{Type: "http_fault", Toxicity: 1}); err != nil {
		t.Fatal(err)
	}
	c := dial(t, p.Addr())
	if _, err := roundTrip(t, c, []byte("\x00\x01binary protocol, not http"), time.Second); err != nil {
		t.Fatalf("non-HTTP bytes must pass: %v", err)
	}
}

// TestAddRemoveSeenByNextRequest checks the documented promise on a live keep-alive
// connection: a request sent after AddToxic / RemoveToxic returned sees the change.
func TestAddRemoveSeenByNextRequest(t *testing.T) {
	up := httpUpstream(t)
	p := startProxy(t, strings.TrimPrefix(up.URL, "http://"))
	base := "http://" + p.Addr()
	c := &http.Client{Timeout: 3 * time.Second}
	defer c.CloseIdleConnections()
	for i := range 300 {
		if err := p.AddToxic(Toxic{Name: "x", Type: "http_fault", Toxicity: 1}); err != nil {
			t.Fatal(err)
		}
		if r := doHTTP(c, "GET", base+"/x", "", nil, false); r.status != 503 {
			t.Fatalf("iteration %d, after AddToxic: %+v, want 503", i, r)
		}
		if err := p.RemoveToxic("x"); err != nil {
			t.Fatal(err)
		}
		if r := doHTTP(c, "GET", base+"/x", "", nil, false); r.status != 200 || !r.reused {
			t.Fatalf("iteration %d, after RemoveToxic: %+v, want 200 on the same connection", i, r)
		}
	}
}
