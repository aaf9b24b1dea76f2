package circuitbreaker

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// errNotFound: no sample matched.
var errNotFound = errors.New("not found")

// sample is one sample of a metric: its labels and value.
type sample struct {
	labels map[string]string
	value  float64
}

// findSample returns the value of the first sample of metric name in a Prometheus
// text exposition whose labels include want. It understands the text format's
// comments, label escapes (\\, \", \n), optional timestamps and the special values
// NaN, +Inf and -Inf.
func findSample(text, name string, want map[string]string) (float64, error) {
	ss, err := findSamples(text, name, want, 1)
	if err != nil {
		return 0, err
	}
	return ss[0].value, nil
}

// findSamples returns up to limit (0: all) samples of metric name whose labels
// include want, in the order of the exposition, or errNotFound.
func findSamples(text, name string, want map[string]string, limit int) ([]sample, error) {
	var out []sample
	for n, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		rest, ok := strings.CutPrefix(line, name)
		if !ok || (rest != "" && rest[0] != '{' && rest[0] != ' ' && rest[0] != '\t') {
			continue // another metric, possibly with name as a prefix
		}
		labels := map[string]string{}
		if strings.HasPrefix(rest, "{") {
			var err error
			labels, rest, err = parseLabels(rest[1:])
			if err != nil {
				return nil, fmt.Errorf("metric %s, line %d: %w", name, n+1, err)
			}
		}
		if !matches(labels, want) {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			return nil, fmt.Errorf("metric %s, line %d: no value", name, n+1)
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return nil, fmt.Errorf("metric %s, line %d: bad value %q", name, n+1, fields[0])
		}
		out = append(out, sample{labels: labels, value: v})
		if limit > 0 && len(out) >= limit {
			break
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("metric %s%s %w", name, formatLabels(want), errNotFound)
	}
	return out, nil
}

// parseLabels reads `a="x",b="y"}` and returns the labels and what follows the brace.
func parseLabels(s string) (map[string]string, string, error) {
	out := map[string]string{}
	for {
		s = strings.TrimLeft(s, " \t")
		if strings.HasPrefix(s, "}") {
			return out, s[1:], nil
		}
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			return nil, "", fmt.Errorf("bad label list near %q", s)
		}
		key := strings.TrimSpace(s[:eq])
		s = strings.TrimLeft(s[eq+1:], " \t")
		if !strings.HasPrefix(s, `"`) {
			return nil, "", fmt.Errorf("label %s: value must be quoted", key)
		}
		var b strings.Builder
		i := 1
		for ; i < len(s) && s[i] != '"'; i++ {
			if s[i] == '\\' && i+1 < len(s) {
				i++
				if s[i] == 'n' {
					b.WriteByte('\n')
					continue
				}
			}
			b.WriteByte(s[i])
		}
		if i >= len(s) {
			return nil, "", fmt.Errorf("label %s: unterminated value", key)
		}
		out[key] = b.String()
		s = strings.TrimLeft(s[i+1:], " \t")
		s = strings.TrimPrefix(s, ",")
	}
}

func matches(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

func formatLabels(l map[string]string) string {
	if len(l) == 0 {
		return ""
	}
	parts := make([]string, 0, len(l))
	for k, v := range l {
		parts = append(parts, fmt.Sprintf("%s=%q", k, v))
	}
	sort.Strings(parts)
	return "{" + strings.Join(parts, ",") + "}"
}
