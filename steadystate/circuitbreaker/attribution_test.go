package circuitbreaker

import (
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/steadystate"
)

// at is one observation at offset off from t0.
func at(off, lat time.Duration, st steadystate.Status, state string) steadystate.Observation {
	o := steadystate.Observation{Time: t0.Add(off), Status: st, Latency: lat}
	if state != "" {
		o.Values = map[string]string{StateValue: state}
	}
	return o
}

// breakerRun is the run: fault from 1s for 6s; the breaker opens after 3
// slow answers, half-opens at +3.7s for one 301ms trial that fails (the fault still
// holds) and re-opens; it closes 1s after the fault. The state comes from a second
// probe sampled every 100ms (offset 3ms), as a breakerState probe would read it.
func breakerRun(trialLatency time.Duration) map[string][]steadystate.Observation {
	main := series(
		ok(10, 5*ms, ""),   // baseline
		bad(3, 300*ms, ""), // 1.0–1.3s: call timeouts
		bad(64, fastL, ""), // 1.3–7.7s: fast failures while open
		ok(30, 5*ms, ""),   // 7.7s–: closed again
	)
	trial := t0.Add(4700 * ms)
	for i := range main {
		if main[i].Time.Equal(trial) {
			main[i].Latency = trialLatency
		}
	}
	var states []steadystate.Observation
	for off := 3 * ms; off < 11*time.Second; off += 100 * ms {
		st := "closed"
		switch t := t0.Add(off); {
		case t.Before(t0.Add(1300 * ms)):
		case !t.Before(trial.Add(-3*ms)) && t.Before(trial.Add(trialLatency)):
			st = "half-open"
		case t.Before(t0.Add(7700 * ms)):
			st = "open"
		}
		states = append(states, at(off, ms, steadystate.StatusOK, st))
	}
	return map[string][]steadystate.Observation{"checkout": main, "breaker": states}
}

func TestCheckAttribution(t *testing.T) {
	fault := 6 * time.Second
	fromProbe := func(s *Spec) {
		s.StateFrom = &StateFrom{Probe: "breaker"}
		s.FastFailUnder = 100 * ms
		s.OpensWithin = 2500 * ms
	}
	slowEffect := func(tl *steadystate.Timeline) *steadystate.Timeline {
		tl.Faults[0].Effect = steadystate.EffectSlow
		return tl
	}
	fastEffect := func(tl *steadystate.Timeline) *steadystate.Timeline {
		tl.Faults[0].Effect = steadystate.EffectFailsFast
		return tl
	}
	outage := series(ok(10, 5*ms, ""), bad(60, ms/2, ""), ok(30, 5*ms, ""))
	tests := []struct {
		name    string
		spec    Spec
		tl      *steadystate.Timeline
		status  steadystate.CheckStatus
		reason  []string
		details map[string]string
		at      time.Duration // expected Check.At offset from t0, -1: not checked
	}{
		{
			name:    "half-open trial seen by the state probe is not a violation",
			spec:    spec(fromProbe),
			tl:      slowEffect(timeline(fault, breakerRun(301*ms))),
			status:  steadystate.CheckPassed,
			details: map[string]string{"half-open trials": "1 (0 ok, 1 failed)", "slow answers while open": "0"},
			at:      -1,
		},
		{
			name:    "trial shorter than the state sampling: one unexplained slow answer is an unseen trial",
			spec:    spec(fromProbe),
			tl:      slowEffect(timeline(fault, map[string][]steadystate.Observation{"checkout": breakerRun(150 * ms)["checkout"], "breaker": thin(breakerRun(150 * ms)["breaker"])})),
			status:  steadystate.CheckPassed,
			details: map[string]string{"slow answers while open": "0"},
			at:      -1,
		},
		{
			name: "state says open while answers stay slow: did not short-circuit",
			spec: spec(fromProbe),
			tl: slowEffect(timeline(fault, map[string][]steadystate.Observation{
				"checkout": series(ok(10, 5*ms, ""), bad(3, 300*ms, ""), bad(20, fastL, ""), bad(10, 300*ms, ""), bad(34, fastL, ""), ok(30, 5*ms, "")),
				"breaker":  series(ok(13, ms, "closed"), bad(64, ms, "open"), ok(30, ms, "closed")),
			})),
			status: steadystate.CheckFailed,
			reason: []string{"breaker did not short-circuit: 10 slow answers (>= 100ms) in runs of 3 or more while its state said open"},
			at:     3300 * ms,
		},
		{
			name:   "naive service under an outage, no state source: cannot tell a breaker from the fault",
			spec:   spec(),
			tl:     fastEffect(timeline(fault, map[string][]steadystate.Observation{"checkout": outage})),
			status: steadystate.CheckErrored,
			reason: []string{"but the fault fails fast by itself", "stateFrom"},
			at:     time.Second,
		},
		{
			name:   "naive service under an unknown fault, no state source: not passed either",
			spec:   spec(),
			tl:     timeline(fault, map[string][]steadystate.Observation{"checkout": outage}),
			status: steadystate.CheckErrored,
			reason: []string{"but the fault may fail fast by itself"},
			at:     -1,
		},
		{
			name: "fast failures under a slow fault show a breaker without state",
			spec: spec(),
			tl: slowEffect(timeline(fault, map[string][]steadystate.Observation{"checkout": series(
				ok(10, 5*ms, ""), bad(3, 300*ms, ""), bad(57, fastL, ""), ok(30, 5*ms, ""))})),
			status: steadystate.CheckPassed,
			at:     -1,
		},
		{
			name: "without state, K slow answers in a row after opening: calls went through again",
			spec: spec(),
			tl: slowEffect(timeline(fault, map[string][]steadystate.Observation{"checkout": series(
				ok(10, 5*ms, ""), bad(20, fastL, ""), bad(4, 300*ms, ""), bad(36, fastL, ""), ok(30, 5*ms, ""))})),
			status: steadystate.CheckFailed,
			reason: []string{"breaker let calls through again while the fault held: 4 slow answers"},
			at:     3 * time.Second,
		},
		{
			name: "without state, an isolated slow answer is a probable half-open trial",
			spec: spec(),
			tl: slowEffect(timeline(fault, map[string][]steadystate.Observation{"checkout": series(
				ok(10, 5*ms, ""), bad(20, fastL, ""), bad(1, 300*ms, ""), bad(39, fastL, ""), ok(30, 5*ms, ""))})),
			status:  steadystate.CheckPassed,
			details: map[string]string{"slow answers while open": "0"},
			at:      -1,
		},
		{
			name: "with state, fast 502s are not described as a breaker's work",
			spec: spec(fromProbe),
			tl: fastEffect(timeline(fault, map[string][]steadystate.Observation{"checkout": outage,
				"breaker": series(ok(100, ms, "closed"))})),
			status: steadystate.CheckFailed,
			reason: []string{`its state was never "open"`, "the answers failed fast", "which the fault can cause with no breaker at all"},
			at:     -1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New(tt.spec).Check(tt.tl)
			t.Logf("status=%s measured=%q reason=%q details=%v", c.Status, c.Measured, c.Reason, c.Details)
			if c.Status != tt.status {
				t.Errorf("status = %s, want %s", c.Status, tt.status)
			}
			for _, r := range tt.reason {
				if !strings.Contains(c.Reason, r) {
					t.Errorf("reason %q lacks %q", c.Reason, r)
				}
			}
			for k, v := range tt.details {
				if c.Details[k] != v {
					t.Errorf("details[%q] = %q, want %q", k, c.Details[k], v)
				}
			}
			if tt.at >= 0 && !c.At.Equal(t0.Add(tt.at)) {
				t.Errorf("At = %v, want +%v", c.At.Sub(t0), tt.at)
			}
		})
	}
}

// thin keeps every 5th reading (a state probe sampled every 500ms).
func thin(obs []steadystate.Observation) []steadystate.Observation {
	var out []steadystate.Observation
	for i, o := range obs {
		if i%5 == 0 {
			out = append(out, o)
		}
	}
	return out
}
