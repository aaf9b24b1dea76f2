package steadystate

import (
	"math"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 23, 6, 0, 0, 0, time.UTC)

// series builds observations 100ms apart with the given statuses and latencies.
func series(statuses string, lat func(i int) time.Duration) []Observation {
	var out []Observation
	for i, c := range statuses {
		o := Observation{Time: t0.Add(time.Duration(i) * 100 * time.Millisecond), Latency: lat(i)}
		switch c {
		case 'o':
			o.Status = StatusOK
		case 'f':
			o.Status = StatusFailed
		case 'e':
			o.Status = StatusErrored
		}
		out = append(out, o)
	}
	return out
}

func within(got, want time.Duration, rel float64) bool {
	return math.Abs(float64(got-want)) <= rel*float64(want)
}

func TestSummarizePercentiles(t *testing.T) {
	// 100 judged observations with latencies 1ms..100ms, plus errored ones with huge
	// latencies that must not count.
	var obs []Observation
	for i := 1; i <= 100; i++ {
		st := StatusOK
		if i%10 == 0 {
			st = StatusFailed
		}
		obs = append(obs, Observation{Time: t0, Status: st, Latency: time.Duration(i) * time.Millisecond})
	}
	for range 7 {
		obs = append(obs, Observation{Time: t0, Status: StatusErrored, Latency: 30 * time.Minute})
	}
	s := Summarize(obs)
	if s.OK != 90 || s.Failed != 10 || s.Errored != 7 {
		t.Fatalf("counts = %d/%d/%d, want 90/10/7", s.OK, s.Failed, s.Errored)
	}
	if s.SuccessRatio != 0.9 {
		t.Errorf("ratio = %v, want 0.9", s.SuccessRatio)
	}
	for _, c := range []struct {
		name      string
		got, want time.Duration
	}{
		{"p50", s.P50, 50 * time.Millisecond},
		{"p95", s.P95, 95 * time.Millisecond},
		{"p99", s.P99, 99 * time.Millisecond},
		{"max", s.Max, 100 * time.Millisecond},
	} {
		if !within(c.got, c.want, 0.001) {
			t.Errorf("%s = %v, want %v ±0.1%%", c.name, c.got, c.want)
		}
	}
	if s.Max != 100*time.Millisecond {
		t.Errorf("max must be exact, got %v", s.Max)
	}
}

func TestSummarizeEdges(t *testing.T) {
	s := Summarize(nil)
	if !math.IsNaN(s.SuccessRatio) || s.Judged() != 0 || s.P99 != 0 {
		t.Errorf("empty: %+v", s)
	}
	s = Summarize(series("eee", func(int) time.Duration { return time.Second }))
	if !math.IsNaN(s.SuccessRatio) || s.Errored != 3 {
		t.Errorf("errored only: %+v", s)
	}
	// Latency above the histogram range is clamped, max stays exact.
	s = Summarize(series("o", func(int) time.Duration { return 2 * time.Hour }))
	if !within(s.P99, time.Hour, 0.001) || s.Max != 2*time.Hour {
		t.Errorf("clamp: p99 %v max %v", s.P99, s.Max)
	}
	// Microsecond precision.
	s = Summarize(series("ooo", func(int) time.Duration { return 1500 * time.Microsecond }))
	if s.P50 != 1500*time.Microsecond {
		t.Errorf("p50 = %v, want 1.5ms", s.P50)
	}
}

func TestCheckSLO(t *testing.T) {
	fast := func(int) time.Duration { return 10 * time.Millisecond }
	slowTail := func(i int) time.Duration {
		if i >= 95 {
			return 2 * time.Second
		}
		return 10 * time.Millisecond
	}
	tests := []struct {
		name     string
		obs      []Observation
		want     SLOBounds
		statuses []CheckStatus
		measured []string
		reason   string
	}{
		{
			name:     "all good",
			obs:      series(strings.Repeat("o", 100), fast),
			want:     SLOBounds{SuccessRatio: 0.99, LatencyP99: 250 * time.Millisecond},
			statuses: []CheckStatus{CheckPassed, CheckPassed},
			measured: []string{"1 (100 ok / 100)", "p99 10ms"},
		},
		{
			name:     "ratio too low, errored excluded",
			obs:      series(strings.Repeat("o", 21)+strings.Repeat("f", 29)+"eeee", fast),
			want:     SLOBounds{SuccessRatio: 0.99},
			statuses: []CheckStatus{CheckFailed},
			measured: []string{"0.42 (21 ok / 50)"},
			reason:   "29 of 50 observations failed (4 errored not counted)",
		},
		{
			name:     "tail latency",
			obs:      series(strings.Repeat("o", 100), slowTail),
			want:     SLOBounds{LatencyP50: 50 * time.Millisecond, LatencyP95: 50 * time.Millisecond, LatencyP99: 250 * time.Millisecond},
			statuses: []CheckStatus{CheckPassed, CheckPassed, CheckFailed},
			measured: []string{"p50 10ms", "p95 10ms", "p99 2s"},
			reason:   "p99 latency 2s exceeds 250ms over 100 observations",
		},
		{
			name:     "only errored",
			obs:      series("eeee", fast),
			want:     SLOBounds{SuccessRatio: 0.9, LatencyP99: time.Second},
			statuses: []CheckStatus{CheckErrored, CheckErrored},
			measured: []string{"no data", "no data"},
			reason:   "4 errored",
		},
		{
			name:     "nothing checked",
			obs:      series("ff", fast),
			want:     SLOBounds{},
			statuses: nil,
		},
		{
			name:     "ratio just below bound is not printed as the bound",
			obs:      series(strings.Repeat("o", 98995)+strings.Repeat("f", 1005), fast),
			want:     SLOBounds{SuccessRatio: 0.99},
			statuses: []CheckStatus{CheckFailed},
			measured: []string{"0.98995 (98995 ok / 100000)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := CheckSLO("during payments-down", "checkout", tt.obs, tt.want)
			if len(got) != len(tt.statuses) {
				t.Fatalf("got %d checks, want %d: %+v", len(got), len(tt.statuses), got)
			}
			for i, c := range got {
				if c.Status != tt.statuses[i] {
					t.Errorf("check %d %s: status %s, want %s (%s)", i, c.Name, c.Status, tt.statuses[i], c.Reason)
				}
				if c.Measured != tt.measured[i] {
					t.Errorf("check %d: measured %q, want %q", i, c.Measured, tt.measured[i])
				}
				if c.Kind != "slo" || c.Probe != "checkout" || !strings.HasPrefix(c.Name, "slo(checkout).") ||
					!strings.HasSuffix(c.Name, " during payments-down") {
					t.Errorf("check %d: bad identity %q/%q/%q", i, c.Name, c.Kind, c.Probe)
				}
				if c.Status != CheckPassed && c.Reason == "" {
					t.Errorf("check %d: %s without reason", i, c.Status)
				}
			}
			if tt.reason != "" {
				found := false
				for _, c := range got {
					found = found || strings.Contains(c.Reason, tt.reason)
				}
				if !found {
					t.Errorf("no reason contains %q: %+v", tt.reason, got)
				}
			}
		})
	}
}

func TestCheckSLONamesAndExpected(t *testing.T) {
	got := CheckSLO("", "api", series("o", func(int) time.Duration { return time.Millisecond }),
		SLOBounds{SuccessRatio: 0.995, LatencyP95: 1500 * time.Millisecond})
	if got[0].Name != "slo(api).successRatio" || got[0].Expected != ">= 0.995" {
		t.Errorf("ratio check: %q %q", got[0].Name, got[0].Expected)
	}
	if got[1].Name != "slo(api).latencyP95" || got[1].Expected != "<= 1.5s" {
		t.Errorf("latency check: %q %q", got[1].Name, got[1].Expected)
	}
}

func TestSuccessRatioOver(t *testing.T) {
	obs := series("ooooffeof", func(int) time.Duration { return 0 })
	r, n := SuccessRatioOver(obs, t0.Add(400*time.Millisecond)) // "ffeof"
	if n != 4 || r != 0.25 {
		t.Errorf("got %v over %d, want 0.25 over 4", r, n)
	}
	r, n = SuccessRatioOver(obs, t0.Add(time.Hour))
	if n != 0 || !math.IsNaN(r) {
		t.Errorf("empty window: got %v over %d", r, n)
	}
	if r, n = SuccessRatioOver(obs, time.Time{}); n != 8 || r != 5.0/8 {
		t.Errorf("all: got %v over %d", r, n)
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                         "0s",
		45 * time.Microsecond:     "45µs",
		183456789:                 "183ms",
		2123456789:                "2.12s",
		3200 * time.Millisecond:   "3.2s",
		-1500 * time.Millisecond:  "-1.5s",
		90*time.Second + 12345678: "1m30s",
	} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%d) = %q, want %q", d, got, want)
		}
	}
}

// BenchmarkSummarize10k summarizes a 10 000-observation series (about 17 minutes
// of a probe sampled every 100ms).
func BenchmarkSummarize10k(b *testing.B) {
	obs := series(strings.Repeat("ooooooooof", 1000), func(i int) time.Duration {
		return time.Duration(i%997) * 173 * time.Microsecond
	})
	b.ReportAllocs()
	for b.Loop() {
		if s := Summarize(obs); s.OK != 9000 {
			b.Fatal(s.OK)
		}
	}
}
