package reports

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Observation statuses, as in steadystate (which reports does not import).
const (
	obsOK      = "ok"
	obsFailed  = "failed"
	obsErrored = "errored"
)

// File names written by WriteAll.
const (
	JSONFile     = "report.json"
	JUnitFile    = "junit.xml"
	MarkdownFile = "report.md"
)

// WriteAll writes report.json, junit.xml, report.md and report.html into dir
// (created if missing) and returns their paths. Each file is written to a temporary
// name and renamed, so a reader never sees half a report. All are attempted even if
// one fails; the errors are joined.
func WriteAll(dir string, r *Result) (paths []string, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating report directory: %w", err)
	}
	var errs []error
	for _, f := range []struct {
		name  string
		write func(io.Writer) error
	}{
		{JSONFile, func(w io.Writer) error { return WriteJSON(w, r) }},
		{JUnitFile, func(w io.Writer) error { return WriteJUnit(w, r) }},
		{MarkdownFile, func(w io.Writer) error { return WriteMarkdown(w, r) }},
		{HTMLFile, func(w io.Writer) error { return WriteHTML(w, r) }},
	} {
		p := filepath.Join(dir, f.name)
		if err := writeFile(p, f.write); err != nil {
			errs = append(errs, fmt.Errorf("writing %s: %w", p, err))
			continue
		}
		paths = append(paths, p)
	}
	return paths, errors.Join(errs...)
}

func writeFile(path string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	// Streamed to the file: no buffer holds the whole document.
	bw := bufio.NewWriterSize(tmp, 64<<10)
	if err := write(bw); err != nil {
		tmp.Close()
		return err
	}
	if err := bw.Flush(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// WriteJSON writes the Result as indented JSON, streamed to w: each probe series as
// Reduce has it, its observations one compact object per line. json.Unmarshal
// reads it back into a Result.
func WriteJSON(w io.Writer, r *Result) error {
	if err := writeJSONStream(w, r); err != nil {
		return fmt.Errorf("encoding report json: %w", err)
	}
	return nil
}

// Summary is the one-line verdict for a terminal:
// "PASSED checkout-survives (12 checks, 0 failed) in 23.4s". Errored and skipped
// checks are named when there are some, and the reason follows a non-passed verdict.
func Summary(r *Result) string {
	n := r.Counts()
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s (%d checks, %d failed", strings.ToUpper(verdictOr(r.Verdict)), r.Experiment, len(r.Checks), n.Failed)
	if n.Errored > 0 {
		fmt.Fprintf(&b, ", %d errored", n.Errored)
	}
	if n.Skipped > 0 {
		fmt.Fprintf(&b, ", %d skipped", n.Skipped)
	}
	fmt.Fprintf(&b, ") in %s", formatDuration(r.Duration()))
	if r.Verdict != VerdictPassed && r.Reason != "" {
		b.WriteString(": " + firstLine(r.Reason))
	}
	return b.String()
}

// CheckCounts counts checks by status.
type CheckCounts struct{ Passed, Failed, Errored, Skipped int }

// Counts counts r's checks by status (unknown statuses count as errored).
func (r *Result) Counts() CheckCounts {
	var n CheckCounts
	for _, c := range r.Checks {
		switch c.Status {
		case CheckPassed:
			n.Passed++
		case CheckFailed:
			n.Failed++
		case CheckSkipped:
			n.Skipped++
		default:
			n.Errored++
		}
	}
	return n
}

// Duration is Ended − Started, or 0 when either is unset.
func (r *Result) Duration() time.Duration {
	if r.Started.IsZero() || r.Ended.IsZero() {
		return 0
	}
	return r.Ended.Sub(r.Started)
}

// Series returns the probe series named name.
func (r *Result) Series(name string) (ProbeSeries, bool) {
	for _, p := range r.Probes {
		if p.Name == name {
			return p, true
		}
	}
	return ProbeSeries{}, false
}

func verdictOr(v string) string {
	if v == "" {
		return "unknown"
	}
	return v
}

// formatDuration rounds to 3 significant digits: "23.4s", "183ms".
func formatDuration(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	neg := d < 0
	if neg {
		d = -d
	}
	unit := time.Duration(1)
	for v := d; v >= 1000; v /= 10 {
		unit *= 10
	}
	d = d.Round(unit)
	if neg {
		d = -d
	}
	return d.String()
}

// offset formats t relative to the run's start: "+1.2s"; "-" for a zero time.
func (r *Result) offset(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	if r.Started.IsZero() {
		return t.UTC().Format(time.RFC3339Nano)
	}
	d := t.Sub(r.Started)
	if d < 0 {
		return "-" + formatDuration(-d)
	}
	return "+" + formatDuration(d)
}

// seriesLatency gives p's latency figures over its ok and failed observations:
// from the whole series, or for a reduced one from its Reduction (exact, computed
// before it was reduced).
func seriesLatency(p ProbeSeries) (p50, p90, p99, maxL time.Duration, n int) {
	if r := p.Reduced; r != nil && (r.Judged > 0 || p.OK+p.Failed == 0) {
		return r.P50, r.P90, r.P99, r.Max, r.Judged
	}
	// Whole, or reduced by a version that did not keep the figures: the kept ones.
	l := judgedLatencies(p.Observations)
	return rank(l, 0.50), rank(l, 0.90), rank(l, 0.99), rank(l, 1), len(l)
}

// judgedLatencies returns the latencies of the ok and failed observations, sorted.
func judgedLatencies(obs []Observation) []time.Duration {
	l := make([]time.Duration, 0, len(obs))
	for _, o := range obs {
		if o.Status == obsOK || o.Status == obsFailed {
			l = append(l, o.Latency)
		}
	}
	slices.Sort(l)
	return l
}

// rank is the nearest-rank q-quantile of sorted l (q = 1: its max); 0 if empty.
func rank(l []time.Duration, q float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	i := int(q*float64(len(l))+0.5) - 1
	return l[min(max(i, 0), len(l)-1)]
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
