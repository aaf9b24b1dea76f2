package experiments

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/faultline-dev/faultline/steadystate"
)

// DefaultMaxInFlight bounds the observations of one probe in flight at once when
// its maxInFlight is not set.
const DefaultMaxInFlight = 64

// probeRun is one probe being sampled.
type probeRun struct {
	spec  *Probe
	probe steadystate.Probe

	// Counts of the open-loop schedule, written by sample, read after it returned.
	scheduled, completed, skipped int
}

// sample asks p on a fixed schedule, every p.spec.Every from the start, until ctx
// is done. It is open-loop, as wrk2 and k6's constant-arrival-rate are: each
// observation starts at its scheduled time whether or not earlier ones returned,
// and its latency counts from that scheduled time, so a slow answer cannot hide the
// time it covered (coordinated omission). At most maxInFlight observations run at
// once; a start due while that many are in flight is skipped and counted. Starts
// still in flight when ctx is done are abandoned: cut short by the stop, they say
// nothing of the system. sample returns when every started observation has.
func (r *run) sample(ctx context.Context, p *probeRun) {
	limit := p.spec.MaxInFlight
	if limit <= 0 {
		limit = DefaultMaxInFlight
	}
	slots := make(chan struct{}, limit)
	var mu sync.Mutex
	var wg sync.WaitGroup
	defer wg.Wait()
	start := time.Now()
	t := time.NewTimer(0)
	defer t.Stop()
	for n := 0; ; n++ {
		due := start.Add(time.Duration(n) * p.spec.Every)
		t.Reset(time.Until(due))
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if ctx.Err() != nil {
			return // both were ready and select chose the timer: no start after the stop
		}
		mu.Lock()
		p.scheduled++
		mu.Unlock()
		select {
		case slots <- struct{}{}:
		default:
			mu.Lock()
			p.skipped++
			mu.Unlock()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			o := p.probe.Probe(ctx)
			if ctx.Err() != nil {
				return // stopped mid-sample: not an observation of the system
			}
			done := time.Now()
			if !o.Time.IsZero() {
				done = o.Time.Add(o.Latency) // where the probe stopped its clock
			}
			o.Time, o.Latency = due, max(done.Sub(due), 0)
			mu.Lock()
			p.completed++
			mu.Unlock()
			r.samples.add(p.spec.Name, o)
			r.prog.observe(p.spec.Name, o)
		}()
	}
}

// watchAbort checks the abort rules while faults may be active: on every new
// observation, and at the next moment time alone can change a rule's answer (its
// window fills, or an observation leaves it), so the run is cancelled and the faults
// reverted right after what decided it (BenchmarkAbortLatency); a 100 ms tick covers
// the start of the fault phase. It cancels the run with the rule that fired and
// returns a stop function.
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
		timer := time.NewTimer(time.Hour)
		defer timer.Stop()
		for {
			select {
			case <-wctx.Done():
				return
			case <-r.samples.added:
			case <-t.C:
			case <-timer.C:
			}
			w, ok := r.phaseWindow("faults")
			if !ok {
				continue
			}
			var next time.Time
			for _, rule := range r.e.Spec.Abort {
				reason, at := r.abortFires(rule, w.Start)
				if reason != "" {
					r.prog.event("ABORT: %s", reason)
					r.cancel(abortError{reason})
					return
				}
				if !at.IsZero() && (next.IsZero() || at.Before(next)) {
					next = at
				}
			}
			if !next.IsZero() {
				timer.Reset(max(time.Until(next), 0))
			}
		}
	}()
	return func() { stop(); <-done }
}

// abortFires evaluates one rule over the last rule.Over (once that much of the fault
// phase has passed). Errored observations do not count either way. When it does not
// fire, next is when time alone may change the answer (zero: only an observation).
func (r *run) abortFires(rule AbortRule, faultStart time.Time) (reason string, next time.Time) {
	now := time.Now()
	if now.Sub(faultStart) < rule.Over {
		return "", faultStart.Add(rule.Over)
	}
	obs := r.samples.since(rule.Probe, now.Add(-rule.Over))
	ok, judged := 0, 0
	for _, o := range obs {
		if next.IsZero() || o.Time.Add(rule.Over).Before(next) {
			next = o.Time.Add(rule.Over) // when it leaves the window
		}
		switch o.Status {
		case steadystate.StatusOK:
			ok++
			judged++
		case steadystate.StatusFailed:
			judged++
		}
	}
	if judged < 3 {
		return "", next
	}
	ratio := float64(ok) / float64(judged)
	if ratio < rule.SuccessRatioBelow {
		return fmt.Sprintf("probe %q success ratio %.2f (%d/%d) over the last %s is below %.2f",
			rule.Probe, ratio, ok, judged, rule.Over, rule.SuccessRatioBelow), time.Time{}
	}
	return "", next
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
	// Steady again counts from the last revert, as every recovery measure does.
	start := time.Now()
	deadline := start.Add(d)
	if span, ok := (&steadystate.Timeline{Faults: r.faultWindows()}).FaultSpan(); ok && !span.End.IsZero() {
		start = span.End
	}
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
