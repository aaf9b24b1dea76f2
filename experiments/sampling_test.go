package experiments

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/steadystate"
	"github.com/faultline-dev/faultline/steadystate/httpprobe"
)

// slowService answers every request after delay and counts requests in flight.
func slowService(t *testing.T, delay time.Duration) (string, *atomic.Int32) {
	t.Helper()
	var peak, now atomic.Int32
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := now.Add(1)
		defer now.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
		}
	}))
	return addr, &peak
}

// sampleFor runs the sampler of one http probe against url for d.
func sampleFor(t *testing.T, url string, every time.Duration, maxInFlight int, d time.Duration) (*probeRun, []steadystate.Observation) {
	t.Helper()
	hp, err := httpprobe.New(&httpprobe.Spec{URL: url, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	p := &probeRun{spec: &Probe{Name: "slow", Every: every, MaxInFlight: maxInFlight}, probe: hp}
	r := &run{samples: newSampleStore(), prog: newProgress(nil, false, "t")}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	r.sample(ctx, p)
	return p, r.samples.all("slow")
}

// TestProbesAreOpenLoop: with every 100ms and 1.5s answers, a closed-loop probe
// takes one sample per answer (2 in 3s); an open-loop one starts each on its
// schedule (~30 in 3s, ~15 in flight at once), and measures latency from the
// scheduled start.
func TestProbesAreOpenLoop(t *testing.T) {
	addr, peak := slowService(t, 1500*time.Millisecond)
	p, obs := sampleFor(t, "http://"+addr+"/", 100*time.Millisecond, 0, 3*time.Second)
	t.Logf("scheduled %d, completed %d, skipped %d, peak in flight %d", p.scheduled, p.completed, p.skipped, peak.Load())
	// Starts at 0, 100ms, ..., 2.9s (or 3.0s): those started by 1.5s have answered.
	if p.scheduled < 28 || p.scheduled > 32 {
		t.Errorf("scheduled %d starts in 3s every 100ms, want ~30", p.scheduled)
	}
	if p.completed < 13 || p.completed != len(obs) || p.skipped != 0 {
		t.Errorf("completed %d (observations %d), skipped %d; want >= 13 answered by the end, none skipped", p.completed, len(obs), p.skipped)
	}
	if peak.Load() < 12 {
		t.Errorf("at most %d requests were in flight at once, want ~15 (open-loop)", peak.Load())
	}
	for i, o := range obs {
		if o.Latency < 1500*time.Millisecond || o.Status != steadystate.StatusOK {
			t.Errorf("observation %d: %s in %v, want ok in >= 1.5s", i, o.Status, o.Latency)
		}
		if i > 0 {
			if gap := o.Time.Sub(obs[i-1].Time); gap < 90*time.Millisecond || gap > 110*time.Millisecond {
				t.Errorf("observation %d is %v after the previous one, want its schedule (100ms)", i, gap)
			}
		}
	}
}

// TestProbeSkipsAreCounted: with maxInFlight 3, starts due while 3 are in flight
// are skipped and counted, never silently dropped.
func TestProbeSkipsAreCounted(t *testing.T) {
	addr, peak := slowService(t, 1000*time.Millisecond)
	p, obs := sampleFor(t, "http://"+addr+"/", 100*time.Millisecond, 3, 2500*time.Millisecond)
	t.Logf("scheduled %d, completed %d, skipped %d, peak in flight %d", p.scheduled, p.completed, p.skipped, peak.Load())
	if peak.Load() > 3 {
		t.Errorf("%d requests in flight at once, above maxInFlight 3", peak.Load())
	}
	if p.skipped < 15 || p.completed < 3 || p.completed != len(obs) {
		t.Errorf("skipped %d, completed %d (observations %d): want most of ~25 starts skipped, >= 3 completed", p.skipped, p.completed, len(obs))
	}
	if unfinished := p.scheduled - p.completed - p.skipped; unfinished < 0 || unfinished > 3 {
		t.Errorf("scheduled %d - completed %d - skipped %d = %d in flight at the stop, want 0..3", p.scheduled, p.completed, p.skipped, unfinished)
	}
}

// TestFaultLastsItsDuration: a proxy latency fault whose proof (a delayed round
// trip) takes 400ms is active for its duration from the moment its toxic took
// effect, not for the proof time on top.
func TestFaultLastsItsDuration(t *testing.T) {
	reg, err := DefaultRegistries()
	if err != nil {
		t.Fatal(err)
	}
	proxyAddr := freeAddr(t)
	e := mustDecode(t, reg, `apiVersion: faultline.dev/v1alpha1
kind: Experiment
metadata: {name: fault-window}
spec:
  steadyState:
    baseline: 300ms
    recovery: 1s
    probes:
      - {name: dep, every: 100ms, http: {url: "http://`+proxyAddr+`/", timeout: 2s}}
  proxies:
    - {name: dep, listen: "`+proxyAddr+`", upstream: "`+dependency(t)+`"}
  faults:
    - {name: slow, latency: {proxy: dep, delay: 400ms}, duration: 1s}
`)
	res, err := Run(context.Background(), e, Options{Registries: reg, JournalDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Injections) != 1 {
		t.Fatalf("injections: %+v (verdict %s: %s)", res.Injections, res.Verdict, res.Reason)
	}
	in := res.Injections[0]
	window := in.RevertedAt.Sub(in.InjectedAt)
	t.Logf("window %v, active after %v, inject+proof %v, revert %v", window, in.ActiveAfter, in.InjectDuration, in.RevertDuration)
	if in.InjectDuration < 400*time.Millisecond {
		t.Errorf("inject+proof took %v, want >= 400ms (the proof is a delayed round trip)", in.InjectDuration)
	}
	if window < time.Second || window > time.Second+30*time.Millisecond {
		t.Errorf("the fault was active %v (injectedAt -> revertedAt), want its duration 1s (+ the revert, a few ms)", window)
	}
}
