package experiments

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/faultline-dev/faultline/steadystate"
)

// TestStoreGivesBackWhatWasAdded: observations added out of order, across chunk
// boundaries, with details, unknown statuses and value maps, come back in Time
// order exactly as they were (times equal to the instant, with their monotonic
// reading), whole, by window and as a report series.
func TestStoreGivesBackWhatWasAdded(t *testing.T) {
	s := newSampleStore()
	t0 := time.Now().Add(-time.Hour) // before the store's base: negative offsets
	const n = 3*chunkSize + 17
	rng := rand.New(rand.NewPCG(1, 2))
	var want []steadystate.Observation
	statuses := []steadystate.Status{steadystate.StatusOK, steadystate.StatusFailed, steadystate.StatusErrored, "weird"}
	for i := range n {
		o := steadystate.Observation{Time: t0.Add(time.Duration(i) * time.Millisecond), Latency: time.Duration(rng.IntN(1e9)),
			Status: statuses[rng.IntN(len(statuses))], Detail: fmt.Sprintf("detail %d", rng.IntN(50))}
		if i%7 == 0 {
			o.Values = map[string]string{"breaker": []string{"open", "closed"}[i%2], "n": fmt.Sprint(i % 3)}
		}
		if i%11 == 0 {
			o.Detail = ""
		}
		want = append(want, o)
	}
	// Open-loop answers finish out of order: swap neighbours (some across chunks).
	added := make([]int, n)
	for i := range added {
		added[i] = i
	}
	for i := 0; i+5 <= n; i += 5 {
		added[i], added[i+4] = added[i+4], added[i]
	}
	for _, i := range added {
		s.add("p", want[i])
	}
	same := func(what string, got, want []steadystate.Observation) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %d observations, want %d", what, len(got), len(want))
		}
		for i := range want {
			g, w := got[i], want[i]
			if !g.Time.Equal(w.Time) || g.Time.Sub(w.Time) != 0 || g.Status != w.Status || g.Latency != w.Latency ||
				g.Detail != w.Detail || !reflect.DeepEqual(g.Values, w.Values) {
				t.Fatalf("%s: observation %d is %+v, want %+v", what, i, g, w)
			}
		}
	}
	same("all", s.all("p"), want)
	same("since", s.since("p", want[5000].Time), want[5000:])
	w := steadystate.Window{Start: want[100].Time.Add(-time.Microsecond), End: want[chunkSize+3].Time}
	same("window", s.window("p", w), want[100:chunkSize+3])
	if got := s.since("p", want[n-1].Time.Add(time.Nanosecond)); len(got) != 0 {
		t.Errorf("since after the last: %d observations", len(got))
	}
	if got := s.all("nope"); got != nil {
		t.Errorf("unknown probe: %v", got)
	}
	rep := s.take("p")
	if len(rep) != n || rep[42].Detail != want[42].Detail || rep[42].Status != string(want[42].Status) || !rep[42].Time.Equal(want[42].Time) {
		t.Fatalf("take: %d, [42] = %+v, want %+v", len(rep), rep[42], want[42])
	}
	if got := s.all("p"); got != nil {
		t.Errorf("after take the store still has %d observations", len(got))
	}
	if sz := unsafe.Sizeof(packedObs{}); sz != 24 {
		t.Errorf("a packed observation is %d bytes, want 24", sz)
	}
}

// longRun is a run of the given probes (every 100ms, slo successRatio 0.95) whose
// baseline lasted n observations, each probe's every 50th one failed; its store is
// filled as the samplers fill it.
func longRun(t *testing.T, n int, verify string, probes ...string) *run {
	t.Helper()
	reg, err := DefaultRegistries()
	if err != nil {
		t.Fatal(err)
	}
	doc := "apiVersion: faultline.dev/v1alpha1\nkind: Experiment\nmetadata: {name: long}\nspec:\n  steadyState:\n    baseline: 1h\n    probes:\n"
	for _, p := range probes {
		doc += fmt.Sprintf("      - {name: %s, every: 100ms, http: {url: \"http://127.0.0.1:1/\"}, slo: {successRatio: 0.95}}\n", p)
	}
	doc += "  faults:\n    - {name: pause, processPause: {match: \"^no-such-process-long$\"}, duration: 1m}\n  safety: {maxDuration: 2h}\n" + verify
	e, err := Decode([]byte(doc), "long.yaml", reg)
	if err != nil {
		t.Fatal(err)
	}
	r, err := newRun(e, Options{Registries: reg})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().Add(-time.Hour)
	r.res.Started = t0
	r.phases = []steadystate.Window{{Name: "baseline", Start: t0, End: t0.Add(time.Duration(n) * 100 * time.Millisecond)}}
	for i := range n {
		for _, p := range r.probes {
			o := steadystate.Observation{Time: t0.Add(time.Duration(i) * 100 * time.Millisecond), Status: steadystate.StatusOK,
				Latency: time.Duration(1+i%997) * time.Millisecond, Detail: "200"}
			if i%50 == 7 {
				o.Status, o.Detail = steadystate.StatusFailed, "503"
			}
			p.scheduled++
			p.completed++
			r.samples.add(p.spec.Name, o)
		}
	}
	return r
}

// TestFinishReducesLongSeriesAfterJudgingThemWhole: the checks of a long run are
// made from every observation; its Result then holds each long series reduced, as
// report.json does (exact counts and latency figures, every failed observation),
// and the store has given its series up.
func TestFinishReducesLongSeriesAfterJudgingThemWhole(t *testing.T) {
	const n = 5000
	r := longRun(t, n, "", "a", "b")
	res := r.finish("", "")
	if len(res.Probes) != 2 {
		t.Fatalf("%d probes", len(res.Probes))
	}
	for _, p := range res.Probes {
		if p.Reduced == nil || p.Reduced.Observations != n || len(p.Observations) >= n/2 {
			t.Fatalf("probe %s: %d observations kept, reduced %+v", p.Name, len(p.Observations), p.Reduced)
		}
		if p.OK != n-n/50 || p.Failed != n/50 || p.Scheduled != n {
			t.Errorf("probe %s: %d ok, %d failed, %d scheduled", p.Name, p.OK, p.Failed, p.Scheduled)
		}
		failed := 0
		for _, o := range p.Observations {
			if o.Status == "failed" {
				failed++
			}
		}
		if failed != n/50 {
			t.Errorf("probe %s: %d failed observations kept of %d", p.Name, failed, n/50)
		}
		// Latencies 1..997 ms evenly: the exact p50 and max of the whole series.
		if p.Reduced.Max != 997*time.Millisecond || p.Reduced.P50 < 490*time.Millisecond || p.Reduced.P50 > 510*time.Millisecond {
			t.Errorf("probe %s: p50 %v, max %v of the whole series", p.Name, p.Reduced.P50, p.Reduced.Max)
		}
		if got := r.samples.all(p.Name); got != nil {
			t.Errorf("probe %s: the store still holds %d observations", p.Name, len(got))
		}
	}
	want := fmt.Sprintf("0.98 (%d ok / %d)", n-n/50, n)
	found := false
	for _, c := range res.Checks {
		if c.Probe == "a" && strings.Contains(c.Name, "successRatio") {
			found = true
			if !strings.Contains(c.Measured, want) {
				t.Errorf("%s measured %q, want %q (from every observation)", c.Name, c.Measured, want)
			}
		}
	}
	if !found {
		t.Errorf("no successRatio check of probe a in %+v", res.Checks)
	}
}

// TestTimelineHoldsTheProbesAssertionsName: an assertion reads the whole series of
// the probes it names; the others are not rebuilt from the store for it.
func TestTimelineHoldsTheProbesAssertionsName(t *testing.T) {
	r := longRun(t, 100, "  verify:\n    - selfHealing: {probe: a, recoversWithin: 5s}\n", "a", "b")
	tl := r.timeline()
	if len(tl.Observations["a"]) != 100 || tl.Observations["b"] != nil {
		t.Errorf("timeline holds %d observations of a and %d of b; want 100 and none", len(tl.Observations["a"]), len(tl.Observations["b"]))
	}
	if r := longRun(t, 10, "", "a"); len(r.timeline().Observations) != 0 {
		t.Error("a run without assertions rebuilt series for its timeline")
	}
}
