package reports

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// hoverLane is what the optional inline script shows on hover: the ok
// observations per pixel column (count, min, max) and every failed or errored
// one. Latencies are µs, times ms from the timeline's T0.
type hoverLane struct {
	Probe string   `json:"p"`
	Y0    float64  `json:"y0"`
	Y1    float64  `json:"y1"`
	Cols  [][4]int `json:"c"` // column, count, min µs, max µs
	Bad   [][4]int `json:"b"` // t ms, latency µs, 1 failed / 2 errored, detail index
}

// maxHoverBad bounds the failed/errored observations the hover data carries per
// lane (they are all drawn regardless).
const maxHoverBad = 5000

// buildLane draws one probe's observations on a log latency scale between top and
// top+tlLaneH. Ok observations are reduced to one min–max stroke per pixel column;
// every failed and every errored observation is drawn as its own mark (marks at the
// same point, to 0.1 px, are drawn once).
func buildLane(p ProbeSeries, s timeScale, top float64, details *detailTable) laneView {
	l := laneView{Probe: p.Name, Kind: p.Kind, LabelY: top + 16}
	l.Y1, l.Y0 = top+tlLanePad, top+tlLaneH-tlLanePad-6
	var minL, maxL time.Duration
	for _, o := range p.Observations {
		if o.Latency <= 0 {
			continue
		}
		if minL == 0 || o.Latency < minL {
			minL = o.Latency
		}
		maxL = max(maxL, o.Latency)
	}
	ls := newLogScale(minL, maxL, l.Y0, l.Y1)
	l.Lo, l.Hi = int64(ls.Lo), int64(ls.Hi)
	l.Decades = ls.decades()
	l.Hover = hoverLane{Probe: p.Name, Y0: l.Y0, Y1: l.Y1}

	type col struct {
		n        int
		min, max time.Duration
	}
	cols := map[int]*col{}
	var order []int
	var fail, errd strings.Builder
	seenF, seenE := map[string]bool{}, map[string]bool{}
	addOK := func(c, n int, lo, hi time.Duration) {
		cc, ok := cols[c]
		if !ok {
			cc = &col{min: lo, max: hi}
			cols[c] = cc
			order = append(order, c)
		}
		cc.n += n
		cc.min, cc.max = min(cc.min, lo), max(cc.max, hi)
	}
	strokes := p.Reduced != nil && hasOKRanges(p.Reduced)
	if r := p.Reduced; strokes {
		// A reduced series: each interval's ok observations are one stroke from its
		// fastest to its slowest over the columns the interval covers (the ok
		// observations kept lie within it); counts are the series' own.
		for _, iv := range r.Intervals {
			if iv.OK == 0 || iv.OKMax <= 0 {
				continue
			}
			c0, c1 := s.column(iv.Start), s.column(iv.Start.Add(r.Interval-1))
			for c := c0; c <= c1; c++ {
				n := iv.OK / (c1 - c0 + 1)
				if c == c0 {
					n += iv.OK % (c1 - c0 + 1)
				}
				addOK(c, n, iv.OKMin, iv.OKMax)
			}
		}
		slices.Sort(order)
	}
	for _, o := range p.Observations {
		switch o.Status {
		case obsOK:
			l.NOK++
			n := 1
			if strokes {
				n = 0 // counted with its interval
			}
			addOK(s.column(o.Time), n, o.Latency, o.Latency)
		case obsFailed:
			l.NFailed++
			x, y := s.x(o.Time), ls.y(o.Latency)
			key := num(x) + " " + num(y)
			if !seenF[key] {
				seenF[key] = true
				// A downward triangle centred on (x, y).
				fmt.Fprintf(&fail, "M%s %sh6l-3 5z", num(x-3), num(y-2.5))
			}
			l.addBad(s, o, 1, details)
		default: // errored, or a status this version does not know
			l.NErrored++
			x, y := s.x(o.Time), ls.y(o.Latency)
			key := num(x) + " " + num(y)
			if !seenE[key] {
				seenE[key] = true
				// A cross centred on (x, y).
				fmt.Fprintf(&errd, "M%s %sl5 5m0-5l-5 5", num(x-2.5), num(y-2.5))
			}
			l.addBad(s, o, 2, details)
		}
	}
	var ok strings.Builder
	for _, c := range order {
		cc := cols[c]
		x := s.X0 + float64(c) + 0.5
		y0, y1 := ls.y(cc.min), ls.y(cc.max)
		if num(y0) == num(y1) {
			fmt.Fprintf(&ok, "M%s %sv0", num(x), num(y0))
		} else {
			fmt.Fprintf(&ok, "M%s %sV%s", num(x), num(y0), num(y1))
		}
		l.Hover.Cols = append(l.Hover.Cols, [4]int{c, cc.n, int(cc.min / time.Microsecond), int(cc.max / time.Microsecond)})
	}
	l.OKPath, l.FailPath, l.ErrPath = ok.String(), fail.String(), errd.String()
	if p.Reduced != nil {
		l.NOK, l.NFailed, l.NErrored = p.OK, p.Failed, p.Errored
	}
	return l
}

// hasOKRanges reports whether r's intervals carry the range of their ok
// observations (a report.json written before they did has none: its kept ok
// observations are drawn as they are).
func hasOKRanges(r *Reduction) bool {
	for _, iv := range r.Intervals {
		if iv.OKMax > 0 {
			return true
		}
	}
	return false
}

func (l *laneView) addBad(s timeScale, o Observation, status int, details *detailTable) {
	if len(l.Hover.Bad) >= maxHoverBad {
		return
	}
	l.Hover.Bad = append(l.Hover.Bad, [4]int{int(o.Time.Sub(s.T0).Milliseconds()), int(o.Latency / time.Microsecond), status, details.index(o.Detail)})
}

// detailTable interns observation details for the hover data (they repeat a lot).
type detailTable struct {
	idx  map[string]int
	list []string
}

func (d *detailTable) index(s string) int {
	if d.idx == nil {
		d.idx = map[string]int{}
	}
	s = truncate(firstLine(s), 160)
	if i, ok := d.idx[s]; ok {
		return i
	}
	d.idx[s] = len(d.list)
	d.list = append(d.list, s)
	return len(d.list) - 1
}
