package netpartition_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/experiments"
	"github.com/faultline-dev/faultline/injectors"
	"github.com/faultline-dev/faultline/injectors/netfault"
	fixture "github.com/faultline-dev/faultline/internal/testenv/netns"
	"github.com/faultline-dev/faultline/reports"
	"github.com/faultline-dev/faultline/steadystate/selfhealing"
)

const (
	nsName  = "faultline-netpartition"
	webURL  = "http://10.213.7.2:18095/healthz"
	webAddr = "10.213.7.2:18095"
)

// setup builds what experiment.yaml expects: the namespace, its veth pair to the
// host, and an HTTP server listening inside the namespace. Returns a snapshot
// of the namespace (qdiscs, routes, rules, nftables tables).
func setup(t *testing.T) (*fixture.NS, string) {
	t.Helper()
	_, inner := fixture.NewNamed(t, nsName, "fl-np-host", net.IPv4(10, 213, 7, 1), net.IPv4(10, 213, 7, 2))
	l, err := inner.Listen("tcp4", webAddr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(l) }()
	t.Cleanup(func() { srv.Close(); <-done })
	before, err := fixture.Snapshot(inner.Path)
	if err != nil {
		t.Fatal(err)
	}
	return inner, before
}

func probe() error {
	c := &http.Client{Timeout: 300 * time.Millisecond, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(webURL)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errors.New(resp.Status)
	}
	return nil
}

// TestExperiment runs experiment.yaml through the runner: verdict passed, the
// probe failed during the partition, and the namespace is as before.
func TestExperiment(t *testing.T) {
	inner, before := setup(t)
	reg, err := experiments.DefaultRegistries()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := reg.Probes.Assertion("selfHealing"); !ok { // until steadystate/install wires it
		if err := selfhealing.RegisterAssertion(reg.Probes); err != nil {
			t.Fatal(err)
		}
	}
	exp, err := experiments.Load("experiment.yaml", reg)
	if err != nil {
		t.Fatal(err)
	}
	var progress strings.Builder
	res, err := experiments.Run(context.Background(), exp, experiments.Options{Registries: reg, JournalDir: t.TempDir(), Progress: &progress})
	t.Logf("progress:\n%s", progress.String())
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if res.Verdict != reports.VerdictPassed {
		t.Fatalf("verdict %s: %s", res.Verdict, res.Reason)
	}
	if len(res.Injections) != 1 || !strings.Contains(res.Injections[0].Proof, "nftables table inet faultline_") {
		t.Fatalf("injections %+v", res.Injections)
	}
	inj := res.Injections[0]
	// Margins of a probe timeout on both sides of the fault window: a probe
	// in flight at the switch may go either way.
	var during, failedDuring, afterOK int
	for _, o := range res.Probes[0].Observations {
		switch {
		case o.Time.After(inj.InjectedAt.Add(300*time.Millisecond)) && o.Time.Before(inj.RevertedAt.Add(-500*time.Millisecond)):
			during++
			if o.Status != "ok" {
				failedDuring++
			}
		case o.Time.After(inj.RevertedAt) && o.Status == "ok":
			afterOK++
		}
	}
	if during == 0 || failedDuring != during {
		t.Errorf("%d of %d probes during the partition failed; want all", failedDuring, during)
	}
	if afterOK == 0 {
		t.Error("no successful probe after the revert")
	}
	if after, err := fixture.Snapshot(inner.Path); err != nil || after != before {
		t.Fatalf("namespace changed (err %v):\n%s\nvs\n%s", err, before, after)
	}
}

// TestDirect drives the injector without the runner, with the same spec.
func TestDirect(t *testing.T) {
	inner, before := setup(t)
	if err := probe(); err != nil {
		t.Fatalf("not steady before the fault: %v", err)
	}
	// A listener on the host side: the proof connects to it from the namespace.
	hostL, err := net.Listen("tcp4", "10.213.7.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hostL.Close()
	r := injectors.NewRegistry()
	if err := netfault.Register(r); err != nil {
		t.Fatal(err)
	}
	d, _ := r.Lookup("networkPartition")
	f, err := d.New(&netfault.PartitionSpec{Target: netfault.Target{NetNS: nsName}, CIDRs: []string{"10.213.7.1/32"}, Direction: "both",
		VerifyWith: hostL.Addr().String(), VerifyTimeout: 300 * time.Millisecond}, &injectors.Env{RunID: "netpartition-direct"})
	if err != nil {
		t.Fatal(err)
	}
	j := journal{}
	inj, err := f.Inject(context.Background(), &j)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inj.Revert(context.Background()) })
	t.Logf("proof: %s", inj.Proof)
	for i := range 5 {
		if err := probe(); err == nil {
			t.Fatalf("probe %d succeeded during the partition", i)
		}
	}
	if err := inj.Revert(context.Background()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for err := probe(); err != nil; err = probe() {
		if time.Now().After(deadline) {
			t.Fatalf("not recovered 2s after revert: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if after, err := fixture.Snapshot(inner.Path); err != nil || after != before {
		t.Fatalf("namespace changed (err %v)", err)
	}
}

type journal struct{ n int }

func (j *journal) Record(any) error { j.n++; return nil }
