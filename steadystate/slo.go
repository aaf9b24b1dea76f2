package steadystate

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Summary condenses a series of observations.
//
// Errored observations (the probe could not ask) are counted but take no part in the
// success ratio or the latency percentiles: those describe the system, and an errored
// observation says nothing about it.
type Summary struct {
	OK, Failed, Errored int
	// SuccessRatio is OK/(OK+Failed); NaN when OK+Failed == 0 (undefined).
	SuccessRatio float64
	// Latency percentiles and maximum over the ok and failed observations, to the
	// microsecond (3 significant digits); zero when there are none.
	P50, P95, P99, Max time.Duration
}

// Judged is the number of observations that say something about the system.
func (s Summary) Judged() int { return s.OK + s.Failed }

// Latency histogram range: 1µs .. 1h, 3 significant digits.
const (
	histLowest  = 1
	histHighest = int64(time.Hour / time.Microsecond)
	histDigits  = 3
)

// Summarize counts the observations and computes the success ratio and latency
// percentiles of the ok and failed ones. Latencies above 1h are recorded as 1h.
func Summarize(obs []Observation) Summary {
	s := Summary{SuccessRatio: math.NaN()}
	h := hdrhistogram.New(histLowest, histHighest, histDigits)
	for _, o := range obs {
		switch o.Status {
		case StatusOK:
			s.OK++
		case StatusFailed:
			s.Failed++
		default:
			s.Errored++
			continue
		}
		us := min(max(o.Latency.Microseconds(), 0), histHighest)
		_ = h.RecordValue(us) // cannot fail: us is clamped into range
		if o.Latency > s.Max {
			s.Max = o.Latency // exact, not the histogram's bucket bound
		}
	}
	if n := s.Judged(); n > 0 {
		s.SuccessRatio = float64(s.OK) / float64(n)
		s.P50 = quantile(h, 50)
		s.P95 = quantile(h, 95)
		s.P99 = quantile(h, 99)
	}
	return s
}

func quantile(h *hdrhistogram.Histogram, q float64) time.Duration {
	return time.Duration(h.ValueAtQuantile(q)) * time.Microsecond
}

// SLOBounds are the targets of one probe's SLO; a zero field is not checked.
type SLOBounds struct {
	SuccessRatio float64
	LatencyP50   time.Duration
	LatencyP95   time.Duration
	LatencyP99   time.Duration
}

// IsZero reports whether no bound is set.
func (b SLOBounds) IsZero() bool { return b == SLOBounds{} }

// CheckSLO checks obs against every non-zero bound of want and returns one Check per
// bound, in the order successRatio, latencyP50, latencyP95, latencyP99.
//
// name labels the window the observations come from ("baseline", "during
// payments-down"); the checks are named "slo(<probe>).<bound> <name>", e.g.
// "slo(checkout).latencyP99 during payments-down" (no suffix when name is empty).
//
// A bound holds when the measured value is >= SuccessRatio, or <= the latency bound.
// When no observation is ok or failed (none at all, or all errored), every check is
// CheckErrored: the SLO could not be judged.
func CheckSLO(name, probe string, obs []Observation, want SLOBounds) []Check {
	s := Summarize(obs)
	suffix := ""
	if name != "" {
		suffix = " " + name
	}
	var out []Check
	base := func(bound, expected string) Check {
		c := Check{
			Name:     fmt.Sprintf("slo(%s).%s%s", probe, bound, suffix),
			Kind:     "slo",
			Probe:    probe,
			Expected: expected,
			Details: map[string]string{
				"ok":      strconv.Itoa(s.OK),
				"failed":  strconv.Itoa(s.Failed),
				"errored": strconv.Itoa(s.Errored),
			},
		}
		if name != "" {
			c.Details["window"] = name
		}
		return c
	}
	noData := func(c Check) Check {
		c.Status = CheckErrored
		c.Measured = "no data"
		if s.Errored > 0 {
			c.Reason = fmt.Sprintf("no ok or failed observations of %s (%d errored): the probe could not ask", probe, s.Errored)
		} else {
			c.Reason = fmt.Sprintf("no observations of %s in the window", probe)
		}
		return c
	}

	if want.SuccessRatio > 0 {
		c := base("successRatio", ">= "+formatRatio(want.SuccessRatio))
		if s.Judged() == 0 {
			c = noData(c)
		} else {
			c.Details["successRatio"] = strconv.FormatFloat(s.SuccessRatio, 'f', -1, 64)
			measured := formatRatioAgainst(s.SuccessRatio, want.SuccessRatio)
			c.Measured = fmt.Sprintf("%s (%d ok / %d)", measured, s.OK, s.Judged())
			if s.SuccessRatio >= want.SuccessRatio {
				c.Status = CheckPassed
			} else {
				c.Status = CheckFailed
				c.Reason = fmt.Sprintf("success ratio %s is below %s: %d of %d observations failed",
					measured, formatRatio(want.SuccessRatio), s.Failed, s.Judged())
				if s.Errored > 0 {
					c.Reason += fmt.Sprintf(" (%d errored not counted)", s.Errored)
				}
			}
		}
		out = append(out, c)
	}
	for _, l := range []struct {
		bound string
		pct   string
		want  time.Duration
		got   time.Duration
	}{
		{"latencyP50", "p50", want.LatencyP50, s.P50},
		{"latencyP95", "p95", want.LatencyP95, s.P95},
		{"latencyP99", "p99", want.LatencyP99, s.P99},
	} {
		if l.want <= 0 {
			continue
		}
		c := base(l.bound, "<= "+FormatDuration(l.want))
		if s.Judged() == 0 {
			out = append(out, noData(c))
			continue
		}
		c.Measured = l.pct + " " + FormatDuration(l.got)
		c.Details[l.pct] = l.got.String()
		c.Details["max"] = s.Max.String()
		if l.got <= l.want {
			c.Status = CheckPassed
		} else {
			c.Status = CheckFailed
			c.Reason = fmt.Sprintf("%s latency %s exceeds %s over %d observations (max %s)",
				l.pct, FormatDuration(l.got), FormatDuration(l.want), s.Judged(), FormatDuration(s.Max))
		}
		out = append(out, c)
	}
	return out
}

// SuccessRatioOver returns OK/(OK+Failed) of the observations at or after since, and
// n = OK+Failed. Errored observations are ignored. When n == 0 the ratio is NaN
// (every comparison with it is false); callers check n first.
func SuccessRatioOver(obs []Observation, since time.Time) (ratio float64, n int) {
	ok := 0
	for i := len(obs) - 1; i >= 0; i-- {
		o := obs[i]
		if o.Time.Before(since) {
			continue
		}
		switch o.Status {
		case StatusOK:
			ok++
			n++
		case StatusFailed:
			n++
		}
	}
	if n == 0 {
		return math.NaN(), 0
	}
	return float64(ok) / float64(n), n
}

// FormatDuration writes d rounded to 3 significant digits: "183ms", "2.12s", "45µs".
func FormatDuration(d time.Duration) string {
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

// formatRatio writes r with at most 4 decimals: "0.99", "0.4286", "1".
func formatRatio(r float64) string {
	return strconv.FormatFloat(math.Round(r*1e4)/1e4, 'f', -1, 64)
}

// formatRatioAgainst writes r so that it never reads as equal to a bound it differs
// from: 0.98996 against 0.99 is "0.98996", not "0.99".
func formatRatioAgainst(r, bound float64) string {
	for prec := 4; prec <= 10; prec++ {
		p := math.Pow(10, float64(prec))
		rr := math.Round(r*p) / p
		if (r >= bound) == (rr >= bound) {
			return strconv.FormatFloat(rr, 'f', -1, 64)
		}
	}
	return strconv.FormatFloat(r, 'f', -1, 64)
}
