package reports

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// checkMoment is where on the timeline a check belongs: the window it judged and,
// for a failed or errored check with a probe, its worst point: the observation its
// reason names (Check.At) when it names one, else the slowest answer for a latency
// bound, else the first failed answer, else the first errored one.
type checkMoment struct {
	N            int // 1-based, in the order the report lists checks (failed first)
	Check        Check
	Start, End   time.Time
	HasWorst     bool
	Worst        time.Time
	WorstLatency time.Duration
	WorstWhat    string
	Recovered    time.Time // for a passed recovery check: when it was steady again
}

// statusRank orders checks failed, errored, passed, skipped.
func statusRank(s string) int {
	switch s {
	case CheckFailed:
		return 0
	case CheckPassed:
		return 2
	case CheckSkipped:
		return 3
	}
	return 1 // errored or unknown
}

// checkMoments returns r's checks, failed first, with their windows and worst points.
func checkMoments(r *Result) []checkMoment {
	out := make([]checkMoment, 0, len(r.Checks))
	for _, c := range r.Checks {
		out = append(out, checkMoment{Check: c})
	}
	sort.SliceStable(out, func(i, j int) bool { return statusRank(out[i].Check.Status) < statusRank(out[j].Check.Status) })
	for i := range out {
		m := &out[i]
		m.N = i + 1
		m.Start, m.End = checkWindow(r, m.Check)
		if m.Check.Status != CheckPassed && m.Check.Status != CheckSkipped {
			worstPoint(r, m)
		}
		if m.Check.Kind == "recovery" && m.Check.Status == CheckPassed {
			m.Recovered = recoveredAt(r, m.Check)
		}
	}
	return out
}

// recoveredAt reads when a passed recovery check's probe was steady again from its
// measured "steady again after D", counted from the last revert when it says so
// (else from the start of the recovery phase).
func recoveredAt(r *Result, c Check) time.Time {
	_, after, found := strings.Cut(c.Measured, "after ")
	if !found || len(strings.Fields(after)) == 0 {
		return time.Time{}
	}
	d, err := time.ParseDuration(strings.Fields(after)[0])
	if err != nil {
		return time.Time{}
	}
	var from time.Time
	if strings.Contains(c.Measured, "last revert") {
		for _, in := range r.Injections {
			if in.RevertedAt.After(from) {
				from = in.RevertedAt
			}
		}
	}
	if ph, ok := phase(r, "recovery"); ok && from.IsZero() {
		from = ph.Start
	}
	if from.IsZero() {
		return time.Time{}
	}
	return from.Add(d)
}

// checkWindow resolves the window a check judged: Details["window"] naming the
// baseline, "during faults" or "during <fault>"; the recovery phase for recovery
// checks; from the fault's start to the end of recovery for assertions over a
// fault; else the whole run.
func checkWindow(r *Result, c Check) (time.Time, time.Time) {
	whole := func() (time.Time, time.Time) { return r.Started, r.Ended }
	w := c.Details["window"]
	switch {
	case strings.Contains(w, "baseline") || c.Kind == "baseline":
		if p, ok := phase(r, "baseline"); ok {
			return p.Start, p.End
		}
	case w == "during faults":
		if s, e, ok := faultSpan(r, ""); ok {
			return s, e
		}
	case strings.HasPrefix(w, "during "):
		if s, e, ok := faultSpan(r, strings.TrimPrefix(w, "during ")); ok {
			return s, e
		}
	case c.Kind == "recovery":
		if p, ok := phase(r, "recovery"); ok {
			return p.Start, p.End
		}
	}
	fault := ""
	if fw, ok := c.Details["fault window"]; ok {
		fault, _, _ = strings.Cut(fw, ":")
	}
	if s, _, ok := faultSpan(r, strings.TrimSpace(fault)); ok && (fault != "" || c.Probe != "") {
		end := r.Ended
		if p, ok := phase(r, "recovery"); ok && !p.End.IsZero() {
			end = p.End
		}
		return s, end
	}
	return whole()
}

// faultSpan is the window of the named fault, or of all faults (first injection to
// last revert) for "".
func faultSpan(r *Result, name string) (start, end time.Time, ok bool) {
	for _, in := range r.Injections {
		if in.InjectedAt.IsZero() || (name != "" && in.Fault != name) {
			continue
		}
		e := in.RevertedAt
		if e.IsZero() {
			e = r.Ended
		}
		if !ok || in.InjectedAt.Before(start) {
			start = in.InjectedAt
		}
		if !ok || e.After(end) {
			end = e
		}
		ok = true
	}
	return start, end, ok
}

func phase(r *Result, name string) (Phase, bool) {
	for _, p := range r.Phases {
		if p.Name == name && !p.Start.IsZero() {
			if p.End.IsZero() {
				p.End = r.Ended
			}
			return p, true
		}
	}
	return Phase{}, false
}

// worstPoint finds the observation of m's probe that best shows why it failed.
func worstPoint(r *Result, m *checkMoment) {
	p, ok := r.Series(m.Check.Probe)
	if !ok {
		return
	}
	latency := strings.Contains(strings.ToLower(m.Check.Name), "latency") || strings.Contains(strings.ToLower(m.Check.Measured), "slow")
	var slowest, firstFailed, firstErrored *Observation
	for i := range p.Observations {
		o := &p.Observations[i]
		if o.Time.Before(m.Start) || o.Time.After(m.End) {
			continue
		}
		if o.Status != obsErrored && (slowest == nil || o.Latency > slowest.Latency) {
			slowest = o
		}
		if o.Status == obsFailed && firstFailed == nil {
			firstFailed = o
		}
		if o.Status == obsErrored && firstErrored == nil {
			firstErrored = o
		}
	}
	pick, what := firstFailed, "first failed answer"
	if latency && slowest != nil {
		pick, what = slowest, "slowest answer"
	}
	if at := m.Check.At; !at.IsZero() { // the observation the check's reason names
		var named *Observation
		for i := range p.Observations {
			o := &p.Observations[i]
			if named == nil || absDur(o.Time.Sub(at)) < absDur(named.Time.Sub(at)) {
				named = o
			}
		}
		if named != nil {
			pick, what = named, "the answer the reason names"
		}
	}
	if pick == nil {
		pick, what = firstErrored, "first errored observation"
	}
	if pick == nil {
		return
	}
	m.HasWorst, m.Worst, m.WorstLatency = true, pick.Time, pick.Latency
	m.WorstWhat = what + " at " + r.offset(pick.Time) + ": " + formatDuration(pick.Latency)
	if pick.Detail != "" {
		m.WorstWhat += ", " + truncate(firstLine(pick.Detail), 80)
	}
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// probeStats is one row of the probes table.
type probeStats struct {
	Name, Kind                string
	OK, Failed, Errored, All  int
	P50, P90, P99, Max        string
	Extra                     string // scheduled / completed / skipped where the probe reports them
	FailedPct                 string
	FirstFailure, LastFailure string
}

func buildProbeStats(r *Result) []probeStats {
	var out []probeStats
	for _, p := range r.Probes {
		s := probeStats{Name: p.Name, Kind: p.Kind, All: len(p.Observations), P50: "-", P90: "-", P99: "-", Max: "-"}
		var first, last time.Time
		for _, o := range p.Observations {
			switch o.Status {
			case obsOK:
				s.OK++
			case obsFailed:
				s.Failed++
				if first.IsZero() {
					first = o.Time
				}
				last = o.Time
			default:
				s.Errored++
			}
		}
		if p.Reduced != nil {
			// The counts are the series' own; every failed observation was kept.
			s.All, s.OK, s.Failed, s.Errored = p.Reduced.Observations, p.OK, p.Failed, p.Errored
		}
		if p50, p90, p99, maxL, n := seriesLatency(p); n > 0 {
			s.P50, s.P90, s.P99, s.Max = formatDuration(p50), formatDuration(p90), formatDuration(p99), formatDuration(maxL)
		}
		if !first.IsZero() {
			s.FirstFailure, s.LastFailure = r.offset(first), r.offset(last)
		}
		s.Extra = probeExtra(p)
		out = append(out, s)
	}
	return out
}

// probeExtra gives the scheduled / completed / skipped counts of an open-loop
// probe; reports written before probes counted them have none.
func probeExtra(p ProbeSeries) string {
	if p.Scheduled == 0 && p.Completed == 0 && p.Skipped == 0 {
		return ""
	}
	return fmt.Sprintf("%d scheduled · %d completed · %d skipped", p.Scheduled, p.Completed, p.Skipped)
}
