package reports

import (
	"sort"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// ReduceAbove is the number of observations above which report.json holds a probe
// series reduced (see Reduce) rather than whole.
const ReduceAbove = 2000

// reduceIntervals is how many fixed intervals a reduced series is cut into: each
// keeps at most 3 ok observations, so about 3×reduceIntervals ok ones are kept.
const reduceIntervals = 600

// excerptBefore and excerptAfter are the observations kept around every moment a
// report points at (a check's At, a phase boundary, an injection or a revert), so
// the excerpts of junit.xml and report.md read from report.json are the same.
const excerptBefore, excerptAfter = 3, 12

// Reduction says a series was reduced and holds what was not kept observation by
// observation: the exact total and per-interval summaries of every observation.
type Reduction struct {
	// Observations is how many observations the run made (every one: the series'
	// ok, failed and errored counts stay exact); Kept is how many the series holds.
	Observations int `json:"observations"`
	Kept         int `json:"kept"`
	// Interval is the length of each summary interval; the first starts at the
	// first observation.
	Interval time.Duration `json:"interval"`
	// Judged is how many observations were ok or failed; P50, P90, P99 and Max are
	// their exact latency figures over the whole series, as the SLO math and the
	// reports compute them from a whole series.
	Judged    int               `json:"judged"`
	P50       time.Duration     `json:"p50"`
	P90       time.Duration     `json:"p90"`
	P99       time.Duration     `json:"p99"`
	Max       time.Duration     `json:"max"`
	Intervals []IntervalSummary `json:"intervals"`
}

// IntervalSummary summarises every observation whose Time falls in
// [Start, Start+Interval). Latencies (P50, P99, Max: HDR histogram, 3 significant
// digits) are of the ok and failed observations, as the SLO math takes them; OKMin
// and OKMax bound the ok ones (report.html draws them as the interval's stroke).
type IntervalSummary struct {
	Start   time.Time     `json:"start"`
	OK      int           `json:"ok"`
	Failed  int           `json:"failed"`
	Errored int           `json:"errored"`
	P50     time.Duration `json:"p50"`
	P99     time.Duration `json:"p99"`
	Max     time.Duration `json:"max"`
	OKMin   time.Duration `json:"okMin,omitempty"`
	OKMax   time.Duration `json:"okMax,omitempty"`
}

// Reduce returns s as report.json holds it. A series of at most ReduceAbove
// observations is returned unchanged. A longer one keeps, in Time order: every
// non-ok observation exactly; per fixed interval the first, the fastest and the
// slowest ok one; and every observation within 3 before and 12 after each moment
// in marks (check times, phase and fault boundaries) and each of the series' first
// and last non-ok observation and its slowest one; the first observation
// of every new Values["breaker"] and the last one with it (the breaker lane of
// report.html). Reduced says so, with the
// exact total and per-interval summaries. Counts (OK, Failed, Errored, Scheduled,
// Completed, Skipped) are never changed. s itself is not modified.
func Reduce(s ProbeSeries, marks []time.Time) ProbeSeries {
	return reduce(s, marks, nil)
}

// ReduceFor is Reduce with the moments r points at for s (its checks' At, r's phase
// boundaries, injections and reverts), and also keeping, within the whole series,
// each phase, each fault's window and the span of all faults, the observations
// around the first and the last non-ok one and the slowest one: where the sample
// excerpts of junit.xml, report.md and the chaostest messages centre when a check
// names no observation. It is the series as r's report.json holds it. A runner
// reduces each long series once its checks are made, so that a long run holds its
// series once; the reports then write it as it is, with the same excerpts.
func ReduceFor(r *Result, s ProbeSeries) ProbeSeries {
	return reduce(s, marksFor(r, s.Name), windowsOf(r))
}

// windowsOf is every window a check of r may be judged over: its phases, each
// fault's active window and the span from the first injection to the last revert.
func windowsOf(r *Result) [][2]time.Time {
	var ws [][2]time.Time
	for _, p := range r.Phases {
		ws = append(ws, [2]time.Time{p.Start, p.End})
	}
	var span [2]time.Time
	for _, in := range r.Injections {
		if in.InjectedAt.IsZero() {
			continue
		}
		ws = append(ws, [2]time.Time{in.InjectedAt, in.RevertedAt})
		if span[0].IsZero() || in.InjectedAt.Before(span[0]) {
			span[0] = in.InjectedAt
		}
		if in.RevertedAt.After(span[1]) {
			span[1] = in.RevertedAt
		}
	}
	if !span[0].IsZero() {
		ws = append(ws, span)
	}
	return ws
}

// excerptCentres returns, within obs[lo:hi], the indexes an excerpt may centre on
// when a check names no observation: the first and last non-ok, the slowest of
// all, the slowest not errored (-1 when there is none).
func excerptCentres(obs []Observation, lo, hi int) [4]int {
	c := [4]int{-1, -1, -1, -1}
	for i := lo; i < hi; i++ {
		o := obs[i]
		if o.Status != obsOK {
			if c[0] < 0 {
				c[0] = i
			}
			c[1] = i
		}
		if c[2] < 0 || o.Latency > obs[c[2]].Latency {
			c[2] = i
		}
		if o.Status != obsErrored && (c[3] < 0 || o.Latency > obs[c[3]].Latency) {
			c[3] = i
		}
	}
	return c
}

func reduce(s ProbeSeries, marks []time.Time, windows [][2]time.Time) ProbeSeries {
	obs := s.Observations
	if len(obs) <= ReduceAbove || s.Reduced != nil {
		return s
	}
	first, last := obs[0].Time, obs[len(obs)-1].Time
	interval := max(last.Sub(first)/reduceIntervals+1, time.Millisecond)
	keep := make([]bool, len(obs))
	around := func(i int) {
		for j := max(i-excerptBefore, 0); j < min(i+excerptAfter, len(obs)); j++ {
			keep[j] = true
		}
	}
	for _, m := range marks {
		around(nearest(obs, m))
	}
	for _, w := range append([][2]time.Time{{}}, windows...) {
		lo, hi := 0, len(obs)
		if !w[0].IsZero() {
			lo = sort.Search(len(obs), func(i int) bool { return !obs[i].Time.Before(w[0]) })
		}
		if !w[1].IsZero() {
			hi = sort.Search(len(obs), func(i int) bool { return !obs[i].Time.Before(w[1]) })
		}
		for _, i := range excerptCentres(obs, lo, max(lo, hi)) {
			if i >= 0 {
				around(i)
			}
		}
	}
	// A change of breaker state is an event the timeline draws: the first reading
	// of each state is kept (it ends the segment of the one before), and the last
	// reading (it ends the last segment).
	state, lastReading := "", -1
	for i, o := range obs {
		if st := o.Values["breaker"]; st != "" {
			if st != state {
				keep[i], state = true, st
			}
			lastReading = i
		}
	}
	if lastReading >= 0 {
		keep[lastReading] = true
	}
	red := &Reduction{Observations: len(obs), Interval: interval}
	lat := judgedLatencies(obs)
	red.Judged = len(lat)
	red.P50, red.P90, red.P99, red.Max = rank(lat, 0.50), rank(lat, 0.90), rank(lat, 0.99), rank(lat, 1)
	h := hdrhistogram.New(1, int64(time.Hour), 3)
	for i := 0; i < len(obs); {
		start := first.Add(time.Duration(int64(obs[i].Time.Sub(first)) / int64(interval) * int64(interval)))
		end := start.Add(interval)
		sum := IntervalSummary{Start: start}
		h.Reset()
		firstOK, fast, slow := -1, -1, -1
		for ; i < len(obs) && obs[i].Time.Before(end); i++ {
			o := obs[i]
			switch o.Status {
			case obsOK:
				sum.OK++
				if firstOK < 0 {
					firstOK = i
				}
				if fast < 0 || o.Latency < obs[fast].Latency {
					fast = i
				}
				if slow < 0 || o.Latency > obs[slow].Latency {
					slow = i
				}
				sum.OKMin, sum.OKMax = obs[fast].Latency, obs[slow].Latency
			case obsFailed:
				sum.Failed++
				keep[i] = true
			default:
				sum.Errored++
				keep[i] = true
			}
			if o.Status == obsOK || o.Status == obsFailed {
				_ = h.RecordValue(min(max(int64(o.Latency), 1), int64(time.Hour)))
				sum.Max = max(sum.Max, o.Latency)
			}
		}
		for _, k := range []int{firstOK, fast, slow} {
			if k >= 0 {
				keep[k] = true
			}
		}
		if h.TotalCount() > 0 {
			// HDR reports a bucket's upper end: never above the exact max.
			sum.P50 = min(time.Duration(h.ValueAtQuantile(50)), sum.Max)
			sum.P99 = min(time.Duration(h.ValueAtQuantile(99)), sum.Max)
		}
		red.Intervals = append(red.Intervals, sum)
	}
	kept := make([]Observation, 0, len(obs)/8)
	for i, k := range keep {
		if k {
			kept = append(kept, obs[i])
		}
	}
	red.Kept = len(kept)
	s.Observations, s.Reduced = kept, red
	return s
}

// nearest returns the index of the observation nearest to t (obs in Time order).
func nearest(obs []Observation, t time.Time) int {
	lo, hi := 0, len(obs)
	for lo < hi {
		mid := (lo + hi) / 2
		if obs[mid].Time.Before(t) {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo == len(obs) || (lo > 0 && t.Sub(obs[lo-1].Time) < obs[lo].Time.Sub(t)) {
		return lo - 1
	}
	return lo
}

// marksFor is every moment r points at for probe name: its checks' At, phase
// boundaries, injections and reverts.
func marksFor(r *Result, name string) []time.Time {
	var m []time.Time
	add := func(t time.Time) {
		if !t.IsZero() {
			m = append(m, t)
		}
	}
	for _, c := range r.Checks {
		if c.Probe == name {
			add(c.At)
		}
	}
	for _, p := range r.Phases {
		add(p.Start)
		add(p.End)
	}
	for _, in := range r.Injections {
		add(in.InjectedAt)
		add(in.RevertedAt)
	}
	return m
}
