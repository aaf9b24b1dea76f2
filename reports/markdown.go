package reports

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// WriteMarkdown writes a readable summary: the verdict and its reason, the checks
// with expected and measured values, the faults with their inject/revert durations
// and proofs, a per-probe summary, the phases, rollbacks and run errors. Times are
// offsets from the start of the run. The full series is in report.json.
func WriteMarkdown(w io.Writer, r *Result) error {
	var b strings.Builder
	n := r.Counts()
	fmt.Fprintf(&b, "# %s: %s\n\n", r.Experiment, strings.ToUpper(verdictOr(r.Verdict)))
	fmt.Fprintf(&b, "**Verdict: %s.**", verdictOr(r.Verdict))
	if r.Reason != "" {
		fmt.Fprintf(&b, " %s", r.Reason)
	}
	b.WriteString("\n\n")
	if r.Description != "" {
		fmt.Fprintf(&b, "%s\n\n", r.Description)
	}

	item := func(k, v string) { fmt.Fprintf(&b, "- **%s:** %s\n", k, oneLine(v)) }
	item("Run", "`"+r.RunID+"`")
	if r.Source != "" {
		item("Source", "`"+r.Source+"`")
	}
	item("Started", r.Started.UTC().Format(time.RFC3339))
	item("Duration", formatDuration(r.Duration()))
	item("Checks", fmt.Sprintf("%d: %d passed, %d failed, %d errored, %d skipped",
		len(r.Checks), n.Passed, n.Failed, n.Errored, n.Skipped))
	if sc, ok := Score(r); ok {
		item("Score", fmt.Sprintf("%d/100 (the share of judged checks that held)", sc))
	}
	if len(r.Labels) > 0 {
		var l []string
		for _, k := range sortedKeys(r.Labels) {
			l = append(l, k+"="+r.Labels[k])
		}
		item("Labels", strings.Join(l, ", "))
	}

	if len(r.Checks) > 0 {
		b.WriteString("\n## Checks\n\n")
		t := newTable("Status", "Check", "Expected", "Measured", "Reason")
		for _, c := range r.Checks {
			t.row(strings.ToUpper(c.Status), c.Name, c.Expected, c.Measured, c.Reason)
		}
		t.write(&b)
		writeExcerpts(&b, r)
	}

	if len(r.Injections) > 0 {
		b.WriteString("\n## Faults\n\n")
		t := newTable("Fault", "Kind", "Active from", "Set up in", "Proof done after", "Proof", "Reverted", "Revert took", "Error")
		for _, in := range r.Injections {
			var errs []string
			if in.Error != "" {
				errs = append(errs, "inject: "+in.Error)
			}
			if in.RevertError != "" {
				errs = append(errs, "REVERT: "+in.RevertError)
			}
			t.row(in.Fault, in.Kind, r.offset(in.InjectedAt), formatDuration(in.ActiveAfter), formatDuration(in.InjectDuration), in.Proof,
				r.offset(in.RevertedAt), formatDuration(in.RevertDuration), strings.Join(errs, "; "))
		}
		t.write(&b)
	} else if len(r.Plan) > 0 {
		b.WriteString("\n## Plan (nothing injected)\n\n")
		t := newTable("Fault", "Kind", "After", "Duration", "Action", "Revert")
		for _, p := range r.Plan {
			t.row(p.Name, p.Kind, formatDuration(p.After), formatDuration(p.Duration), p.Action, p.Revert)
		}
		t.write(&b)
	}

	if len(r.Probes) > 0 {
		b.WriteString("\n## Probes\n\n")
		t := newTable("Probe", "Kind", "OK", "Failed", "Errored", "p50", "p99", "Scheduled", "Completed", "Skipped")
		for _, p := range r.Probes {
			p50, _, p99, _, judged := seriesLatency(p)
			l50, l99 := "-", "-"
			if judged > 0 {
				l50, l99 = formatDuration(p50), formatDuration(p99)
			}
			t.row(p.Name, p.Kind, fmt.Sprint(p.OK), fmt.Sprint(p.Failed), fmt.Sprint(p.Errored), l50, l99,
				fmt.Sprint(p.Scheduled), fmt.Sprint(p.Completed), fmt.Sprint(p.Skipped))
		}
		t.write(&b)
		b.WriteString("\nErrored observations (the probe could not ask) are not counted against the system; p50/p99 are over ok and failed ones. " +
			"Probes are open-loop: an observation starts on its schedule whether or not earlier ones returned; skipped starts were due while the probe's maxInFlight observations were in flight.\n")
	}

	if len(r.Phases) > 0 {
		b.WriteString("\n## Phases\n\n")
		t := newTable("Phase", "Start", "End", "Took")
		for _, p := range r.Phases {
			took := "-"
			if !p.Start.IsZero() && !p.End.IsZero() {
				took = formatDuration(p.End.Sub(p.Start))
			}
			t.row(p.Name, r.offset(p.Start), r.offset(p.End), took)
		}
		t.write(&b)
	}

	if len(r.Rollbacks) > 0 {
		b.WriteString("\n## Rollbacks\n\n")
		t := newTable("Action", "Result", "Took", "Output")
		for _, rb := range r.Rollbacks {
			res := "ok"
			if rb.Error != "" {
				res = "error: " + rb.Error
			}
			t.row(rb.Action, res, formatDuration(rb.Duration), rb.Output)
		}
		t.write(&b)
	}

	if len(r.Errors) > 0 {
		b.WriteString("\n## Errors\n\n")
		for _, e := range r.Errors {
			fmt.Fprintf(&b, "- %s\n", oneLine(e))
		}
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("writing markdown report: %w", err)
	}
	return nil
}

// writeExcerpts writes, for each check that did not pass and names a probe, its
// reason and the probe's samples around the observation the reason names.
func writeExcerpts(b *strings.Builder, r *Result) {
	head := false
	for _, c := range r.Checks {
		if c.Status == CheckPassed || c.Status == CheckSkipped || c.Probe == "" {
			continue
		}
		ps, ok := r.Series(c.Probe)
		if !ok || len(ps.Observations) == 0 {
			continue
		}
		if !head {
			b.WriteString("\n## Samples behind the checks that did not hold\n")
			head = true
		}
		fmt.Fprintf(b, "\n### %s (%s)\n\n", c.Name, c.Status)
		if c.Reason != "" {
			fmt.Fprintf(b, "%s\n\n", oneLine(c.Reason))
		}
		var ex strings.Builder
		writeSamples(&ex, r, c, ps)
		fmt.Fprintf(b, "```\n%s```\n", strings.ReplaceAll(ex.String(), "```", "` ` `"))
	}
}

// table is a Markdown table.
type table struct {
	head []string
	rows [][]string
}

func newTable(head ...string) *table { return &table{head: head} }

func (t *table) row(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) write(b *strings.Builder) {
	line := func(cells []string) {
		b.WriteString("|")
		for _, c := range cells {
			if c = cell(c); c == "" {
				c = " "
			}
			b.WriteString(" " + c + " |")
		}
		b.WriteString("\n")
	}
	line(t.head)
	b.WriteString("|" + strings.Repeat("---|", len(t.head)) + "\n")
	for _, r := range t.rows {
		line(r)
	}
}

// cell makes s safe inside a table cell.
func cell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return oneLine(s)
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.ReplaceAll(s, "\n", "<br>")
}
