package circuitbreaker

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/faultline-dev/faultline/steadystate"
)

var t0 = time.Date(2026, 11, 23, 7, 0, 0, 0, time.UTC)

const every = 100 * time.Millisecond

// seg is a run of n observations every 100ms with the same answer.
type seg struct {
	n       int
	latency time.Duration
	status  steadystate.Status
	state   string // Values["breaker"], "" for none
}

func ok(n int, lat time.Duration, state string) seg {
	return seg{n, lat, steadystate.StatusOK, state}
}

func bad(n int, lat time.Duration, state string) seg {
	return seg{n, lat, steadystate.StatusFailed, state}
}

// series lays segments out from t0, one observation every 100ms.
func series(segs ...seg) []steadystate.Observation {
	var out []steadystate.Observation
	at := t0
	for _, s := range segs {
		for range s.n {
			o := steadystate.Observation{Time: at, Status: s.status, Latency: s.latency}
			if s.state != "" {
				o.Values = map[string]string{StateValue: s.state}
			}
			out = append(out, o)
			at = at.Add(every)
		}
	}
	return out
}

// timeline: baseline 0–1s, fault "payments-down" from 1s for faultLen.
func timeline(faultLen time.Duration, obs map[string][]steadystate.Observation) *steadystate.Timeline {
	return &steadystate.Timeline{
		Faults:       []steadystate.Window{{Name: "payments-down", Start: t0.Add(time.Second), End: t0.Add(time.Second + faultLen)}},
		Observations: obs,
	}
}

func spec(mod ...func(*Spec)) Spec {
	s := Spec{Probe: "checkout", OpensWithin: 2 * time.Second, FastFailUnder: 50 * time.Millisecond, ClosesWithin: 5 * time.Second}
	for _, m := range mod {
		m(&s)
	}
	return s
}

func withHeader(s *Spec) { s.StateFrom = &StateFrom{Header: "X-Circuit-State"} }

const (
	ms    = time.Millisecond
	fastL = 2 * ms
	slowL = 200 * ms
)

// resilient is a well-behaved breaker: 1s baseline, 3 slow failures, open for the
// rest of the 5s fault with one slow half-open probe, then closed 1.5s after it.
func resilient() []steadystate.Observation {
	return series(
		ok(10, 5*ms, "closed"),    // baseline 0–1s
		ok(3, slowL, "closed"),    // 1.0–1.3s: timeouts, fallback (slow)
		ok(20, fastL, "open"),     // 1.3–3.3s
		ok(1, slowL, "half-open"), // 3.3s: the half-open probe, slow
		ok(26, fastL, "open"),     // 3.4–6.0s
		ok(15, fastL, "open"),     // 6.0–7.5s: fault over, still open
		ok(1, 5*ms, "half-open"),  // 7.5s
		ok(30, 5*ms, "closed"),    // 7.6–10.6s
	)
}

func TestCheck(t *testing.T) {
	fault := 5 * time.Second
	tests := []struct {
		name     string
		spec     Spec
		tl       *steadystate.Timeline
		status   steadystate.CheckStatus
		measured []string // substrings of Measured
		reason   []string // substrings of Reason
		details  map[string]string
	}{
		{
			name:     "opens, stays open, closes",
			spec:     spec(withHeader),
			tl:       timeline(fault, map[string][]steadystate.Observation{"checkout": resilient()}),
			status:   steadystate.CheckPassed,
			measured: []string{"opened after 300ms", "0 slow answers while open", "closed after 1.6s"},
			details: map[string]string{
				"opened after (answers fast)": "300ms", "opened after (state open)": "300ms",
				"half-open trials": "1 (1 ok, 0 failed)", "closed after (answers ok)": "0s", "closed after (state closed)": "1.6s",
				"fault window": "payments-down: 5s", "state source": "header X-Circuit-State of checkout",
			},
		},
		{
			name: "latency only: fallback counts as success",
			spec: spec(),
			tl: timeline(fault, map[string][]steadystate.Observation{"checkout": series(
				ok(10, 5*ms, ""), bad(2, slowL, ""), ok(48, fastL, ""), ok(30, 5*ms, ""))}),
			status:   steadystate.CheckPassed,
			measured: []string{"opened after 200ms", "closed after 0s"},
			details:  map[string]string{"state source": "none (latency only)", "opened after (state open)": "no state readings"},
		},
		{
			name: "too slow to open",
			spec: spec(withHeader),
			tl: timeline(fault, map[string][]steadystate.Observation{"checkout": series(
				ok(10, 5*ms, "closed"), ok(30, slowL, "closed"), ok(20, fastL, "open"), ok(40, 5*ms, "closed"))}),
			status:   steadystate.CheckFailed,
			measured: []string{"opened after 3s"},
			reason:   []string{"breaker opened after 3s, later than opensWithin 2s"},
		},
		{
			name: "state opens later than answers get fast",
			spec: spec(withHeader),
			tl: timeline(fault, map[string][]steadystate.Observation{"checkout": series(
				ok(10, 5*ms, "closed"), bad(25, fastL, "closed"), ok(25, fastL, "open"), ok(40, 5*ms, "closed"))}),
			status:  steadystate.CheckFailed,
			reason:  []string{"breaker opened after 2.5s, later than opensWithin 2s"},
			details: map[string]string{"opened after (answers fast)": "0s", "opened after (state open)": "2.5s"},
		},
		{
			name: "flapping: closed and re-opened while the fault held",
			spec: spec(withHeader),
			tl: timeline(fault, map[string][]steadystate.Observation{"checkout": series(
				ok(10, 5*ms, "closed"), ok(10, fastL, "open"), ok(2, 300*ms, "closed"), ok(38, fastL, "open"), ok(40, 5*ms, "closed"))}),
			status:  steadystate.CheckFailed,
			reason:  []string{"breaker flapped: it closed at +1s while the fault held and re-opened 1 time; 2 slow answers (>= 50ms) while closed, the slowest 300ms at +1s"},
			details: map[string]string{"slow answers while open": "2"},
		},
		{
			name: "never closes",
			spec: spec(withHeader),
			tl: timeline(fault, map[string][]steadystate.Observation{"checkout": series(
				ok(10, 5*ms, "closed"), ok(50, fastL, "open"), ok(60, fastL, "open"))}),
			status:   steadystate.CheckFailed,
			measured: []string{"never closed"},
			reason:   []string{`breaker never closed: 5.9s after the fault ended, 60 of 60 answers ok, last state "open"`},
		},
		{
			name: "closes too late",
			spec: spec(withHeader),
			tl: timeline(fault, map[string][]steadystate.Observation{"checkout": series(
				ok(10, 5*ms, "closed"), ok(50, fastL, "open"), ok(70, fastL, "open"), ok(10, 5*ms, "closed"))}),
			status: steadystate.CheckFailed,
			reason: []string{"breaker closed after 7s, later than closesWithin 5s"},
		},
		{
			name: "run ended before closesWithin: errored",
			spec: spec(withHeader),
			tl: timeline(fault, map[string][]steadystate.Observation{"checkout": series(
				ok(10, 5*ms, "closed"), ok(50, fastL, "open"), ok(10, fastL, "open"))}),
			status:   steadystate.CheckErrored,
			measured: []string{"not closed yet"},
			reason:   []string{"the run ended 900ms after the fault, before closesWithin 5s elapsed"},
		},
		{
			name: "fragile slowdown: never opened",
			spec: spec(withHeader),
			tl: timeline(fault, map[string][]steadystate.Observation{"checkout": series(
				ok(10, 5*ms, ""), ok(50, 2100*ms, ""), ok(30, 5*ms, ""))}),
			status:   steadystate.CheckFailed,
			measured: []string{"never opened"},
			reason:   []string{"breaker never opened: 0 fast answers (< 50ms) of 50 in the 5s fault window", "p99 latency 2.1s"},
		},
		{
			name: "fragile outage: fast errors but no breaker state",
			spec: spec(withHeader),
			tl: timeline(fault, map[string][]steadystate.Observation{"checkout": series(
				ok(10, 5*ms, ""), bad(50, fastL, ""), ok(30, 5*ms, ""))}),
			status:   steadystate.CheckFailed,
			measured: []string{"never opened"},
			reason:   []string{"breaker never opened: no observation of checkout carried a breaker state (header X-Circuit-State of checkout); the answers failed fast from 0s after the fault start (50 fast failures, no fast success), which the fault can cause with no breaker at all"},
		},
		{
			name: "state reported but never open",
			spec: spec(),
			tl: timeline(fault, map[string][]steadystate.Observation{"checkout": series(
				ok(10, 5*ms, "closed"), bad(50, fastL, "closed"), ok(30, 5*ms, "closed"))}),
			status:   steadystate.CheckFailed,
			measured: []string{"never opened"},
			reason:   []string{`its state was never "open" during the fault (states seen: closed 50)`},
		},
		{
			name: "state from another probe",
			spec: spec(func(s *Spec) { s.StateFrom = &StateFrom{Probe: "checkout-breaker"} }),
			tl: timeline(fault, map[string][]steadystate.Observation{
				"checkout": series(ok(10, 5*ms, ""), ok(50, fastL, ""), ok(40, 5*ms, "")),
				"checkout-breaker": series(ok(10, ms, "closed"), bad(5, ms, "closed"), bad(45, ms, "OPEN"),
					bad(10, ms, "half_open"), ok(30, ms, "closed")),
			}),
			status:  steadystate.CheckPassed,
			details: map[string]string{"opened after (state open)": "500ms", "closed after (state closed)": "1s", "state source": "probe checkout-breaker"},
		},
		{
			name:   "no observations",
			spec:   spec(),
			tl:     timeline(fault, nil),
			status: steadystate.CheckErrored,
			reason: []string{"no observations of checkout"},
		},
		{
			name: "only errored observations",
			spec: spec(),
			tl: timeline(fault, map[string][]steadystate.Observation{"checkout": series(
				seg{90, 0, steadystate.StatusErrored, ""})}),
			status: steadystate.CheckErrored,
			reason: []string{"all 90 observations of checkout errored: the probe could not ask"},
		},
		{
			name:   "no observation during the fault",
			spec:   spec(),
			tl:     timeline(fault, map[string][]steadystate.Observation{"checkout": series(ok(10, 5*ms, ""))}),
			status: steadystate.CheckErrored,
			reason: []string{"no ok or failed observations of checkout during the 5s fault window"},
		},
		{
			name: "nothing injected",
			spec: spec(),
			tl: &steadystate.Timeline{Observations: map[string][]steadystate.Observation{
				"checkout": resilient()}},
			status: steadystate.CheckErrored,
			reason: []string{"no fault was injected"},
		},
		{
			name:   "unknown fault name",
			spec:   spec(func(s *Spec) { s.Fault = "db-down" }),
			tl:     timeline(fault, map[string][]steadystate.Observation{"checkout": resilient()}),
			status: steadystate.CheckErrored,
			reason: []string{`no window for fault "db-down" in the run (faults: payments-down)`},
		},
		{
			name:     "errored observations are ignored",
			spec:     spec(withHeader, func(s *Spec) { s.Fault = "payments-down" }),
			tl:       timeline(fault, map[string][]steadystate.Observation{"checkout": interleaveErrored(resilient())}),
			status:   steadystate.CheckPassed,
			measured: []string{"opened after 300ms"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if errs := tt.spec.Validate(field.NewPath("circuitBreaker")); len(errs) > 0 {
				t.Fatalf("spec invalid: %v", errs)
			}
			c := New(tt.spec).Check(tt.tl)
			t.Logf("status=%s measured=%q reason=%q details=%v", c.Status, c.Measured, c.Reason, c.Details)
			if c.Status != tt.status {
				t.Errorf("status = %s, want %s", c.Status, tt.status)
			}
			if c.Name != "circuitBreaker(checkout)" || c.Kind != Key || c.Expected == "" || c.Measured == "" {
				t.Errorf("name/kind/expected/measured = %q %q %q %q", c.Name, c.Kind, c.Expected, c.Measured)
			}
			for _, m := range tt.measured {
				if !strings.Contains(c.Measured, m) {
					t.Errorf("measured %q lacks %q", c.Measured, m)
				}
			}
			for _, r := range tt.reason {
				if !strings.Contains(c.Reason, r) {
					t.Errorf("reason %q lacks %q", c.Reason, r)
				}
			}
			if tt.status == steadystate.CheckPassed && c.Reason != "" {
				t.Errorf("passed with reason %q", c.Reason)
			}
			for k, v := range tt.details {
				if c.Details[k] != v {
					t.Errorf("details[%q] = %q, want %q", k, c.Details[k], v)
				}
			}
		})
	}
}

// interleaveErrored inserts an errored observation 50ms after every observation.
func interleaveErrored(obs []steadystate.Observation) []steadystate.Observation {
	var out []steadystate.Observation
	for _, o := range obs {
		out = append(out, o, steadystate.Observation{Time: o.Time.Add(50 * ms), Status: steadystate.StatusErrored, Detail: "no such host"})
	}
	return out
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		spec Spec
		want []string
	}{
		{"valid", spec(withHeader), nil},
		{"empty", Spec{}, []string{
			"circuitBreaker.probe: Required value: must name a probe",
			"circuitBreaker.opensWithin: Required value: must be a duration > 0",
			"circuitBreaker.fastFailUnder: Required value",
			"circuitBreaker.closesWithin: Required value",
		}},
		{"negative consecutive", spec(func(s *Spec) { s.Consecutive = -1 }), []string{"circuitBreaker.consecutive: Invalid value: -1: must be >= 1"}},
		{"empty stateFrom", spec(func(s *Spec) { s.StateFrom = &StateFrom{} }), []string{"circuitBreaker.stateFrom: Required value: must set one of: header, probe"}},
		{"both stateFrom", spec(func(s *Spec) { s.StateFrom = &StateFrom{Header: "X-Circuit-State", Probe: "b"} }), []string{"must set only one of: header, probe"}},
		{"unknown header", spec(func(s *Spec) { s.StateFrom = &StateFrom{Header: "X-State"} }), []string{`circuitBreaker.stateFrom.header: Unsupported value: "X-State": supported values: "X-Circuit-State", "X-Breaker-State"`}},
		{"header case-insensitive", spec(func(s *Spec) { s.StateFrom = &StateFrom{Header: "x-breaker-state"} }), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := tt.spec.Validate(field.NewPath("circuitBreaker"))
			got := errs.ToAggregate()
			if len(tt.want) == 0 {
				if got != nil {
					t.Fatalf("unexpected errors: %v", got)
				}
				return
			}
			if len(errs) != len(tt.want) {
				t.Errorf("got %d errors, want %d: %v", len(errs), len(tt.want), got)
			}
			for _, w := range tt.want {
				if got == nil || !strings.Contains(got.Error(), w) {
					t.Errorf("errors %v lack %q", got, w)
				}
			}
		})
	}
}

func TestRegister(t *testing.T) {
	r := steadystate.NewRegistry()
	if err := Register(r); err != nil {
		t.Fatal(err)
	}
	d, ok := r.Assertion(Key)
	if !ok {
		t.Fatalf("assertion %q not registered", Key)
	}
	if _, ok := r.Probe(ProbeKey); !ok {
		t.Fatalf("probe %q not registered", ProbeKey)
	}
	s := d.NewSpec().(*Spec)
	*s = spec()
	a, err := d.New(s, &steadystate.Env{})
	if err != nil {
		t.Fatal(err)
	}
	if c := a.Check(timeline(5*time.Second, map[string][]steadystate.Observation{"checkout": resilient()})); c.Status != steadystate.CheckPassed {
		t.Errorf("registered assertion: %s %s", c.Status, c.Reason)
	}
	if _, err := d.New(&Spec{Probe: "x"}, &steadystate.Env{}); err == nil {
		t.Error("New accepted an invalid spec")
	}
	if err := Register(r); err == nil {
		t.Error("registering twice succeeded")
	}
}

// BenchmarkCheck judges a 10-minute run sampled every 10ms (60,000 observations).
func BenchmarkCheck(b *testing.B) {
	var obs []steadystate.Observation
	for i := range 60000 {
		at := t0.Add(time.Duration(i) * 10 * ms)
		o := steadystate.Observation{Time: at, Status: steadystate.StatusOK, Latency: 5 * ms, Values: map[string]string{StateValue: StateClosed}}
		if at.After(t0.Add(time.Minute)) && at.Before(t0.Add(6*time.Minute)) {
			o.Latency, o.Values = fastL, map[string]string{StateValue: StateOpen}
		}
		obs = append(obs, o)
	}
	tl := &steadystate.Timeline{
		Faults:       []steadystate.Window{{Name: "f", Start: t0.Add(time.Minute), End: t0.Add(6 * time.Minute)}},
		Observations: map[string][]steadystate.Observation{"checkout": obs},
	}
	a := New(spec(withHeader))
	b.ResetTimer()
	for b.Loop() {
		if c := a.Check(tl); c.Status != steadystate.CheckPassed {
			b.Fatalf("%s: %s", c.Status, c.Reason)
		}
	}
}
