package experiments

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/faultline-dev/faultline/injectors"
	"github.com/faultline-dev/faultline/reports"
	"github.com/faultline-dev/faultline/steadystate"
)

// faultRun is one fault through plan, inject and revert.
type faultRun struct {
	spec *Fault
	def  injectors.Definition
	inj  injectors.Injector
	plan injectors.Plan

	once      sync.Once
	revert    injectors.Revert
	revertErr error
	window    steadystate.Window
	rec       reports.Injection
}

// plan resolves every fault's targets and checks the blast radius. It returns a
// reason when the experiment cannot go on; nothing has been changed.
func (r *run) plan(ctx context.Context) string {
	var problems []string
	for _, f := range r.faults {
		p, err := f.inj.Plan(ctx)
		if err == nil {
			err = checkPercent(p, r.e.Spec.Safety.BlastRadius)
		}
		if err != nil {
			problems = append(problems, fmt.Sprintf("fault %q (%s): %v", f.spec.Name, f.spec.Kind, err))
			continue
		}
		f.plan = p
		pf := reports.PlannedFault{Name: f.spec.Name, Kind: f.spec.Kind, After: f.spec.After,
			Duration: f.spec.Duration, Action: p.Action, Revert: p.Revert}
		for _, t := range p.Targets {
			pf.Targets = append(pf.Targets, reports.Target(t))
		}
		r.res.Plan = append(r.res.Plan, pf)
	}
	r.prog.plan(r.res.Plan)
	if len(problems) > 0 {
		return "planning failed, nothing was injected: " + strings.Join(problems, "; ")
	}
	return ""
}

// checkPercent enforces safety.blastRadius.maxPercent for any injector that reports
// the size of its candidate set.
func checkPercent(p injectors.Plan, br injectors.BlastRadius) error {
	if br.MaxPercent <= 0 || p.Matched == 0 {
		return nil
	}
	if pct := len(p.Targets) * 100 / p.Matched; len(p.Targets)*100 > br.MaxPercent*p.Matched {
		return fmt.Errorf("blast radius: would hit %d of %d targets (%d%%), above safety.blastRadius.maxPercent %d%%",
			len(p.Targets), p.Matched, pct, br.MaxPercent)
	}
	return nil
}

// runFaults injects every fault at its offset and reverts it after its duration. When
// ctx is cancelled (abort, interrupt, failed injection) the faults still active are
// reverted last in, first out.
func (r *run) runFaults(ctx context.Context) {
	var longest time.Duration
	for _, f := range r.faults {
		longest = max(longest, f.spec.After+f.spec.Duration)
	}
	r.setPhase("faults", longest)
	start := time.Now()
	var wg sync.WaitGroup
	for _, f := range r.faults {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sleepCtx(ctx, time.Until(start.Add(f.spec.After)))
			if ctx.Err() != nil {
				return
			}
			if !r.inject(ctx, f) {
				return
			}
			// The fault is active for its duration from the moment it took effect,
			// not from when its proof finished: the revert is scheduled from there.
			sleepCtx(ctx, time.Until(f.window.Start.Add(f.spec.Duration)))
			if ctx.Err() == nil {
				r.revertFault(ctx, f)
			}
		}()
	}
	wg.Wait()
	r.revertAll(ctx)
	r.endPhase()
}

// inject applies one fault; on failure it stops the run (the verdict will be errored).
func (r *run) inject(ctx context.Context, f *faultRun) bool {
	targets, _ := json.Marshal(f.plan.Targets)
	if err := r.journal.append(JournalEntry{Event: "inject", Fault: f.spec.Name, Kind: f.spec.Kind, Targets: targets}); err != nil {
		r.stopWith(ctx, f, err)
		return false
	}
	// The "inject" line is on disk before Inject starts: a runner killed mid-inject
	// leaves the fault listed, with whatever state the injector recorded.
	t0 := time.Now()
	fj := &faultJournal{j: r.journal, fault: f.spec.Name, kind: f.spec.Kind}
	inj, err := f.inj.Inject(ctx, fj)
	f.rec.InjectDuration = time.Since(t0)
	if err != nil {
		// The injector has undone its partial work; as a second line of defence the
		// kind's Recover replays the last journaled state. Only when that also fails
		// does the entry stay open for `chaos recover`.
		if uerr := r.undoFailedInject(ctx, f, fj.last); uerr != nil {
			f.rec.RevertError = uerr.Error()
			r.addError("undoing the partial injection of %q: %v (still journaled: run `chaos recover`)", f.spec.Name, uerr)
			_ = r.journal.append(JournalEntry{Event: "revert-failed", Fault: f.spec.Name, Error: "inject failed: " + err.Error() + "; undo failed: " + uerr.Error()})
			r.mu.Lock()
			r.undoFailed = true
			r.mu.Unlock()
		} else {
			_ = r.journal.append(JournalEntry{Event: "reverted", Fault: f.spec.Name, Error: "inject failed: " + err.Error()})
		}
		f.rec.Error = err.Error()
		r.addInjection(f)
		r.stopWith(ctx, f, err)
		return false
	}
	f.revert, f.rec.Proof = inj.Revert, inj.Proof
	// The window opens when the change took effect (as the injector says; else when
	// Inject started, the earliest it may act), not when its proof (a delayed round
	// trip, say) finished.
	active := t0
	if !inj.ActiveAt.IsZero() && inj.ActiveAt.After(t0) {
		active = inj.ActiveAt
	}
	f.rec.InjectedAt, f.rec.ActiveAfter = active, active.Sub(t0)
	f.window = steadystate.Window{Name: f.spec.Name, Start: active, Effect: f.plan.Effect}
	r.mu.Lock()
	r.active = append(r.active, f)
	r.mu.Unlock()
	r.prog.event("injected %s (%s): active after %s, proved after %s, reverts in %s: %s", f.spec.Name, f.spec.Kind,
		round(f.rec.ActiveAfter), round(f.rec.InjectDuration), round(max(time.Until(active.Add(f.spec.Duration)), 0)), inj.Proof)
	return true
}

func (r *run) stopWith(ctx context.Context, f *faultRun, err error) {
	r.prog.event("fault %s could not be injected: %v", f.spec.Name, err)
	r.cancel(injectError{fmt.Errorf("fault %q (%s): %w", f.spec.Name, f.spec.Kind, err)})
}

// undoFailedInject runs the kind's Recover on the state a failed Inject journaled.
func (r *run) undoFailedInject(ctx context.Context, f *faultRun, state json.RawMessage) error {
	if state == nil || f.def.Recover == nil {
		return nil
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.e.Spec.Safety.RevertTimeout)
	defer cancel()
	if err := f.def.Recover(rctx, r.env, state); !errors.Is(err, injectors.ErrNothingToRevert) {
		return err
	}
	return nil // Inject had undone it all already
}

// revertFault reverts f once, under its own timeout that an interrupt does not cancel.
func (r *run) revertFault(ctx context.Context, f *faultRun) {
	f.once.Do(func() {
		if r.opts.Tracker != nil {
			r.opts.Tracker.reverting(f.spec.Name, true)
			defer r.opts.Tracker.reverting(f.spec.Name, false)
		}
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.e.Spec.Safety.RevertTimeout)
		defer cancel()
		t0 := time.Now()
		err := f.revert(rctx)
		f.rec.RevertDuration = time.Since(t0)
		f.rec.RevertedAt = time.Now()
		f.window.End = f.rec.RevertedAt
		f.revertErr = err
		if err != nil {
			f.rec.RevertError = err.Error()
			r.addError("reverting fault %q: %v (still journaled: run `chaos recover`)", f.spec.Name, err)
			_ = r.journal.append(JournalEntry{Event: "revert-failed", Fault: f.spec.Name, Error: err.Error()})
			r.prog.event("REVERT FAILED %s: %v", f.spec.Name, err)
		} else {
			_ = r.journal.append(JournalEntry{Event: "reverted", Fault: f.spec.Name})
			r.prog.event("reverted %s in %s", f.spec.Name, round(f.rec.RevertDuration))
		}
		r.addInjection(f)
	})
}

// revertAll reverts the still-active faults, last injected first.
func (r *run) revertAll(ctx context.Context) {
	r.mu.Lock()
	active := append([]*faultRun(nil), r.active...)
	r.mu.Unlock()
	for i := len(active) - 1; i >= 0; i-- {
		r.revertFault(ctx, active[i])
	}
}

func (r *run) addInjection(f *faultRun) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.res.Injections = append(r.res.Injections, f.rec)
	sort.SliceStable(r.res.Injections, func(i, j int) bool {
		return r.res.Injections[i].InjectedAt.Before(r.res.Injections[j].InjectedAt)
	})
}

// faultWindows returns the active windows of every injected fault.
func (r *run) faultWindows() []steadystate.Window {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ws []steadystate.Window
	for _, f := range r.active {
		ws = append(ws, f.window)
	}
	return ws
}

// revertFailures reports whether any revert failed (the journal stays open).
func (r *run) revertFailures() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.undoFailed {
		return true
	}
	for _, f := range r.active {
		if f.revertErr != nil {
			return true
		}
	}
	return false
}

func round(d time.Duration) time.Duration {
	switch {
	case d > time.Second:
		return d.Round(time.Millisecond)
	case d > time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}
