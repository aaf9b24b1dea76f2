package selfhealing

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/faultline-dev/faultline/steadystate"
)

var t0 = time.Date(2026, 11, 23, 6, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

const ms = time.Millisecond

// timeline builds a run of the probe "api" sampled every 100ms from t0:
// 'o' ok, 'f' failed, 'e' errored, '.' no sample. One fault from faultStart to
// faultEnd (zero end: open).
func timeline(pattern string, faultStart, faultEnd time.Duration) *steadystate.Timeline {
	tl := &steadystate.Timeline{Observations: map[string][]steadystate.Observation{}}
	for i, c := range pattern {
		o := steadystate.Observation{Time: at(time.Duration(i) * 100 * ms), Latency: ms}
		switch c {
		case 'o':
			o.Status, o.Detail = steadystate.StatusOK, "200"
		case 'f':
			o.Status, o.Detail = steadystate.StatusFailed, "503"
		case 'e':
			o.Status, o.Detail = steadystate.StatusErrored, "dns"
		default:
			continue
		}
		tl.Observations["api"] = append(tl.Observations["api"], o)
	}
	if faultStart >= 0 {
		w := steadystate.Window{Name: "kill", Start: at(faultStart)}
		if faultEnd > 0 {
			w.End = at(faultEnd)
		}
		tl.Faults = append(tl.Faults, w)
	}
	return tl
}

func TestCheck(t *testing.T) {
	rep := strings.Repeat
	tests := []struct {
		name     string
		spec     Spec
		tl       *steadystate.Timeline
		status   steadystate.CheckStatus
		measured string
		reason   string            // substring
		details  map[string]string // subset
	}{
		{
			name: "recovers in time",
			spec: Spec{Probe: "api", RecoversWithin: 2 * time.Second},
			// fault at 1s; failures 1.2s..1.9s; ok from 2.0s on.
			tl:       timeline(rep("o", 12)+rep("f", 8)+rep("o", 40), 1000*ms, 1100*ms),
			status:   steadystate.CheckPassed,
			measured: "recovered after 1s",
			details:  map[string]string{"disrupted": "true", "failedObservations": "8", "firstFailure": "+200ms after the fault started", "measuredFrom": "faultStart"},
		},
		{
			name:     "too slow",
			spec:     Spec{Probe: "api", RecoversWithin: 500 * ms},
			tl:       timeline(rep("o", 12)+rep("f", 8)+rep("o", 40), 1000*ms, 1100*ms),
			status:   steadystate.CheckFailed,
			measured: "recovered after 1s",
			reason:   "recovered after 1s, later than 500ms (8 failed observations from +200ms to +900ms",
		},
		{
			name:     "never recovered",
			spec:     Spec{Probe: "api", RecoversWithin: 2 * time.Second},
			tl:       timeline(rep("o", 10)+rep("f", 40), 1000*ms, 1100*ms),
			status:   steadystate.CheckFailed,
			measured: "not steady again",
			reason:   "not steady again within 2s (still failing at end of run; last failure 3.9s after the fault started: 503)",
		},
		{
			name:     "ok run at the end too short",
			spec:     Spec{Probe: "api", RecoversWithin: 2 * time.Second},
			tl:       timeline(rep("o", 10)+rep("f", 38)+"oo", 1000*ms, 1100*ms),
			status:   steadystate.CheckFailed,
			measured: "not steady again",
			reason:   "only 2 ok observations at end of run, 3 needed",
		},
		{
			name:     "data ends before the deadline",
			spec:     Spec{Probe: "api", RecoversWithin: 10 * time.Second},
			tl:       timeline(rep("o", 10)+rep("f", 20), 1000*ms, 1100*ms),
			status:   steadystate.CheckErrored,
			measured: "not steady again",
			reason:   "before the 10s deadline",
		},
		{
			name:     "errored only",
			spec:     Spec{Probe: "api", RecoversWithin: 2 * time.Second},
			tl:       timeline(rep("o", 10)+rep("e", 40), 1000*ms, 1100*ms),
			status:   steadystate.CheckErrored,
			measured: "no data",
			reason:   "all 40 observations of api after the fault started errored",
		},
		{
			name:     "no disruption",
			spec:     Spec{Probe: "api", RecoversWithin: 2 * time.Second},
			tl:       timeline(rep("o", 50), 1000*ms, 3000*ms),
			status:   steadystate.CheckPassed,
			measured: "no disruption seen",
			reason:   "never failed after the fault started (40 ok observations)",
			details:  map[string]string{"disrupted": "false"},
		},
		{
			name:     "nothing injected",
			spec:     Spec{Probe: "api", RecoversWithin: 2 * time.Second},
			tl:       timeline(rep("o", 50), -1, 0),
			status:   steadystate.CheckErrored,
			measured: "no fault",
		},
		{
			name:     "no observations of the probe",
			spec:     Spec{Probe: "other", RecoversWithin: 2 * time.Second},
			tl:       timeline(rep("o", 50), 1000*ms, 1100*ms),
			status:   steadystate.CheckErrored,
			measured: "no data",
		},
		{
			name: "flapping counts from the last failure",
			spec: Spec{Probe: "api", RecoversWithin: 3 * time.Second},
			// fails 1.0-1.4, ok 1.5-2.4, one blip at 2.5, ok from 2.6
			tl:       timeline(rep("o", 10)+rep("f", 5)+rep("o", 10)+"f"+rep("o", 30), 1000*ms, 1100*ms),
			status:   steadystate.CheckPassed,
			measured: "recovered after 1.6s",
			details:  map[string]string{"failedObservations": "6"},
		},
		{
			name: "errored observations do not break the ok run",
			spec: Spec{Probe: "api", RecoversWithin: 2 * time.Second},
			// fails until 1.4, then o e o e o: three ok with errors between
			tl:       timeline(rep("o", 10)+rep("f", 5)+"oeoeo"+rep("e", 30), 1000*ms, 1100*ms),
			status:   steadystate.CheckPassed,
			measured: "recovered after 500ms",
			details:  map[string]string{"erroredObservations": "32"},
		},
		{
			name: "held fault measured from its start includes its duration",
			spec: Spec{Probe: "api", RecoversWithin: 2 * time.Second},
			// fault 1s..4s, failing throughout, ok 300ms after the revert
			tl:       timeline(rep("o", 10)+rep("f", 33)+rep("o", 30), 1000*ms, 4000*ms),
			status:   steadystate.CheckFailed,
			measured: "recovered after 3.3s",
			details:  map[string]string{"sinceFaultEnd": "300ms"},
		},
		{
			name:     "held fault measured from its revert",
			spec:     Spec{Probe: "api", RecoversWithin: 2 * time.Second, From: FromFaultEnd},
			tl:       timeline(rep("o", 10)+rep("f", 33)+rep("o", 30), 1000*ms, 4000*ms),
			status:   steadystate.CheckPassed,
			measured: "recovered after 300ms of the revert",
		},
		{
			name:     "from faultEnd, recovered during the fault counts as 0",
			spec:     Spec{Probe: "api", RecoversWithin: time.Second, From: FromFaultEnd},
			tl:       timeline(rep("o", 10)+rep("f", 5)+rep("o", 40), 1000*ms, 4000*ms),
			status:   steadystate.CheckPassed,
			measured: "recovered after 0s of the revert",
		},
		{
			name:     "from faultEnd with an open fault",
			spec:     Spec{Probe: "api", RecoversWithin: time.Second, From: FromFaultEnd},
			tl:       timeline(rep("o", 10)+rep("f", 5)+rep("o", 40), 1000*ms, 0),
			status:   steadystate.CheckErrored,
			measured: "fault not reverted",
		},
		{
			name:     "steadyFor a duration",
			spec:     Spec{Probe: "api", RecoversWithin: 2 * time.Second, SteadyFor: time.Second},
			tl:       timeline(rep("o", 10)+rep("f", 5)+rep("o", 11)+rep("f", 2)+rep("o", 10), 1000*ms, 1100*ms),
			status:   steadystate.CheckFailed,
			measured: "not steady again",
			reason:   "ok for only 900ms at end of run, 1s needed",
		},
		{
			name:     "steadyFor met",
			spec:     Spec{Probe: "api", RecoversWithin: 2 * time.Second, SteadyFor: time.Second},
			tl:       timeline(rep("o", 10)+rep("f", 5)+rep("o", 11), 1000*ms, 1100*ms),
			status:   steadystate.CheckPassed,
			measured: "recovered after 500ms",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if errs := tt.spec.Validate(field.NewPath("verify").Index(0).Child(Key)); len(errs) > 0 {
				t.Fatalf("invalid spec: %v", errs.ToAggregate())
			}
			c := New(&tt.spec).Check(tt.tl)
			if c.Status != tt.status || c.Measured != tt.measured {
				t.Errorf("got %s %q, want %s %q (reason %q)", c.Status, c.Measured, tt.status, tt.measured, c.Reason)
			}
			if !strings.Contains(c.Reason, tt.reason) {
				t.Errorf("reason %q lacks %q", c.Reason, tt.reason)
			}
			if c.Status != steadystate.CheckPassed && c.Reason == "" {
				t.Error("non-passed check without a reason")
			}
			for k, v := range tt.details {
				if c.Details[k] != v {
					t.Errorf("details[%s] = %q, want %q (all: %v)", k, c.Details[k], v, c.Details)
				}
			}
			if c.Name != "selfHealing("+tt.spec.Probe+")" || c.Kind != Key || c.Probe != tt.spec.Probe || !strings.HasPrefix(c.Expected, "within ") {
				t.Errorf("identity: %q %q %q %q", c.Name, c.Kind, c.Probe, c.Expected)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	p := field.NewPath("verify").Index(0).Child(Key)
	for _, tt := range []struct {
		spec Spec
		want string
	}{
		{Spec{Probe: "api", RecoversWithin: time.Second}, ""},
		{Spec{Probe: "api", RecoversWithin: time.Second, SteadyFor: time.Second, From: FromFaultEnd}, ""},
		{Spec{RecoversWithin: time.Second}, "verify[0].selfHealing.probe: Required value"},
		{Spec{Probe: "api"}, "verify[0].selfHealing.recoversWithin: Required value"},
		{Spec{Probe: "api", RecoversWithin: 1, SteadyObservations: -1}, "steadyObservations"},
		{Spec{Probe: "api", RecoversWithin: 1, SteadyFor: -1}, "steadyFor: Invalid"},
		{Spec{Probe: "api", RecoversWithin: 1, SteadyFor: 1, SteadyObservations: 2}, "not both"},
		{Spec{Probe: "api", RecoversWithin: 1, From: "later"}, `verify[0].selfHealing.from: Unsupported value: "later"`},
	} {
		errs := tt.spec.Validate(p)
		switch {
		case tt.want == "" && len(errs) > 0:
			t.Errorf("%+v: unexpected %v", tt.spec, errs.ToAggregate())
		case tt.want != "" && (len(errs) == 0 || !strings.Contains(errs.ToAggregate().Error(), tt.want)):
			t.Errorf("%+v: got %v, want %q", tt.spec, errs.ToAggregate(), tt.want)
		}
	}
}

func TestRegisterAssertion(t *testing.T) {
	r := steadystate.NewRegistry()
	if err := RegisterAssertion(r); err != nil {
		t.Fatal(err)
	}
	if err := Register(r); err == nil {
		t.Error("registering twice must fail")
	}
	d, ok := r.Assertion(Key)
	if !ok {
		t.Fatal("not registered")
	}
	spec := d.NewSpec().(*Spec)
	spec.Probe, spec.RecoversWithin = "api", 2*time.Second
	a, err := d.New(spec, &steadystate.Env{})
	if err != nil {
		t.Fatal(err)
	}
	c := a.Check(timeline(strings.Repeat("o", 12)+strings.Repeat("f", 8)+strings.Repeat("o", 40), 1000*ms, 1100*ms))
	if c.Status != steadystate.CheckPassed || c.Details["steadyWhen"] != "3 consecutive ok observations" {
		t.Errorf("got %+v", c)
	}
}
