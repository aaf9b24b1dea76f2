package reports

import (
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// JUnit XML, in the shape Jenkins (xunit junit-10.xsd), GitLab and GitHub
// reporters read:
//
//	<testsuites name="faultline" tests failures errors skipped time>
//	  <testsuite name=EXPERIMENT tests failures errors skipped time timestamp hostname id package>
//	    <properties><property name="runID" value=.../> verdict, reason, source, labels</properties>
//	    <testcase classname="faultline.EXPERIMENT" name=CHECK time=...>
//	      <failure message="expected X, measured Y" type=KIND>reason, details, samples</failure>
//	      | <error .../> | <skipped message=.../>
//	    </testcase>
//	    <system-out>the timeline</system-out>
//	    <system-err>run errors</system-err>
//	  </testsuite>
//	</testsuites>
//
// When the verdict is not "passed" and no check failed or errored, a testcase named
// "verdict" carries it (failure for failed/not-steady, error for aborted/errored), so
// CI never shows a red run as green.

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr"`
	Hostname   string          `xml:"hostname,attr"`
	ID         int             `xml:"id,attr"`
	Package    string          `xml:"package,attr"`
	Properties []junitProperty `xml:"properties>property"`
	Cases      []junitCase     `xml:"testcase"`
	SystemOut  *junitText      `xml:"system-out"`
	SystemErr  *junitText      `xml:"system-err,omitempty"`
}

// junitText is element text written as CDATA (readable multi-line text), with the
// characters XML 1.0 forbids replaced.
type junitText struct {
	Text string `xml:",cdata"`
}

func text(s string) *junitText {
	if s == "" {
		return nil
	}
	return &junitText{Text: xmlSafe(s)}
}

// xmlSafe replaces characters outside the XML 1.0 Char production with U+FFFD.
func xmlSafe(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\n' || r == '\r',
			r >= 0x20 && r <= 0xD7FF,
			r >= 0xE000 && r <= 0xFFFD,
			r >= 0x10000 && r <= 0x10FFFF:
			return r
		}
		return '\uFFFD'
	}, s)
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitProblem `xml:"failure,omitempty"`
	Error     *junitProblem `xml:"error,omitempty"`
	Skipped   *junitSkipped `xml:"skipped,omitempty"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Body    string `xml:",cdata"`
}

type junitSkipped struct {
	Message string `xml:"message,attr,omitempty"`
}

// WriteJUnit writes one <testsuite> per result inside <testsuites>.
func WriteJUnit(w io.Writer, results ...*Result) error {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	doc := junitSuites{Name: "faultline"}
	var total time.Duration
	for i, r := range results {
		s := junitSuiteOf(r, host, i)
		doc.Suites = append(doc.Suites, s)
		doc.Tests += s.Tests
		doc.Failures += s.Failures
		doc.Errors += s.Errors
		doc.Skipped += s.Skipped
		total += r.Duration()
	}
	doc.Time = seconds(total)
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return fmt.Errorf("writing junit xml: %w", err)
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("encoding junit xml: %w", err)
	}
	if _, err := io.WriteString(w, "\n"); err != nil {
		return fmt.Errorf("writing junit xml: %w", err)
	}
	return nil
}

func junitSuiteOf(r *Result, host string, id int) junitSuite {
	class := "faultline." + r.Experiment
	s := junitSuite{
		Name:      r.Experiment,
		Time:      seconds(r.Duration()),
		Timestamp: r.Started.UTC().Format("2006-01-02T15:04:05"), // xsd: no zone
		Hostname:  host,
		ID:        id,
		Package:   "faultline",
		SystemOut: text(timelineText(r)),
		SystemErr: text(strings.Join(r.Errors, "\n")),
	}
	s.Properties = append(s.Properties,
		junitProperty{"runID", r.RunID},
		junitProperty{"verdict", r.Verdict},
		junitProperty{"reason", r.Reason},
	)
	if sc, ok := Score(r); ok {
		s.Properties = append(s.Properties, junitProperty{"score", strconv.Itoa(sc)})
	}
	if r.Source != "" {
		s.Properties = append(s.Properties, junitProperty{"source", r.Source})
	}
	for _, k := range sortedKeys(r.Labels) {
		s.Properties = append(s.Properties, junitProperty{"label." + k, r.Labels[k]})
	}

	for _, c := range r.Checks {
		tc := junitCase{Name: c.Name, Classname: class, Time: seconds(c.Duration)}
		switch c.Status {
		case CheckPassed:
		case CheckSkipped:
			tc.Skipped = &junitSkipped{Message: c.Reason}
			s.Skipped++
		case CheckFailed:
			tc.Failure = problem(r, c)
			s.Failures++
		default: // errored, or an unknown status: never silently green
			tc.Error = problem(r, c)
			s.Errors++
		}
		s.Cases = append(s.Cases, tc)
	}
	if r.Verdict != VerdictPassed && s.Failures == 0 && s.Errors == 0 {
		p := &junitProblem{
			Message: fmt.Sprintf("verdict %s: %s", verdictOr(r.Verdict), firstLine(r.Reason)),
			Type:    "verdict",
			Body:    xmlSafe(r.Reason + "\n\n" + timelineText(r)),
		}
		tc := junitCase{Name: "verdict", Classname: class, Time: seconds(r.Duration())}
		if r.Verdict == VerdictFailed || r.Verdict == VerdictNotSteady {
			tc.Failure = p
			s.Failures++
		} else {
			tc.Error = p
			s.Errors++
		}
		s.Cases = append(s.Cases, tc)
	}
	s.Tests = len(s.Cases)
	return s
}

func problem(r *Result, c Check) *junitProblem {
	var b strings.Builder
	if c.Reason != "" {
		b.WriteString(c.Reason + "\n\n")
	}
	fmt.Fprintf(&b, "expected: %s\nmeasured: %s\n", c.Expected, c.Measured)
	for _, k := range sortedKeys(c.Details) {
		fmt.Fprintf(&b, "%s: %s\n", k, c.Details[k])
	}
	if c.Probe != "" {
		if ps, ok := r.Series(c.Probe); ok {
			b.WriteString("\n")
			writeSamples(&b, r, c, ps)
		}
	}
	kind := c.Kind
	if kind == "" {
		kind = "check"
	}
	return &junitProblem{
		Message: fmt.Sprintf("expected %s, measured %s", c.Expected, c.Measured),
		Type:    kind,
		Body:    xmlSafe(b.String()),
	}
}

// writeSamples lists the probe's observations around the one the check's reason
// names (Check.At), or else around its first non-ok one (or its slowest, when all
// are ok): 3 before and up to 12 from there.
func writeSamples(b *strings.Builder, r *Result, c Check, ps ProbeSeries) {
	obs := ps.Observations
	fmt.Fprintf(b, "probe %s: %d ok, %d failed, %d errored", ps.Name, ps.OK, ps.Failed, ps.Errored)
	if ps.Scheduled > 0 {
		fmt.Fprintf(b, " (%d scheduled, %d completed, %d skipped)", ps.Scheduled, ps.Completed, ps.Skipped)
	}
	b.WriteString("\n")
	center, what := excerptCenter(c, obs)
	if center < 0 {
		return
	}
	from, to := max(center-3, 0), min(center+12, len(obs))
	if ps.Reduced != nil {
		// The excerpt's observations follow each other in the run (the reduction keeps
		// them), but their positions among the kept ones say nothing.
		fmt.Fprintf(b, "samples around the %s (%d in a row of %d; the series is reduced):\n", what, to-from, ps.Reduced.Observations)
	} else {
		fmt.Fprintf(b, "samples around the %s (%d-%d of %d):\n", what, from+1, to, len(obs))
	}
	for i, o := range obs[from:to] {
		mark := "  "
		if from+i == center {
			mark = "> "
		}
		fmt.Fprintf(b, "%s%-8s %-7s %8s  %s\n", mark, r.offset(o.Time), o.Status, formatDuration(o.Latency), sampleDetail(o))
	}
}

// excerptCenter picks the observation an excerpt is centred on: the one at c.At
// (the one the reason names; the nearest when none is exactly there), else the
// first non-ok one, else the slowest. It returns -1 for no observations.
func excerptCenter(c Check, obs []Observation) (int, string) {
	if len(obs) == 0 {
		return -1, ""
	}
	if !c.At.IsZero() {
		best := 0
		for i, o := range obs {
			if absDuration(o.Time.Sub(c.At)) < absDuration(obs[best].Time.Sub(c.At)) {
				best = i
			}
		}
		return best, "observation the reason names"
	}
	for i, o := range obs {
		if o.Status != obsOK {
			return i, "first failure"
		}
	}
	center := 0
	for i, o := range obs {
		if o.Latency > obs[center].Latency {
			center = i
		}
	}
	return center, "slowest"
}

func absDuration(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// sampleDetail is an observation's detail and values: "502 (breaker=open)".
func sampleDetail(o Observation) string {
	s := o.Detail
	if len(o.Values) > 0 {
		var parts []string
		for _, k := range sortedKeys(o.Values) {
			parts = append(parts, k+"="+o.Values[k])
		}
		s = strings.TrimSpace(s + " (" + strings.Join(parts, ", ") + ")")
	}
	return s
}

// timelineText is the run as plain text, for <system-out> and terminals.
func timelineText(r *Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "run %s of %s", r.RunID, r.Experiment)
	if r.Source != "" {
		fmt.Fprintf(&b, " (%s)", r.Source)
	}
	fmt.Fprintf(&b, ", started %s, took %s\n", r.Started.UTC().Format(time.RFC3339), formatDuration(r.Duration()))
	fmt.Fprintf(&b, "verdict: %s", verdictOr(r.Verdict))
	if r.Reason != "" {
		fmt.Fprintf(&b, ": %s", r.Reason)
	}
	b.WriteString("\n")
	if len(r.Phases) > 0 {
		b.WriteString("phases:\n")
		for _, p := range r.Phases {
			fmt.Fprintf(&b, "  %-10s %s .. %s\n", p.Name, r.offset(p.Start), r.offset(p.End))
		}
	}
	if len(r.Injections) > 0 {
		b.WriteString("faults:\n")
		for _, in := range r.Injections {
			fmt.Fprintf(&b, "  %s (%s): active from %s (set up in %s, proof done after %s)", in.Fault, in.Kind, r.offset(in.InjectedAt),
				formatDuration(in.ActiveAfter), formatDuration(in.InjectDuration))
			if in.Proof != "" {
				fmt.Fprintf(&b, ", proof: %s", in.Proof)
			}
			fmt.Fprintf(&b, "; reverted %s in %s", r.offset(in.RevertedAt), formatDuration(in.RevertDuration))
			if in.Error != "" {
				fmt.Fprintf(&b, "; inject error: %s", in.Error)
			}
			if in.RevertError != "" {
				fmt.Fprintf(&b, "; REVERT ERROR: %s", in.RevertError)
			}
			b.WriteString("\n")
		}
	}
	if len(r.Probes) > 0 {
		b.WriteString("probes:\n")
		for _, p := range r.Probes {
			p50, _, p99, _, _ := seriesLatency(p)
			fmt.Fprintf(&b, "  %s (%s): %d ok, %d failed, %d errored, p50 %s, p99 %s; %d scheduled, %d completed, %d skipped\n",
				p.Name, p.Kind, p.OK, p.Failed, p.Errored, formatDuration(p50), formatDuration(p99), p.Scheduled, p.Completed, p.Skipped)
		}
	}
	if len(r.Rollbacks) > 0 {
		b.WriteString("rollbacks:\n")
		for _, rb := range r.Rollbacks {
			status := "ok"
			if rb.Error != "" {
				status = "error: " + rb.Error
			}
			fmt.Fprintf(&b, "  %s: %s in %s\n", rb.Action, status, formatDuration(rb.Duration))
		}
	}
	if len(r.Errors) > 0 {
		b.WriteString("errors:\n")
		for _, e := range r.Errors {
			fmt.Fprintf(&b, "  %s\n", e)
		}
	}
	return b.String()
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
