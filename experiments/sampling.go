package experiments

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/faultline-dev/faultline/steadystate"
)

// probeRun is one probe being sampled.
type probeRun struct {
	spec  *Probe
	probe steadystate.Probe
}

// sampleStore keeps every observation by probe name.
type sampleStore struct {
	mu  sync.Mutex
	obs map[string][]steadystate.Observation
}

func newSampleStore() *sampleStore {
	return &sampleStore{obs: map[string][]steadystate.Observation{}}
}

func (s *sampleStore) add(name string, o steadystate.Observation) {
	s.mu.Lock()
	s.obs[name] = append(s.obs[name], o)
	s.mu.Unlock()
}

// since returns a copy of the observations of name at or after t.
func (s *sampleStore) since(name string, t time.Time) []steadystate.Observation {
	s.mu.Lock()
	defer s.mu.Unlock()
	all := s.obs[name]
	i := len(all)
	for i > 0 && !all[i-1].Time.Before(t) {
		i--
	}
	return append([]steadystate.Observation(nil), all[i:]...)
}

// snapshot returns a copy of everything.
func (s *sampleStore) snapshot() map[string][]steadystate.Observation {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string][]steadystate.Observation, len(s.obs))
	for k, v := range s.obs {
		out[k] = append([]steadystate.Observation(nil), v...)
	}
	return out
}

// sample asks p every p.spec.Every until ctx is done. Samples are started on a fixed
// schedule (not "every after the previous answer"), so a slow answer does not hide
// the time it covered; a probe still busy at its next tick is not asked twice.
func (r *run) sample(ctx context.Context, p *probeRun) {
	t := time.NewTicker(p.spec.Every)
	defer t.Stop()
	for {
		o := p.probe.Probe(ctx)
		if ctx.Err() != nil {
			return // stopped mid-sample: not an observation of the system
		}
		if o.Time.IsZero() {
			o.Time = time.Now()
		}
		r.samples.add(p.spec.Name, o)
		r.prog.observe(p.spec.Name, o)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// watchAbort checks the abort rules every 100ms while faults may be active and
// cancels the run with the rule that fired. It returns a stop function.
func (r *run) watchAbort(ctx context.Context) func() {
	if len(r.e.Spec.Abort) == 0 {
		return func() {}
	}
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-wctx.Done():
				return
			case <-t.C:
			}
			if w, ok := r.phaseWindow("faults"); ok {
				for _, rule := range r.e.Spec.Abort {
					if reason := r.abortFires(rule, w.Start); reason != "" {
						r.prog.event("ABORT: %s", reason)
						r.cancel(abortError{reason})
						return
					}
				}
			}
		}
	}()
	return func() { stop(); <-done }
}

// abortFires evaluates one rule over the last rule.Over (once that much of the fault
// phase has passed). Errored observations do not count either way.
func (r *run) abortFires(rule AbortRule, faultStart time.Time) string {
	now := time.Now()
	if now.Sub(faultStart) < rule.Over {
		return ""
	}
	obs := r.samples.since(rule.Probe, now.Add(-rule.Over))
	ok, judged := 0, 0
	for _, o := range obs {
		switch o.Status {
		case steadystate.StatusOK:
			ok++
			judged++
		case steadystate.StatusFailed:
			judged++
		}
	}
	if judged < 3 {
		return ""
	}
	ratio := float64(ok) / float64(judged)
	if ratio < rule.SuccessRatioBelow {
		return fmt.Sprintf("probe %q success ratio %.2f (%d/%d) over the last %s is below %.2f",
			rule.Probe, ratio, ok, judged, rule.Over, rule.SuccessRatioBelow)
	}
	return ""
}

// steadyRun is how many consecutive ok observations make a probe "steady again".
const steadyRun = 3

// isSteady reports whether the last steadyRun judged observations of probe are ok.
func (r *run) isSteady(name string, since time.Time) bool {
	obs := r.samples.since(name, since)
	n := 0
	for i := len(obs) - 1; i >= 0 && n < steadyRun; i-- {
		switch obs[i].Status {
		case steadystate.StatusOK:
			n++
		case steadystate.StatusFailed:
			return false
		}
	}
	return n == steadyRun
}

// recoverPhase waits until every probe is steady again after the last revert, or
// until steadyState.recovery has passed.
func (r *run) recoverPhase(ctx context.Context) {
	d := r.e.Spec.SteadyState.Recovery
	r.setPhase("recovery", d)
	defer r.endPhase()
	start := time.Now()
	deadline := start.Add(d)
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for time.Now().Before(deadline) {
		steady := true
		for _, p := range r.probes {
			steady = steady && r.isSteady(p.spec.Name, start)
		}
		if steady {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// baselineFailures returns a description of the probes that did not hold during the
// baseline, or "".
func (r *run) baselineFailures() string {
	var bad []string
	for _, c := range r.baselineChecks() {
		if c.Status != steadystate.CheckPassed {
			bad = append(bad, c.Name+": "+c.Measured)
		}
	}
	return strings.Join(bad, "; ")
}
