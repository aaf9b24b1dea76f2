package reports

import (
	"math"
	"sort"
	"strings"
	"time"
)

// Timeline geometry, in SVG user units (= CSS pixels at 100 %).
const (
	tlWidth     = 1200.0
	tlPlotX0    = 170.0 // left of the plot: lane labels live left of it
	tlPlotX1    = 1170.0
	tlPhaseH    = 20.0
	tlFaultRowH = 18.0
	tlMarkRowH  = 16.0
	tlLaneH     = 84.0
	tlLanePad   = 8.0
	tlBreakerH  = 22.0
	tlCheckRowH = 13.0
)

// timelineView is everything the timeline template draws, with coordinates.
type timelineView struct {
	ID          string // element id prefix ("" or "a-", "b-" in a comparison)
	W, H        float64
	Scale       timeScale
	T0ms, T1ms  int64
	StartRFC    string // T0 and T1 exactly (RFC 3339, ns)
	EndRFC      string
	Ticks       []tick
	AxisY       float64
	BottomY     float64
	PhaseY      float64
	Phases      []bandView
	LanesTop    float64 // top and bottom of the area phase and fault shading covers
	LanesBottom float64
	Faults      []bandView
	Lanes       []laneView
	Breakers    []breakerView
	ChecksTop   float64
	CheckBars   []checkBar
	Worst       []markerView
	Vlines      []vline
}

// bandView is a phase band or a fault window: [Start, End] at [X, X+W].
type bandView struct {
	Name       string
	Title      string
	Class      string
	X, W       float64
	Y, H       float64
	LabelX     float64
	LabelY     float64
	Label      string // Name, or "" when it does not fit in the band
	Start, End string // RFC 3339 with nanoseconds, for readers and tests
}

// laneView is one probe's observations: ok ones reduced to a min–max stroke per
// pixel column, every failed (triangle) and errored (cross) one drawn on its own.
type laneView struct {
	Probe, Kind               string
	Y0, Y1                    float64 // bottom and top of the plot area
	Top                       float64
	LabelY                    float64
	Lo, Hi                    int64 // latency range of the log scale, ns
	Decades                   []tick
	OKPath, FailPath, ErrPath string
	NOK, NFailed, NErrored    int
	OKColumns, FailedMarks    int
	Counts                    string
	Hover                     hoverLane
	FailedDrawn, ErroredDrawn int
}

// breakerView is the breaker state lane of one probe whose observations carry
// Values["breaker"]: each reading's state lasts until the next reading.
type breakerView struct {
	Probe string
	Y, H  float64
	Segs  []bandView
}

// checkBar is one check's window in the checks lane; failed ones also get a
// marker at their worst point.
type checkBar struct {
	ID     string
	N      int
	Status string
	Label  string
	Title  string
	X, W   float64
	Y      float64
	TextY  float64
}

type markerView struct {
	ID     string
	N      int
	X, Y   float64
	TextX  float64 // markers at one point put their numbers side by side
	Title  string
	Status string
}

// vline is a full-height marker: abort, recovery reached.
type vline struct {
	X, Y0, Y1 float64
	LabelX    float64
	LabelY    float64
	Anchor    string // text-anchor of the label: labels near the right edge sit left of the line
	Label     string
	Title     string
	Class     string
	At        string
}

// buildTimeline lays out r's timeline over [t0, t1] (t1−t0 may exceed r's own
// duration so two runs share one scale).
func buildTimeline(r *Result, id string, t0, t1 time.Time, checks []checkMoment, details *detailTable) timelineView {
	v := timelineView{ID: id, W: tlWidth, Scale: timeScale{T0: t0, T1: t1, X0: tlPlotX0, X1: tlPlotX1}}
	v.T0ms, v.T1ms = t0.UnixMilli(), t1.UnixMilli()
	v.StartRFC, v.EndRFC = t0.UTC().Format(time.RFC3339Nano), t1.UTC().Format(time.RFC3339Nano)
	y := 16.0
	v.AxisY = y
	v.Ticks = v.Scale.ticks(12)
	y += 6
	v.PhaseY = y
	for _, p := range r.Phases {
		if p.Start.IsZero() {
			continue
		}
		end := p.End
		if end.IsZero() {
			end = r.Ended
		}
		b := v.band(p.Name, p.Start, end, y, tlPhaseH)
		b.Class = "ph-" + cssName(p.Name)
		b.Title = p.Name + " " + r.offset(p.Start) + " → " + r.offset(end) + " (" + formatDuration(end.Sub(p.Start)) + ")"
		v.Phases = append(v.Phases, b)
	}
	y += tlPhaseH + 4
	v.LanesTop = y

	// Fault windows: one label row each (they may overlap in time).
	for _, in := range r.Injections {
		if in.InjectedAt.IsZero() {
			continue
		}
		end := in.RevertedAt
		if end.IsZero() {
			end = r.Ended
		}
		b := v.band(in.Fault, in.InjectedAt, end, y, tlFaultRowH)
		b.Class = "fault"
		b.Title = in.Fault + " (" + in.Kind + ") active " + r.offset(in.InjectedAt) + " → " + r.offset(end) + " (" + formatDuration(end.Sub(in.InjectedAt)) + ")"
		if in.RevertedAt.IsZero() {
			b.Title += "; no revert recorded"
		}
		v.Faults = append(v.Faults, b)
		y += tlFaultRowH
	}
	markY := y
	y += tlMarkRowH + 4

	for _, p := range r.Probes {
		v.Lanes = append(v.Lanes, buildLane(p, v.Scale, y, details))
		y += tlLaneH
	}
	for _, p := range r.Probes {
		if segs := breakerSegments(r, p, v.Scale, y+3, tlBreakerH-6); len(segs) > 0 {
			v.Breakers = append(v.Breakers, breakerView{Probe: p.Name, Y: y, H: tlBreakerH, Segs: segs})
			y += tlBreakerH
		}
	}
	v.LanesBottom = y
	for i := range v.Faults { // the shading spans every lane below its label
		v.Faults[i].H = y - v.Faults[i].Y
	}

	y += 6
	v.ChecksTop = y
	for _, m := range checks {
		x0, x1 := v.Scale.x(m.Start), v.Scale.x(m.End)
		v.CheckBars = append(v.CheckBars, checkBar{
			ID: id + "check-" + itoa(m.N), N: m.N, Status: m.Check.Status,
			Label: "#" + itoa(m.N) + " " + truncate(m.Check.Name, 24),
			Title: "#" + itoa(m.N) + " " + m.Check.Name + ": " + m.Check.Status + "; expected " + m.Check.Expected + "; measured " + m.Check.Measured,
			X:     x0, W: max(x1-x0, 2), Y: y + 2, TextY: y + tlCheckRowH - 3,
		})
		if m.HasWorst {
			if mk, ok := worstMarker(v, m); ok {
				mk.TextX = mk.X + 7
				for _, o := range v.Worst {
					if math.Abs(o.X-mk.X) < 6 && math.Abs(o.Y-mk.Y) < 6 {
						mk.TextX = max(mk.TextX, o.TextX+float64(len(itoa(o.N)))*7+3)
					}
				}
				v.Worst = append(v.Worst, mk)
			}
		}
		y += tlCheckRowH
	}
	y += 6
	v.BottomY = y
	v.Vlines = markers(r, v.Scale, checks, markY, v.LanesBottom)
	v.H = y + 18
	return v
}

func (v timelineView) band(name string, start, end time.Time, y, h float64) bandView {
	x0, x1 := v.Scale.x(start), v.Scale.x(end)
	label := name
	if float64(len(name))*6.5+6 > x1-x0 {
		label = ""
	}
	return bandView{Name: name, Label: label, X: x0, W: max(x1-x0, 1), Y: y, H: h, LabelX: x0 + 3, LabelY: y + h - 5,
		Start: start.UTC().Format(time.RFC3339Nano), End: end.UTC().Format(time.RFC3339Nano)}
}

// worstMarker places a failed check's worst point on its probe's lane.
func worstMarker(v timelineView, m checkMoment) (markerView, bool) {
	for _, l := range v.Lanes {
		if l.Probe != m.Check.Probe {
			continue
		}
		ls := logScale{Lo: time.Duration(l.Lo), Hi: time.Duration(l.Hi), Y0: l.Y0, Y1: l.Y1}
		return markerView{ID: v.ID + "worst-" + itoa(m.N), N: m.N, X: v.Scale.x(m.Worst), Y: ls.y(m.WorstLatency),
			Status: m.Check.Status,
			Title:  "#" + itoa(m.N) + " " + m.Check.Name + " worst point " + m.WorstWhat}, true
	}
	return markerView{}, false
}

// markers returns the abort and recovery-reached lines.
func markers(r *Result, s timeScale, checks []checkMoment, y0, y1 float64) []vline {
	var out []vline
	if at, ok := abortTime(r); ok {
		out = append(out, vline{X: s.x(at), Y0: y0, Y1: y1, LabelY: y0 + 12, Label: "abort", Class: "abort",
			Title: "aborted at " + r.offset(at) + ": " + r.Reason, At: at.UTC().Format(time.RFC3339Nano)})
	}
	for _, m := range checks {
		if m.Check.Kind != "recovery" || m.Check.Status != CheckPassed || m.Recovered.IsZero() {
			continue
		}
		out = append(out, vline{X: s.x(m.Recovered), Y0: y0, Y1: y1, LabelY: y0 + 12, Label: "recovered " + m.Check.Probe, Class: "recovered",
			Title: m.Check.Name + ": " + m.Check.Measured + " (" + r.offset(m.Recovered) + ")", At: m.Recovered.UTC().Format(time.RFC3339Nano)})
	}
	// A label near the right edge sits left of its line; labels that would overlap
	// move down a row.
	sort.SliceStable(out, func(i, j int) bool { return out[i].X < out[j].X })
	var rows [][][2]float64 // per row: the extents of its labels
	for i := range out {
		w := float64(len(out[i].Label))*6.2 + 4
		out[i].LabelX, out[i].Anchor = out[i].X+3, "start"
		ext := [2]float64{out[i].X, out[i].X + w}
		if out[i].X+w > s.X1+20 {
			out[i].LabelX, out[i].Anchor = out[i].X-3, "end"
			ext = [2]float64{out[i].X - w, out[i].X}
		}
		row := 0
		for ; row < len(rows); row++ {
			free := true
			for _, e := range rows[row] {
				if ext[0] < e[1] && e[0] < ext[1] {
					free = false
				}
			}
			if free {
				break
			}
		}
		if row == len(rows) {
			rows = append(rows, nil)
		}
		rows[row] = append(rows[row], ext)
		out[i].LabelY += float64(row) * 11
	}
	return out
}

// abortTime is where the abort cut the run short: the end of the phase it cut
// (the faults phase, else the last phase before the revert).
func abortTime(r *Result) (time.Time, bool) {
	if r.Verdict != VerdictAborted {
		return time.Time{}, false
	}
	var last time.Time
	for _, p := range r.Phases {
		if p.Name == "faults" && !p.End.IsZero() {
			return p.End, true
		}
		if p.Name != "rollbacks" && p.Name != "recovery" && !p.End.IsZero() {
			last = p.End
		}
	}
	if last.IsZero() {
		last = r.Ended
	}
	return last, !last.IsZero()
}

// breakerSegments merges consecutive readings of the same breaker state.
func breakerSegments(r *Result, p ProbeSeries, s timeScale, y, h float64) []bandView {
	var segs []bandView
	var cur string
	var start time.Time
	flush := func(end time.Time) {
		if cur == "" {
			return
		}
		x0, x1 := s.x(start), s.x(end)
		segs = append(segs, bandView{Name: cur, Class: "br-" + cssName(cur), X: x0, W: max(x1-x0, 0.5), Y: y, H: h,
			Title: "breaker " + cur + " " + r.offset(start) + " → " + r.offset(end),
			Start: start.UTC().Format(time.RFC3339Nano), End: end.UTC().Format(time.RFC3339Nano)})
	}
	var last time.Time
	for _, o := range p.Observations {
		st := strings.ToLower(strings.TrimSpace(o.Values["breaker"]))
		if st == "" {
			continue
		}
		st = strings.ReplaceAll(strings.ReplaceAll(st, "_", "-"), "halfopen", "half-open")
		last = o.Time
		if st == cur {
			continue
		}
		flush(o.Time)
		cur, start = st, o.Time
	}
	flush(last) // a state is known only up to its last reading
	return segs
}

func cssName(s string) string {
	var b strings.Builder
	for _, c := range strings.ToLower(s) {
		if (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' {
			b.WriteRune(c)
		} else {
			b.WriteByte('-')
		}
	}
	return b.String()
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
