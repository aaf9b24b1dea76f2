package chaostest

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/faultline-dev/faultline/reports"
)

// reporter is implemented by *Result: the matchers take a *Result, a
// *reports.Result or a reports.Result.
type reporter interface {
	report() *reports.Result
	reportDir() string
}

// subject is what a matcher looks at.
type subject struct {
	r   *reports.Result
	dir string // report directory, "" when unknown
}

func asSubject(actual any) (subject, error) {
	switch v := actual.(type) {
	case reporter:
		if r := v.report(); r != nil {
			return subject{r: r, dir: v.reportDir()}, nil
		}
	case *reports.Result:
		if v != nil {
			return subject{r: v}, nil
		}
	case reports.Result:
		return subject{r: &v}, nil
	default:
		return subject{}, fmt.Errorf("chaostest: a matcher of experiment results got %T, want *chaostest.Result or *reports.Result", actual)
	}
	return subject{}, fmt.Errorf("chaostest: the result is nil (the experiment did not run)")
}

// header names the run: `experiment "checkout-outage" (run 20261123t…)`.
func (s subject) header() string {
	return fmt.Sprintf("experiment %q (run %s)", s.r.Experiment, s.r.RunID)
}

// verdictLine is "verdict failed: <reason>". A reason that only lists the checks
// that did not hold ("2 of 9 checks failed: ...") is cut to its count, since the
// messages list those checks in full.
func (s subject) verdictLine() string {
	reason := s.r.Reason
	if head, _, found := strings.Cut(reason, ": "); found && checkCount.MatchString(head) {
		reason = head
	}
	if reason == "" {
		return "verdict " + s.r.Verdict
	}
	return fmt.Sprintf("verdict %s: %s", s.r.Verdict, reason)
}

var checkCount = regexp.MustCompile(`^\d+ of \d+ checks? (failed|errored|did not hold)`)

// footer lists the run's own errors and where the reports are.
func (s subject) footer() string {
	var b strings.Builder
	for _, e := range s.r.Errors {
		fmt.Fprintf(&b, "\nrun error: %s", e)
	}
	if s.dir != "" {
		fmt.Fprintf(&b, "\nreports: %s", s.dir)
	}
	return b.String()
}

// explain writes each check on a line, and for a check that did not pass its reason,
// details and the probe samples around its worst point.
func (s subject) explain(checks []reports.Check, pick picker) string {
	return s.explainChecks(checks, pick, false)
}

// explainAll is explain with reason, details and samples for every check, passed or not.
func (s subject) explainAll(checks []reports.Check, pick picker) string {
	return s.explainChecks(checks, pick, true)
}

func (s subject) explainChecks(checks []reports.Check, pick picker, all bool) string {
	var b strings.Builder
	for _, c := range checks {
		b.WriteString("\n")
		b.WriteString(checkLine(c))
		if !all && (c.Status == reports.CheckPassed || c.Status == reports.CheckSkipped) {
			continue
		}
		if c.Reason != "" {
			fmt.Fprintf(&b, "\n      %s", c.Reason)
		}
		if d := detailsLine(c.Details); d != "" {
			fmt.Fprintf(&b, "\n      details: %s", d)
		}
		p := pick
		if p.pick == nil {
			p = autoPicker(c)
		}
		if !c.At.IsZero() {
			p = named(c.At) // the observation the reason names
		}
		b.WriteString(s.samples(c, p))
	}
	return b.String()
}

func checkLine(c reports.Check) string {
	line := fmt.Sprintf("  %s %s: expected %s, measured %s", statusMark(c.Status), c.Name, orDash(c.Expected), orDash(c.Measured))
	if c.Status != reports.CheckPassed && c.Status != reports.CheckFailed {
		line += " [" + c.Status + "]"
	}
	return line
}

func detailsLine(d map[string]string) string {
	keys := make([]string, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+d[k])
	}
	return strings.Join(parts, ", ")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func statusMark(status string) string {
	switch status {
	case reports.CheckPassed:
		return "✓"
	case reports.CheckFailed:
		return "✗"
	case reports.CheckSkipped:
		return "-"
	default:
		return "!"
	}
}

// samplesShown is how many observations are printed around a check's worst point.
const samplesShown = 5

// picker chooses the index of the worst observation in obs, or -1.
type picker struct {
	what string // "slowest", "first failure", "last failure"
	pick func(obs []reports.Observation) int
}

// samples prints the observations of c's probe around the point pick chooses,
// within the check's window when it can be told.
func (s subject) samples(c reports.Check, p picker) string {
	if c.Probe == "" {
		return ""
	}
	var obs []reports.Observation
	var reduced *reports.Reduction
	for _, ps := range s.r.Probes {
		if ps.Name == c.Probe {
			obs, reduced = ps.Observations, ps.Reduced
		}
	}
	if len(obs) == 0 {
		return fmt.Sprintf("\n      (no observations of probe %s in the result)", c.Probe)
	}
	lo, hi := 0, len(obs)
	if start, end, ok := s.window(c); ok {
		lo = sort.Search(len(obs), func(i int) bool { return !obs[i].Time.Before(start) })
		if !end.IsZero() {
			hi = sort.Search(len(obs), func(i int) bool { return !obs[i].Time.Before(end) })
		}
		if lo >= hi {
			lo, hi = 0, len(obs)
		}
	}
	i := p.pick(obs[lo:hi])
	if i < 0 {
		return ""
	}
	i += lo
	from := max(0, min(i-samplesShown/2, len(obs)-samplesShown))
	to := min(len(obs), from+samplesShown)
	var b strings.Builder
	if reduced != nil { // kept observations: their positions among them say nothing
		fmt.Fprintf(&b, "\n      probe %s, %d samples in a row around the %s (of %d; the series is reduced):", c.Probe, to-from, p.what, reduced.Observations)
	} else {
		fmt.Fprintf(&b, "\n      probe %s, %d samples around the %s (#%d of %d):", c.Probe, to-from, p.what, i+1, len(obs))
	}
	base := s.r.Started
	if base.IsZero() {
		base = obs[0].Time
	}
	for j := from; j < to; j++ {
		mark := "   "
		if j == i {
			mark = " ▶ "
		}
		b.WriteString("\n      " + mark + s.sampleLine(obs[j], base))
	}
	return b.String()
}

func (s subject) sampleLine(o reports.Observation, base time.Time) string {
	line := fmt.Sprintf("t+%-8s %-9s %-8s %8s", formatOffset(o.Time.Sub(base)), s.phaseAt(o.Time), o.Status, formatDuration(o.Latency))
	if o.Detail != "" {
		line += "  " + o.Detail
	}
	if v := detailsLine(o.Values); v != "" {
		line += "  (" + v + ")"
	}
	return line
}

// phaseAt names the lifecycle phase t falls in.
func (s subject) phaseAt(t time.Time) string {
	name := "-"
	for _, p := range s.r.Phases {
		if !t.Before(p.Start) && (p.End.IsZero() || t.Before(p.End)) {
			name = p.Name
		}
	}
	return name
}

// window resolves the window a check judged from its Details["window"]: one naming
// the baseline, one "during faults" (first injection to last revert), one "during
// <fault>", or a phase name.
func (s subject) window(c reports.Check) (start, end time.Time, ok bool) {
	w := c.Details["window"]
	switch {
	case w == "":
		return start, end, false
	case strings.Contains(w, "baseline"):
		w = "baseline"
	case strings.HasSuffix(w, "during faults"):
		for _, in := range s.r.Injections {
			if in.InjectedAt.IsZero() {
				continue
			}
			if start.IsZero() || in.InjectedAt.Before(start) {
				start = in.InjectedAt
			}
			if in.RevertedAt.After(end) {
				end = in.RevertedAt
			}
		}
		return start, end, !start.IsZero()
	}
	if _, fault, found := strings.Cut(w, "during "); found {
		for _, in := range s.r.Injections {
			if in.Fault == fault && !in.InjectedAt.IsZero() {
				return in.InjectedAt, in.RevertedAt, true
			}
		}
	}
	for _, p := range s.r.Phases {
		if p.Name == w {
			return p.Start, p.End, true
		}
	}
	return start, end, false
}

var (
	slowest = picker{what: "slowest answer", pick: func(obs []reports.Observation) int {
		best := -1
		for i, o := range obs {
			if o.Status == "errored" {
				continue
			}
			if best < 0 || o.Latency > obs[best].Latency {
				best = i
			}
		}
		return best
	}}
	firstFailure = picker{what: "first failure", pick: func(obs []reports.Observation) int {
		for i, o := range obs {
			if o.Status != "ok" {
				return i
			}
		}
		return slowest.pick(obs)
	}}
	lastFailure = picker{what: "last failure", pick: func(obs []reports.Observation) int {
		for i := len(obs) - 1; i >= 0; i-- {
			if obs[i].Status != "ok" {
				return i
			}
		}
		return slowest.pick(obs)
	}}
)

// named picks the observation at t (the nearest one), the one a check's reason names.
func named(t time.Time) picker {
	return picker{what: "observation the reason names", pick: func(obs []reports.Observation) int {
		best := -1
		for i, o := range obs {
			if best < 0 || absDur(o.Time.Sub(t)) < absDur(obs[best].Time.Sub(t)) {
				best = i
			}
		}
		return best
	}}
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// autoPicker chooses what "worst" means for a check: the slowest answer for latency
// bounds, the last failure for recovery, the first failure otherwise.
func autoPicker(c reports.Check) picker {
	text := strings.ToLower(c.Name + " " + c.Kind + " " + c.Expected)
	switch {
	case strings.Contains(text, "latency") || strings.Contains(text, "fastfail") || strings.EqualFold(c.Kind, "circuitBreaker"):
		return slowest
	case strings.EqualFold(c.Kind, "selfHealing"):
		return lastFailure
	default:
		return firstFailure
	}
}

// formatDuration rounds d to 3 significant digits: "183ms", "2.12s", "45µs".
func formatDuration(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	a := d
	if a < 0 {
		a = -a
	}
	unit := time.Duration(1)
	for v := a; v >= 1000; v /= 10 {
		unit *= 10
	}
	return d.Round(unit).String()
}

// formatOffset writes an offset from the run start with millisecond precision.
func formatOffset(d time.Duration) string {
	return fmt.Sprintf("%.3fs", d.Seconds())
}
