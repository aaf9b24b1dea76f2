package reports

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
)

// HTMLFile is the name WriteAll gives the HTML report.
const HTMLFile = "report.html"

//go:embed html/*
var htmlAssets embed.FS

// htmlTemplates parses the templates on first use, not at start-up: every `chaos`
// command would otherwise pay for it (about 2 ms).
var htmlTemplates = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("report").Funcs(template.FuncMap{
		"num":  num,
		"add":  func(a, b float64) float64 { return a + b },
		"sub":  func(a, b float64) float64 { return a - b },
		"icon": statusIcon,
	}).ParseFS(htmlAssets, "html/*.tmpl"))
})

// htmlPage is one report.html: one run, or two runs compared.
type htmlPage struct {
	Title     string
	Runs      []runView
	Compare   *compareView
	CSS       template.CSS
	JS        template.JS
	Data      template.JS // hover data (JSON), one entry per timeline
	Generated string
}

// runView is everything the page shows about one run.
type runView struct {
	Label        string // "" for a single run; "A" / "B" in a comparison
	Compared     bool   // the timeline is drawn in the comparison, next to the other run's
	ID           string // element id prefix
	R            *Result
	Verdict      string
	Duration     string
	Meta         [][2]string
	Checks       []checkRow
	Timeline     timelineView
	Probes       []probeStats
	Faults       []faultRow
	Plan         []planRow
	Rollbacks    []RollbackOutcome
	RollbackTook []string
	Spec         string
}

type checkRow struct {
	N                                          int
	RowID, Link                                string
	Status, Name, Kind, Probe                  string
	Expected, Measured, Reason, At, Worst, Win string
	Details                                    [][2]string
}

type faultRow struct {
	Name, Kind, Targets, Action, Injected, InjectTook, Proof string
	Reverted, RevertTook, Active, Error, RevertError         string
}

type planRow struct {
	Name, Kind, After, Duration, Targets, Action, Revert string
}

// WriteHTML writes report.html for one run: a self-contained page (inline CSS, SVG
// and an optional inline script; no external resources) with the verdict, the
// checks (failed first, each linked to its moment on the timeline), the timeline,
// the probes' latency distributions, the faults, the plan and the experiment as run.
func WriteHTML(w io.Writer, r *Result) error {
	r = wallClock(r)
	start, end := runSpan(r)
	p := newPage(r.Experiment + ": " + strings.ToUpper(verdictOr(r.Verdict)))
	var details detailTable
	rv := buildRun(r, "", "", start, end, &details)
	p.Runs = []runView{rv}
	return p.render(w, []timelineView{rv.Timeline}, &details)
}

// WriteHTMLCompare writes one page with two runs of (usually) the same experiment:
// both timelines on one time scale, aligned at each run's start, and the checks'
// measured values side by side.
func WriteHTMLCompare(w io.Writer, a, b *Result) error {
	a, b = wallClock(a), wallClock(b)
	sa, ea := runSpan(a)
	sb, eb := runSpan(b)
	span := max(ea.Sub(sa), eb.Sub(sb))
	p := newPage(a.Experiment + " vs " + b.Experiment)
	if a.Experiment == b.Experiment {
		p.Title = a.Experiment + ": " + verdictOr(a.Verdict) + " vs " + verdictOr(b.Verdict)
	}
	var details detailTable
	ra := buildRun(a, "A", "a-", sa, sa.Add(span), &details)
	rb := buildRun(b, "B", "b-", sb, sb.Add(span), &details)
	ra.Compared, rb.Compared = true, true
	p.Runs = []runView{ra, rb}
	p.Compare = buildCompare(a, b)
	p.Compare.Runs = p.Runs
	return p.render(w, []timelineView{ra.Timeline, rb.Timeline}, &details)
}

// wallClock returns a copy of r whose times carry no monotonic clock reading, so
// a report drawn from a live run and one drawn from its report.json are the same.
func wallClock(r *Result) *Result {
	c := *r
	c.Started, c.Ended = r.Started.Round(0), r.Ended.Round(0)
	c.Phases = make([]Phase, len(r.Phases))
	for i, p := range r.Phases {
		c.Phases[i] = Phase{Name: p.Name, Start: p.Start.Round(0), End: p.End.Round(0)}
	}
	c.Injections = make([]Injection, len(r.Injections))
	for i, in := range r.Injections {
		in.InjectedAt, in.RevertedAt = in.InjectedAt.Round(0), in.RevertedAt.Round(0)
		c.Injections[i] = in
	}
	c.Probes = make([]ProbeSeries, len(r.Probes))
	for i, p := range r.Probes {
		obs := make([]Observation, len(p.Observations))
		for j, o := range p.Observations {
			o.Time = o.Time.Round(0)
			obs[j] = o
		}
		p.Observations = obs
		c.Probes[i] = p
	}
	return &c
}

func newPage(title string) *htmlPage {
	css, _ := htmlAssets.ReadFile("html/report.css")
	js, _ := htmlAssets.ReadFile("html/report.js")
	return &htmlPage{Title: title, CSS: template.CSS(css), JS: template.JS(js), Generated: time.Now().UTC().Format(time.RFC3339)}
}

func (p *htmlPage) render(w io.Writer, tls []timelineView, details *detailTable) error {
	type tlData struct {
		ID    string      `json:"id"`
		X0    float64     `json:"x0"`
		X1    float64     `json:"x1"`
		Span  int64       `json:"span"`
		Lanes []hoverLane `json:"lanes"`
	}
	data := struct {
		Timelines []tlData `json:"timelines"`
		Details   []string `json:"details"`
	}{Details: details.list}
	for _, tl := range tls {
		d := tlData{ID: tl.ID + "timeline", X0: tl.Scale.X0, X1: tl.Scale.X1, Span: tl.T1ms - tl.T0ms}
		for _, l := range tl.Lanes {
			d.Lanes = append(d.Lanes, l.Hover)
		}
		data.Timelines = append(data.Timelines, d)
	}
	js, err := json.Marshal(data) // escapes <, > and & so it cannot end the script
	if err != nil {
		return fmt.Errorf("encoding html hover data: %w", err)
	}
	p.Data = template.JS(js)
	var buf bytes.Buffer
	if err := htmlTemplates().ExecuteTemplate(&buf, "page", p); err != nil {
		return fmt.Errorf("rendering html report: %w", err)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("writing html report: %w", err)
	}
	return nil
}

// runSpan is the time range the timeline shows: the run, widened to any phase or
// observation outside it.
func runSpan(r *Result) (time.Time, time.Time) {
	start, end := r.Started, r.Ended
	widen := func(t time.Time) {
		if t.IsZero() {
			return
		}
		if start.IsZero() || t.Before(start) {
			start = t
		}
		if end.IsZero() || t.After(end) {
			end = t
		}
	}
	for _, ph := range r.Phases {
		widen(ph.Start)
		widen(ph.End)
	}
	for _, p := range r.Probes {
		if n := len(p.Observations); n > 0 {
			widen(p.Observations[0].Time)
			widen(p.Observations[n-1].Time)
		}
	}
	if !end.After(start) {
		end = start.Add(time.Second)
	}
	return start, end
}

func buildRun(r *Result, label, id string, t0, t1 time.Time, details *detailTable) runView {
	moments := checkMoments(r)
	v := runView{Label: label, ID: id, R: r, Verdict: verdictOr(r.Verdict), Duration: formatDuration(r.Duration())}
	n := r.Counts()
	v.Meta = [][2]string{{"Run", r.RunID}}
	if r.Source != "" {
		v.Meta = append(v.Meta, [2]string{"Source", r.Source})
	}
	v.Meta = append(v.Meta,
		[2]string{"Started", r.Started.UTC().Format(time.RFC3339Nano)},
		[2]string{"Ended", r.Ended.UTC().Format(time.RFC3339Nano)},
		[2]string{"Duration", v.Duration},
		[2]string{"Checks", fmt.Sprintf("%d: %d failed, %d errored, %d passed, %d skipped", len(r.Checks), n.Failed, n.Errored, n.Passed, n.Skipped)})
	if sc, ok := Score(r); ok {
		v.Meta = append(v.Meta, [2]string{"Score", itoa(sc) + "/100"})
	}
	if len(r.Labels) > 0 {
		var l []string
		for _, k := range sortedKeys(r.Labels) {
			l = append(l, k+"="+r.Labels[k])
		}
		v.Meta = append(v.Meta, [2]string{"Labels", strings.Join(l, ", ")})
	}
	for _, m := range moments {
		c := m.Check
		row := checkRow{N: m.N, RowID: id + "row-" + itoa(m.N), Link: "#" + id + "check-" + itoa(m.N),
			Status: c.Status, Name: c.Name, Kind: c.Kind, Probe: c.Probe, Expected: c.Expected, Measured: c.Measured,
			Reason: c.Reason, At: r.offset(m.Start), Win: r.offset(m.Start) + " → " + r.offset(m.End)}
		if m.HasWorst {
			row.Link = "#" + id + "worst-" + itoa(m.N)
			row.At = r.offset(m.Worst)
			row.Worst = m.WorstWhat
		}
		for _, k := range sortedKeys(c.Details) {
			row.Details = append(row.Details, [2]string{k, c.Details[k]})
		}
		v.Checks = append(v.Checks, row)
	}
	v.Timeline = buildTimeline(r, id, t0, t1, moments, details)
	v.Probes = buildProbeStats(r)
	v.Faults = buildFaults(r)
	for _, pf := range r.Plan {
		v.Plan = append(v.Plan, planRow{Name: pf.Name, Kind: pf.Kind, After: "+" + formatDuration(pf.After),
			Duration: formatDuration(pf.Duration), Targets: targets(pf.Targets), Action: pf.Action, Revert: pf.Revert})
	}
	v.Rollbacks = r.Rollbacks
	for _, rb := range r.Rollbacks {
		v.RollbackTook = append(v.RollbackTook, formatDuration(rb.Duration))
	}
	if r.Spec != nil {
		if b, err := json.MarshalIndent(r.Spec, "", "  "); err == nil {
			v.Spec = string(b)
		}
	}
	return v
}

func buildFaults(r *Result) []faultRow {
	plan := map[string]PlannedFault{}
	for _, p := range r.Plan {
		plan[p.Name] = p
	}
	var out []faultRow
	for _, in := range r.Injections {
		f := faultRow{Name: in.Fault, Kind: in.Kind, Targets: targets(plan[in.Fault].Targets), Action: plan[in.Fault].Action,
			Injected: r.offset(in.InjectedAt), InjectTook: formatDuration(in.InjectDuration), Proof: in.Proof,
			Reverted: r.offset(in.RevertedAt), RevertTook: formatDuration(in.RevertDuration), Active: "-",
			Error: in.Error, RevertError: in.RevertError}
		if in.ActiveAfter > 0 {
			f.InjectTook += " (in effect after " + formatDuration(in.ActiveAfter) + ")"
		}
		if !in.InjectedAt.IsZero() && !in.RevertedAt.IsZero() {
			f.Active = formatDuration(in.RevertedAt.Sub(in.InjectedAt))
		}
		out = append(out, f)
	}
	return out
}

func targets(ts []Target) string {
	var out []string
	for _, t := range ts {
		s := t.Kind + " "
		if t.Namespace != "" {
			s += t.Namespace + "/"
		}
		s += t.Name
		if t.Detail != "" {
			s += " (" + t.Detail + ")"
		}
		out = append(out, s)
	}
	return strings.Join(out, "; ")
}

func statusIcon(s string) string {
	switch s {
	case CheckPassed:
		return "✓"
	case CheckFailed:
		return "✗"
	case CheckSkipped:
		return "–"
	}
	return "!"
}

func itoa(i int) string { return strconv.Itoa(i) }
