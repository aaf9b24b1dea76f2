package experiments

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/reports"
)

// BenchmarkAbortLatency: how long after the observation that decides an abort the
// faults are reverted. Each iteration is a real run: a processPause fault on a
// `sleep` process, an HTTP probe every 20 ms against a server that turns unhealthy
// once the process is paused, and the abort rule {successRatioBelow: 0.5, over:
// 100ms}. The deciding moment is found by replaying the rule over the report's
// observations, each known when its answer came (time + latency), and as time passes
// (the window fills, observations leave it); the figure is from then to the start
// of the revert (revertedAt − revertDuration), reported next
// to the revert itself and to the probe interval (the anchor: one tick late would
// be ~20 ms here, 100 ms with the former 100 ms abort ticker).
//
//	go test -run '^$' -bench AbortLatency -benchtime 10x ./experiments/
func BenchmarkAbortLatency(b *testing.B) {
	reg, err := DefaultRegistries()
	if err != nil {
		b.Fatal(err)
	}
	addr, healthy := healthServer(b)
	tag := fmt.Sprint(os.Getpid() + 3)
	sleeper := startSleep(b, tag)
	doc := fmt.Sprintf(`apiVersion: faultline.dev/v1alpha1
kind: Experiment
metadata: {name: abort-latency}
spec:
  steadyState:
    baseline: 200ms
    recovery: 5s
    probes:
      - name: health
        http: {url: "http://%s/", timeout: 200ms}
        every: 20ms
  faults:
    - name: pause-sleeper
      processPause: {match: "^sleep 301\\.%s$"}
      duration: 1m
  abort:
    - {probe: health, successRatioBelow: 0.5, over: 100ms}
`, addr, tag)
	e, err := Decode([]byte(doc), "bench.yaml", reg)
	if err != nil {
		b.Fatal(err)
	}
	const over, every = 100 * time.Millisecond, 20 * time.Millisecond
	var lags, reverts []time.Duration
	for range b.N {
		healthy.Store(true)
		done := make(chan struct{})
		go func() { // the system breaks while the fault is on, and heals after it
			defer close(done)
			for stateOf(b, sleeper) != 'T' {
				time.Sleep(time.Millisecond)
			}
			healthy.Store(false)
			for stateOf(b, sleeper) == 'T' {
				time.Sleep(time.Millisecond)
			}
			healthy.Store(true)
		}()
		res, err := Run(context.Background(), e, Options{Registries: reg, JournalDir: b.TempDir()})
		<-done
		if err != nil {
			b.Fatal(err)
		}
		if res.Verdict != reports.VerdictAborted || len(res.Injections) != 1 {
			b.Fatalf("verdict %s (%s), %d injections", res.Verdict, res.Reason, len(res.Injections))
		}
		decided, ok := decidingTime(res, over)
		if !ok {
			b.Fatalf("no observation decides the abort: %s", res.Reason)
		}
		in := res.Injections[0]
		lags = append(lags, in.RevertedAt.Add(-in.RevertDuration).Sub(decided))
		reverts = append(reverts, in.RevertDuration)
	}
	slices.Sort(lags)
	slices.Sort(reverts)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(lags[len(lags)/2]), "decided-to-revert-p50-ms")
	b.ReportMetric(ms(lags[len(lags)-1]), "decided-to-revert-max-ms")
	b.ReportMetric(ms(reverts[len(reverts)/2]), "revert-p50-ms")
	b.ReportMetric(float64(lags[len(lags)-1])/float64(every), "max-of-probe-interval")
}

// decidingTime replays the abort rule (successRatioBelow 0.5 over `over`, at least
// 3 judged observations, once `over` of the fault phase has passed) at each moment
// an observation became known, and returns the first moment it fires.
func decidingTime(res *reports.Result, over time.Duration) (time.Time, bool) {
	var start time.Time
	for _, p := range res.Phases {
		if p.Name == "faults" {
			start = p.Start
		}
	}
	if start.IsZero() || len(res.Probes) == 0 {
		return time.Time{}, false
	}
	obs := res.Probes[0].Observations
	known := func(o reports.Observation) time.Time { return o.Time.Add(o.Latency) }
	// An answer changes when an observation becomes known, when `over` of the fault
	// phase has passed, and when an observation leaves the window.
	moments := []time.Time{start.Add(over)}
	for _, o := range obs {
		moments = append(moments, known(o), o.Time.Add(over).Add(time.Nanosecond))
	}
	slices.SortFunc(moments, func(a, b time.Time) int { return a.Compare(b) })
	for _, now := range moments {
		if now.Sub(start) < over {
			continue
		}
		ok, judged := 0, 0
		for _, o := range obs {
			if o.Time.Before(now.Add(-over)) || known(o).After(now) {
				continue
			}
			switch o.Status {
			case "ok":
				ok, judged = ok+1, judged+1
			case "failed":
				judged++
			}
		}
		if judged >= 3 && float64(ok)/float64(judged) < 0.5 {
			return now, true
		}
	}
	return time.Time{}, false
}
