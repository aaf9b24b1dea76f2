package reports

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// timeScale maps instants to x coordinates of the timeline's plot area:
//
//	x(t) = X0 + (t − T0) / (T1 − T0) · (X1 − X0)
//
// The SVG carries T0, T1 (Unix ms), X0 and X1 as data-* attributes so a reader
// (and the tests) can map any coordinate back to its instant.
type timeScale struct {
	T0, T1 time.Time
	X0, X1 float64
}

func (s timeScale) x(t time.Time) float64 {
	span := s.T1.Sub(s.T0)
	if span <= 0 {
		return s.X0
	}
	x := s.X0 + float64(t.Sub(s.T0))/float64(span)*(s.X1-s.X0)
	return math.Max(s.X0, math.Min(s.X1, x))
}

// column is the pixel column (0-based, one per unit of x) an instant falls in.
func (s timeScale) column(t time.Time) int {
	return int(math.Floor(s.x(t) - s.X0))
}

// ticks returns about n evenly spaced "nice" offsets from T0 with labels.
func (s timeScale) ticks(n int) []tick {
	span := s.T1.Sub(s.T0)
	if span <= 0 {
		return nil
	}
	steps := []time.Duration{
		10 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond,
		100 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond,
		time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second,
		time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute, time.Hour,
	}
	step := steps[len(steps)-1]
	for _, st := range steps {
		if span/st <= time.Duration(n) {
			step = st
			break
		}
	}
	var out []tick
	for d := time.Duration(0); d <= span; d += step {
		out = append(out, tick{X: s.x(s.T0.Add(d)), Label: "+" + formatDuration(d)})
	}
	return out
}

type tick struct {
	X     float64
	Y     float64
	Label string
}

// logScale maps latencies to y coordinates of a lane, on a log scale from Lo (at
// Y0, the bottom) to Hi (at Y1, the top); latencies at or below Lo sit at the bottom.
type logScale struct {
	Lo, Hi time.Duration
	Y0, Y1 float64
}

func newLogScale(minLat, maxLat time.Duration, y0, y1 float64) logScale {
	if minLat <= 0 {
		minLat = time.Microsecond
	}
	if maxLat < minLat {
		maxLat = minLat
	}
	lo := time.Duration(math.Pow(10, math.Floor(math.Log10(float64(minLat)))))
	hi := time.Duration(math.Pow(10, math.Ceil(math.Log10(float64(maxLat)))))
	if hi <= lo {
		hi = lo * 10
	}
	return logScale{Lo: lo, Hi: hi, Y0: y0, Y1: y1}
}

func (s logScale) y(l time.Duration) float64 {
	if l <= s.Lo {
		return s.Y0
	}
	if l >= s.Hi {
		return s.Y1
	}
	f := (math.Log10(float64(l)) - math.Log10(float64(s.Lo))) / (math.Log10(float64(s.Hi)) - math.Log10(float64(s.Lo)))
	return s.Y0 + f*(s.Y1-s.Y0)
}

// decades returns a grid line per power of ten between Lo and Hi.
func (s logScale) decades() []tick {
	var out []tick
	for d := s.Lo; d <= s.Hi; d *= 10 {
		out = append(out, tick{Y: s.y(d), Label: formatDuration(d)})
		if d > math.MaxInt64/10 {
			break
		}
	}
	return out
}

// num formats a coordinate with at most one decimal: "12", "12.5".
func num(f float64) string {
	s := strconv.FormatFloat(math.Round(f*10)/10, 'f', 1, 64)
	s = strings.TrimSuffix(s, ".0")
	if s == "-0" {
		return "0"
	}
	return s
}
