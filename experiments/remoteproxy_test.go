package experiments

import (
	"context"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	toxiclient "github.com/Shopify/toxiproxy/v2/client"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/faultline-dev/faultline/injectors/proxy"
	"github.com/faultline-dev/faultline/reports"
)

// TestRemoteProxyByAPI runs an experiment whose proxy is served by a running
// `chaos proxy` (its Toxiproxy-compatible API), not owned by the run: the fault goes
// through the API, the probe sees it, and afterwards the proxy is clean and enabled.
func TestRemoteProxyByAPI(t *testing.T) {
	reg, _ := DefaultRegistries()
	upstream, _ := healthServer(t)
	srv := proxy.NewServer()
	p, err := srv.Add(proxy.Config{Name: "payments", Listen: "127.0.0.1:0", Upstream: upstream}, true)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, l) }()
	t.Cleanup(func() { stop(); <-done })

	e := mustDecode(t, reg, fmt.Sprintf(`apiVersion: faultline.dev/v1alpha1
kind: Experiment
metadata: {name: remote-proxy}
spec:
  steadyState:
    baseline: 300ms
    recovery: 3s
    probes:
      - {name: via-proxy, every: 20ms, http: {url: "http://%s/", timeout: 200ms}}
  proxies:
    - {name: payments, api: %q}
  faults:
    - {name: down, dependencyFailure: {proxy: payments, mode: down}, duration: 300ms}
  verify:
    - selfHealing: {probe: via-proxy, recoversWithin: 2s, from: faultEnd}
`, p.Addr(), l.Addr().String()))
	res, err := Run(context.Background(), e, Options{Registries: reg, JournalDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != reports.VerdictPassed {
		t.Fatalf("verdict %s: %s", res.Verdict, res.Reason)
	}
	if s, _ := res.Series("via-proxy"); s.Failed == 0 {
		t.Fatal("the probe never saw the remote proxy go down")
	}
	if !p.Enabled() || len(p.Toxics()) != 0 {
		t.Fatalf("after the run the remote proxy is enabled=%v with toxics %v", p.Enabled(), p.Toxics())
	}
}

// TestAPIProxyCapabilityCheckedAtPlan: an experiment whose api: proxy is served by a
// real Toxiproxy 2.12 and asks for dependencyFailure httpError (Faultline's own
// http_fault toxic) is refused at plan time, before the baseline, saying it needs
// `chaos proxy`; nothing is journaled or injected. The dry run says so too.
func TestAPIProxyCapabilityCheckedAtPlan(t *testing.T) {
	reg, _ := DefaultRegistries()
	upstream, _ := healthServer(t)
	zerolog.SetGlobalLevel(zerolog.Disabled)
	tp := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	ths := httptest.NewServer(tp.Routes())
	t.Cleanup(func() { ths.Close(); _ = tp.Collection.Clear() })
	px, err := toxiclient.NewClient(ths.URL).CreateProxy("payments", "127.0.0.1:0", upstream)
	if err != nil {
		t.Fatal(err)
	}
	e := mustDecode(t, reg, fmt.Sprintf(`apiVersion: faultline.dev/v1alpha1
kind: Experiment
metadata: {name: toxiproxy-httperror}
spec:
  steadyState:
    baseline: 2s
    probes:
      - {name: via-proxy, every: 20ms, http: {url: "http://%s/", timeout: 200ms}}
  proxies:
    - {name: payments, api: %q}
  faults:
    - {name: fivehundreds, dependencyFailure: {proxy: payments, mode: httpError, status: 503}, duration: 300ms}
`, px.Listen, ths.URL))
	for _, dry := range []bool{true, false} {
		journal := t.TempDir()
		start := time.Now()
		res, err := Run(context.Background(), e, Options{Registries: reg, JournalDir: journal, DryRun: dry})
		if err != nil {
			t.Fatal(err)
		}
		if res.Verdict != reports.VerdictErrored || !strings.Contains(res.Reason, "planning failed, nothing was injected") ||
			!strings.Contains(res.Reason, "needs the http_fault toxic, which only `chaos proxy` serves") {
			t.Fatalf("dry run %v: verdict %s: %s", dry, res.Verdict, res.Reason)
		}
		if d := time.Since(start); d > 1500*time.Millisecond {
			t.Fatalf("dry run %v: refused after %v: the 2s baseline ran first", dry, d)
		}
		if s, _ := res.Series("via-proxy"); s.OK+s.Failed+s.Errored != 0 {
			t.Fatalf("dry run %v: the probe sampled %d times: the baseline started", dry, s.OK+s.Failed+s.Errored)
		}
		if files, _ := os.ReadDir(journal); len(files) != 0 {
			t.Fatalf("dry run %v: journaled %d files before refusing", dry, len(files))
		}
	}
	tps, _ := toxiclient.NewClient(ths.URL).Proxies()
	if len(tps["payments"].ActiveToxics) != 0 {
		t.Fatalf("toxics on Toxiproxy: %+v", tps["payments"].ActiveToxics)
	}
}
