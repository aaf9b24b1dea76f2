package experiments

import (
	"context"
	"fmt"
	"net"
	"testing"

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
