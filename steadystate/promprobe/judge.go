package promprobe

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/faultline-dev/faultline/steadystate"
)

// sample is one series of a query result: its labels, printed, and its value.
type sample struct {
	Series string // `checkout_errors{instance="a"}`, "{}" without labels, "scalar"
	Labels map[string]string
	Value  float64
}

// verdict is the judgement of one query result.
type verdict struct {
	Status steadystate.Status
	Detail string
	Values map[string]string
}

// maxNamed bounds how many series a Detail names, and how many per-series values
// are recorded in Values.
const maxNamed = 5

const maxSeriesValues = 10

// comparison is what an ok value satisfies; nil bounds are not checked.
type comparison struct {
	below, above, equals *float64
	between              []float64
}

func (s *Spec) comparison() comparison {
	return comparison{below: s.Below, above: s.Above, equals: s.Equals, between: s.Between}
}

// ok reports whether v satisfies every bound; NaN satisfies none.
func (c comparison) ok(v float64) bool {
	if math.IsNaN(v) {
		return false
	}
	switch {
	case c.below != nil && !(v < *c.below):
		return false
	case c.above != nil && !(v > *c.above):
		return false
	case c.equals != nil && v != *c.equals:
		return false
	case len(c.between) == 2 && !(c.between[0] <= v && v <= c.between[1]):
		return false
	}
	return true
}

// String says what is ok: "below 0.05", "above 1 and below 5", "between 0 and 1".
func (c comparison) String() string {
	var parts []string
	if c.above != nil {
		parts = append(parts, "above "+num(*c.above))
	}
	if c.below != nil {
		parts = append(parts, "below "+num(*c.below))
	}
	if c.equals != nil {
		parts = append(parts, "equal to "+num(*c.equals))
	}
	if len(c.between) == 2 {
		parts = append(parts, "between "+num(c.between[0])+" and "+num(c.between[1]))
	}
	return strings.Join(parts, " and ")
}

// num formats a value for a Detail: 4 significant digits.
func num(v float64) string { return strconv.FormatFloat(v, 'g', 4, 64) }

// exact formats a value for Values: every digit.
func exact(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// judge applies the empty-result rule, the series rule and the comparison. Series
// whose value is NaN (0/0, histogram_quantile of no observations) carry no data and
// are left out, as a PromQL filter (x < 0.01) leaves them out; only NaN is empty.
func (s *Spec) judge(res []sample) verdict {
	if len(res) == 0 {
		return s.empty()
	}
	var nan int
	res = slices.DeleteFunc(slices.Clone(res), func(r sample) bool {
		if math.IsNaN(r.Value) {
			nan++
			return true
		}
		return false
	})
	if len(res) == 0 {
		v := s.empty()
		v.Detail = "empty result: only NaN (0/0: no traffic in the window?)"
		v.Values["series"] = strconv.Itoa(nan)
		v.Values["nan"] = strconv.Itoa(nan)
		return v
	}
	values := map[string]string{"series": strconv.Itoa(len(res) + nan)}
	if nan > 0 {
		values["nan"] = strconv.Itoa(nan)
	}
	if len(res) == 1 {
		values["value"] = exact(res[0].Value)
	} else {
		for i, r := range res {
			if i == maxSeriesValues {
				break
			}
			values[r.Series] = exact(r.Value)
		}
	}
	c := s.comparison()
	switch s.Series {
	case SeriesAll, SeriesAny:
		var bad, good []sample
		for _, r := range res {
			if c.ok(r.Value) {
				good = append(good, r)
			} else {
				bad = append(bad, r)
			}
		}
		if s.Series == SeriesAll && len(bad) == 0 || s.Series == SeriesAny && len(good) > 0 {
			if len(res) == 1 {
				return verdict{steadystate.StatusOK, fmt.Sprintf("%s, %s", num(res[0].Value), c), values}
			}
			return verdict{steadystate.StatusOK, fmt.Sprintf("%d of %d series %s", len(good), len(res), c), values}
		}
		if s.Series == SeriesAll {
			return verdict{steadystate.StatusFailed, fmt.Sprintf("%d of %d series not %s: %s", len(bad), len(res), c, nameValues(bad)), values}
		}
		return verdict{steadystate.StatusFailed, fmt.Sprintf("none of %d series %s: %s", len(res), c, nameValues(bad)), values}
	}
	if len(res) > 1 {
		return verdict{steadystate.StatusErrored, fmt.Sprintf("query returned %d series, want one (aggregate it, or set series: all or any): %s",
			len(res), nameValues(res)), values}
	}
	v := res[0].Value
	if c.ok(v) {
		return verdict{steadystate.StatusOK, fmt.Sprintf("%s, %s", num(v), c), values}
	}
	return verdict{steadystate.StatusFailed, fmt.Sprintf("%s, not %s", num(v), c), values}
}

// empty is the outcome of a query that returned no series.
func (s *Spec) empty() verdict {
	st := steadystate.StatusErrored
	switch s.IfEmpty {
	case EmptyFailed:
		st = steadystate.StatusFailed
	case EmptyOK:
		st = steadystate.StatusOK
	}
	return verdict{st, "empty result: no series", map[string]string{"result": "empty", "series": "0"}}
}

// nameValues lists up to maxNamed series with their values.
func nameValues(res []sample) string {
	parts := make([]string, 0, maxNamed+1)
	for i, r := range res {
		if i == maxNamed {
			parts = append(parts, fmt.Sprintf("and %d more", len(res)-maxNamed))
			break
		}
		parts = append(parts, r.Series+"="+num(r.Value))
	}
	return strings.Join(parts, ", ")
}
