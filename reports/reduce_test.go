package reports

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
)

// longSeries is n observations every 100 ms: about 1 % failed, 0.2 % errored, the
// ok ones with latencies that vary, one very slow ok answer at slowAt.
func longSeries(name string, n, slowAt int) ProbeSeries {
	s := ProbeSeries{Name: name, Kind: "http", Every: 100 * time.Millisecond, MaxInFlight: 64, Scheduled: n + 3, Completed: n, Skipped: 2}
	s.Observations = make([]Observation, n)
	for i := range n {
		o := Observation{Time: at(time.Duration(i) * 100 * time.Millisecond), Status: obsOK,
			Latency: time.Duration(2000+(i*7919)%9000) * time.Microsecond, Detail: "200"}
		switch {
		case i%97 == 13:
			o.Status, o.Detail, o.Latency = obsFailed, fmt.Sprintf("503 #%d", i), time.Duration(i)*time.Microsecond
		case i%499 == 7:
			o.Status, o.Detail, o.Values = obsErrored, "dial tcp: connection refused", map[string]string{"try": fmt.Sprint(i)}
		case i == slowAt:
			o.Latency = 3 * time.Second
		}
		switch o.Status {
		case obsOK:
			s.OK++
		case obsFailed:
			s.Failed++
		default:
			s.Errored++
		}
		s.Observations[i] = o
	}
	return s
}

func longResult(probes, n int) *Result {
	r := sample()
	r.Probes = nil
	for p := range probes {
		r.Probes = append(r.Probes, longSeries(fmt.Sprintf("probe-%d", p), n, n/2))
	}
	r.Checks = append(r.Checks, Check{Name: "slo(probe-0).latencyP99", Kind: "slo", Probe: "probe-0", Status: CheckFailed,
		Expected: "<= 50ms", Measured: "3s", At: at(time.Duration(n/3) * 100 * time.Millisecond)})
	return r
}

func keyOf(o Observation) string {
	b, _ := json.Marshal(o)
	return string(b)
}

func TestReduceKeepsEveryNonOKAndExactTotals(t *testing.T) {
	const n = 36000
	s := longSeries("checkout", n, 20000)
	at := at(12345 * 100 * time.Millisecond)
	red := Reduce(s, []time.Time{at})
	if red.Reduced == nil {
		t.Fatal("a series of 36000 observations was not reduced")
	}
	if len(s.Observations) != n || s.Reduced != nil {
		t.Fatal("Reduce modified its argument")
	}
	if red.OK != s.OK || red.Failed != s.Failed || red.Errored != s.Errored ||
		red.Scheduled != s.Scheduled || red.Completed != s.Completed || red.Skipped != s.Skipped {
		t.Fatalf("counts changed: %+v vs %+v", red, s)
	}
	if red.Reduced.Observations != n || red.Reduced.Kept != len(red.Observations) {
		t.Fatalf("reduction totals: %+v, kept %d", *red.Reduced, len(red.Observations))
	}
	// One mark, and the whole series' four excerpt centres.
	if len(red.Observations) > 3*reduceIntervals+s.Failed+s.Errored+5*(excerptBefore+excerptAfter) {
		t.Fatalf("kept %d observations, more than the bound", len(red.Observations))
	}
	kept := map[string]bool{}
	for i, o := range red.Observations {
		kept[keyOf(o)] = true
		if i > 0 && o.Time.Before(red.Observations[i-1].Time) {
			t.Fatalf("kept observations out of Time order at %d", i)
		}
	}
	var nonOK int
	for i, o := range s.Observations {
		if o.Status != obsOK {
			nonOK++
			if !kept[keyOf(o)] {
				t.Fatalf("non-ok observation %d (%+v) not kept exactly", i, o)
			}
		}
	}
	if nonOK != s.Failed+s.Errored {
		t.Fatalf("fixture: %d non-ok, counts say %d", nonOK, s.Failed+s.Errored)
	}
	if !kept[keyOf(s.Observations[20000])] {
		t.Error("the slowest ok observation was not kept")
	}
	i := nearest(s.Observations, at)
	for j := i - excerptBefore; j < i+excerptAfter; j++ {
		if !kept[keyOf(s.Observations[j])] {
			t.Fatalf("observation %d around the mark (%d) not kept", j, i)
		}
	}
	var ok, failed, errored int
	var maxLat time.Duration
	for _, iv := range red.Reduced.Intervals {
		ok, failed, errored = ok+iv.OK, failed+iv.Failed, errored+iv.Errored
		maxLat = max(maxLat, iv.Max)
		if iv.P50 > iv.P99 || iv.P99 > iv.Max {
			t.Fatalf("interval %+v: p50 <= p99 <= max does not hold", iv)
		}
	}
	if ok != s.OK || failed != s.Failed || errored != s.Errored {
		t.Fatalf("interval counts %d/%d/%d, series %d/%d/%d", ok, failed, errored, s.OK, s.Failed, s.Errored)
	}
	if maxLat != 3*time.Second {
		t.Fatalf("max latency over the intervals is %s, want 3s", maxLat)
	}
}

func TestReduceLeavesSmallSeriesUnchanged(t *testing.T) {
	s := longSeries("small", ReduceAbove, 10)
	red := Reduce(s, []time.Time{at(time.Second)})
	if red.Reduced != nil || !reflect.DeepEqual(red, s) {
		t.Fatalf("a series of %d observations was changed", ReduceAbove)
	}
	r := sample()
	r.Probes = []ProbeSeries{s}
	var buf bytes.Buffer
	if err := WriteJSON(&buf, r); err != nil {
		t.Fatal(err)
	}
	var back Result
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Probes[0].Reduced != nil || len(back.Probes[0].Observations) != ReduceAbove {
		t.Fatalf("small series written with %d observations, reduced=%v", len(back.Probes[0].Observations), back.Probes[0].Reduced)
	}
}

// TestStreamedJSONReadsAsMarshal: the streamed report reads back exactly as the
// json.Marshal of the same Result does, for a full run and for an empty one.
func TestStreamedJSONReadsAsMarshal(t *testing.T) {
	full := sample()
	full.Spec = map[string]any{"steadyState": map[string]any{"probes": []any{"checkout"}}, "x": "<&>"}
	full.Probes = append(full.Probes, ProbeSeries{Name: "empty", Observations: []Observation{}})
	for _, r := range []*Result{full, {}, {Probes: []ProbeSeries{}}} {
		var got bytes.Buffer
		if err := WriteJSON(&got, r); err != nil {
			t.Fatal(err)
		}
		want, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid(got.Bytes()) {
			t.Fatalf("invalid json:\n%s", got.String())
		}
		var a, b any
		if err := json.Unmarshal(got.Bytes(), &a); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(want, &b); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("streamed json differs from json.Marshal:\n%s\nwant\n%s", got.String(), want)
		}
	}
}

func TestWriteAllLongRunRoundTrip(t *testing.T) {
	r := longResult(2, 36000)
	dir := t.TempDir()
	if _, err := WriteAll(dir, r); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, JSONFile))
	if err != nil {
		t.Fatal(err)
	}
	var back Result
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Probes) != 2 || back.Verdict != r.Verdict || len(back.Checks) != len(r.Checks) {
		t.Fatalf("read back %d probes, verdict %q", len(back.Probes), back.Verdict)
	}
	for i, p := range back.Probes {
		orig := r.Probes[i]
		if p.Reduced == nil || p.Reduced.Observations != len(orig.Observations) {
			t.Fatalf("probe %s: reduced %+v", p.Name, p.Reduced)
		}
		if want := Reduce(orig, marksFor(r, orig.Name)).Reduced; !reflect.DeepEqual(p.Reduced.Intervals, want.Intervals) {
			t.Fatalf("probe %s: interval summaries read back differ", p.Name)
		}
		if p.OK != orig.OK || p.Failed != orig.Failed || p.Errored != orig.Errored || p.Scheduled != orig.Scheduled {
			t.Fatalf("probe %s: counts changed", p.Name)
		}
		var nonOK []Observation
		for _, o := range orig.Observations {
			if o.Status != obsOK {
				nonOK = append(nonOK, o)
			}
		}
		var backNonOK []Observation
		for _, o := range p.Observations {
			if o.Status != obsOK {
				backNonOK = append(backNonOK, o)
			}
		}
		if len(nonOK) != len(backNonOK) {
			t.Fatalf("probe %s: %d non-ok read back, %d made", p.Name, len(backNonOK), len(nonOK))
		}
		for j := range nonOK {
			if !nonOK[j].Time.Equal(backNonOK[j].Time) || nonOK[j].Latency != backNonOK[j].Latency ||
				nonOK[j].Detail != backNonOK[j].Detail || !reflect.DeepEqual(nonOK[j].Values, backNonOK[j].Values) {
				t.Fatalf("probe %s: non-ok %d read back as %+v, made %+v", p.Name, j, backNonOK[j], nonOK[j])
			}
		}
	}
	if perObs := float64(len(data)) / 72000; perObs > 30 {
		t.Fatalf("report.json is %d bytes, %.1f per observation", len(data), perObs)
	}
	// The excerpt of the check that names an observation is the same from the file.
	c := r.Checks[len(r.Checks)-1]
	var want, got bytes.Buffer
	if err := WriteJUnit(&want, r); err != nil {
		t.Fatal(err)
	}
	if err := WriteJUnit(&got, &back); err != nil {
		t.Fatal(err)
	}
	excerpt := func(s string) string {
		_, after, ok := strings.Cut(s, "samples around the observation the reason names")
		lines := strings.Split(after, "\n")
		if !ok || len(lines) < 16 || !strings.Contains(after, "> ") {
			t.Fatalf("no excerpt for %s in junit", c.Name)
		}
		return strings.Join(lines[1:16], "\n")
	}
	if excerpt(want.String()) != excerpt(got.String()) {
		t.Fatalf("excerpt differs:\n%s\nvs\n%s", excerpt(want.String()), excerpt(got.String()))
	}
}

// TestReportsOfAReducedSeriesAreTheWholeSeries: a long run's series are reduced as
// soon as its checks are made (ReduceFor), so report.html, report.md and junit.xml
// are drawn from the reduced series, live or from report.json. Each must say what
// it says of the whole series: every observation drawn (each ok one inside its
// column's stroke, each failed and errored one as its own mark), the same counts,
// p50/p90/p99/max and breaker states.
func TestReportsOfAReducedSeriesAreTheWholeSeries(t *testing.T) {
	whole := denseResult(3, 6000)
	// Breaker states that change off the reduction's interval grid, and no reading
	// in the last 50 observations (the last segment ends at the last reading).
	p0 := whole.Probes[0].Observations
	for i := range p0 {
		o := &p0[i]
		if st := o.Values["breaker"]; st != "closed" {
			o.Values = map[string]string{"breaker": []string{"open", "open", "half-open"}[i/13%3]}
		}
		if i >= len(p0)-50 {
			o.Values = nil
		}
	}
	reduced := *whole
	reduced.Probes = nil
	for _, p := range whole.Probes {
		s := ReduceFor(whole, p)
		if s.Reduced == nil || len(s.Observations) >= len(p.Observations)/2 {
			t.Fatalf("probe %s: %d of %d observations kept", p.Name, len(s.Observations), len(p.Observations))
		}
		reduced.Probes = append(reduced.Probes, s)
	}
	// The same result, written to report.json and read back.
	var js bytes.Buffer
	if err := WriteJSON(&js, &reduced); err != nil {
		t.Fatal(err)
	}
	var back Result
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}

	_, wholeDoc := renderHTML(t, whole)
	probesTable := func(doc *html.Node) string {
		tbl := findFirst(doc, func(n *html.Node) bool { return n.Data == "table" && hasClass(n, "probes") })
		if tbl == nil {
			t.Fatal("no probes table")
		}
		return textOf(tbl)
	}
	breakers := func(doc *html.Node) []string {
		var out []string
		for _, n := range findAll(doc, func(n *html.Node) bool { return hasClass(n, "br") }) {
			out = append(out, attr(n, "data-state")+" "+attr(n, "data-start")+" "+attr(n, "data-end"))
		}
		return out
	}
	markdownProbes := func(r *Result) string {
		var b bytes.Buffer
		if err := WriteMarkdown(&b, r); err != nil {
			t.Fatal(err)
		}
		_, after, _ := strings.Cut(b.String(), "## Probes")
		table, _, _ := strings.Cut(after, "\n\n## ")
		return table
	}
	junitProbes := func(r *Result) string {
		var b bytes.Buffer
		if err := WriteJUnit(&b, r); err != nil {
			t.Fatal(err)
		}
		_, after, _ := strings.Cut(b.String(), "probes:\n")
		lines, _, _ := strings.Cut(after, "</")
		return lines
	}
	// junit.xml and report.md whole: the same text but for the excerpts' headers
	// (positions among the kept observations say nothing), so the same excerpts.
	withoutHeaders := func(r *Result, write func(io.Writer, *Result) error) string {
		var b bytes.Buffer
		if err := write(&b, r); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, l := range strings.Split(b.String(), "\n") {
			if !strings.Contains(l, "samples around the") {
				out = append(out, l)
			}
		}
		return strings.Join(out, "\n")
	}
	junit := func(w io.Writer, r *Result) error { return WriteJUnit(w, r) }
	for name, write := range map[string]func(io.Writer, *Result) error{"junit.xml": junit, "report.md": WriteMarkdown} {
		want := withoutHeaders(whole, write)
		if !strings.Contains(want, "\n> +") {
			t.Fatalf("%s of the whole series has no excerpt", name)
		}
		for _, r := range []*Result{&reduced, &back} {
			if got := withoutHeaders(r, write); got != want {
				t.Errorf("%s of the reduced series differs from the whole series':\n%s", name, firstDiff(got, want))
			}
		}
	}
	for name, r := range map[string]*Result{"reduced": &reduced, "read back": &back} {
		_, doc := renderHTML(t, r)
		CheckHTMLReport(t, doc, whole, "")
		if got, want := probesTable(doc), probesTable(wholeDoc); got != want {
			t.Errorf("%s: probes table\n%s\nwant\n%s", name, got, want)
		}
		if got, want := breakers(doc), breakers(wholeDoc); len(want) == 0 || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: breaker states %v, want %v", name, got, want)
		}
		if got, want := markdownProbes(r), markdownProbes(whole); !strings.Contains(want, "probe-00") || got != want {
			t.Errorf("%s: report.md probes\n%s\nwant\n%s", name, got, want)
		}
		if got, want := junitProbes(r), junitProbes(whole); !strings.Contains(want, "p99") || got != want {
			t.Errorf("%s: junit probes\n%s\nwant\n%s", name, got, want)
		}
	}
}

// firstDiff shows the first line where got and want differ.
func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := range min(len(g), len(w)) {
		if g[i] != w[i] {
			return fmt.Sprintf("line %d:\n got  %s\n want %s", i+1, g[i], w[i])
		}
	}
	return fmt.Sprintf("%d lines, want %d", len(g), len(w))
}

// TestOlderReducedReportsStillRender: a report.json reduced by a version that kept
// no whole-series figures nor ok ranges is drawn from its kept observations.
func TestOlderReducedReportsStillRender(t *testing.T) {
	r := denseResult(1, 6000)
	p := ReduceFor(r, r.Probes[0])
	red := *p.Reduced
	red.Judged, red.P50, red.P90, red.P99, red.Max = 0, 0, 0, 0, 0
	red.Intervals = append([]IntervalSummary(nil), red.Intervals...)
	for i := range red.Intervals {
		red.Intervals[i].OKMin, red.Intervals[i].OKMax = 0, 0
	}
	p.Reduced = &red
	if p50, _, p99, _, n := seriesLatency(p); n == 0 || p50 <= 0 || p99 < p50 {
		t.Errorf("latency of an older reduced series: p50 %v, p99 %v over %d", p50, p99, n)
	}
	old := *r
	old.Probes = []ProbeSeries{p}
	_, doc := renderHTML(t, &old)
	lane := findFirst(doc, func(n *html.Node) bool { return hasClass(n, "lane") })
	if lane == nil || attr(lane, "data-ok") != strconv.Itoa(p.OK) {
		t.Fatalf("lane of an older reduced series: %v", lane)
	}
	var strokes int
	for _, n := range findAll(lane, func(n *html.Node) bool { return n.Data == "path" && attr(n, "class") == "obs-ok" }) {
		strokes += strings.Count(attr(n, "d"), "M")
	}
	if strokes == 0 {
		t.Error("no ok strokes drawn from the kept observations")
	}
}

// TestReduceKeepsBreakerReadingsThatEndSegments: the first reading of each breaker
// state and the last reading of all are kept, however the intervals fall.
func TestReduceKeepsBreakerReadingsThatEndSegments(t *testing.T) {
	s := ProbeSeries{Name: "p", Kind: "breakerState"}
	for i := range 3000 {
		o := Observation{Time: at(time.Duration(i) * 100 * time.Millisecond), Status: obsOK, Latency: time.Millisecond}
		switch {
		case i < 1234:
			o.Values = map[string]string{"breaker": "closed"}
		case i <= 2499:
			o.Values = map[string]string{"breaker": "open"}
		}
		s.Observations = append(s.Observations, o)
		s.OK++
	}
	red := Reduce(s, nil)
	kept := map[time.Time]bool{}
	for _, o := range red.Observations {
		kept[o.Time] = true
	}
	for _, i := range []int{0, 1234, 2499} {
		if !kept[s.Observations[i].Time] {
			t.Errorf("observation %d (%v) not kept", i, s.Observations[i].Values)
		}
	}
}
