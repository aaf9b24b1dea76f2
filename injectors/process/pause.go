package process

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"syscall"
	"time"

	"github.com/faultline-dev/faultline/injectors"
)

// PauseSpec is the processPause block: the chosen processes are stopped with SIGSTOP
// for the fault's duration and resumed with SIGCONT on revert.
type PauseSpec struct {
	Selector `yaml:",inline"`
}

// Pause is the processPause injector.
type Pause struct {
	spec    PauseSpec
	br      injectors.BlastRadius
	targets []Proc
}

var _ injectors.Injector = (*Pause)(nil)

// Plan resolves the processes that would be paused.
func (p *Pause) Plan(ctx context.Context) (injectors.Plan, error) {
	targets, matched, note, err := p.spec.plan(p.br)
	if err != nil {
		return injectors.Plan{}, err
	}
	p.targets = targets
	plan := injectors.Plan{
		Action:  fmt.Sprintf("SIGSTOP %d of %d processes selected by %s%s", len(p.targets), matched, p.spec.describe(), note),
		Revert:  "SIGCONT each paused process (checked by pid and start time)",
		Matched: matched,
		Effect:  injectors.EffectSlow, // a stopped process accepts nothing and answers nothing
	}
	for _, t := range p.targets {
		plan.Targets = append(plan.Targets, injectors.Target{Kind: "process", Name: strconv.Itoa(t.PID), Detail: t.Cmdline})
	}
	return plan, nil
}

// Inject stops the planned processes and proves each is in state T (stopped).
func (p *Pause) Inject(ctx context.Context, j injectors.Journal) (injectors.Injection, error) {
	if p.targets == nil {
		if _, err := p.Plan(ctx); err != nil {
			return injectors.Injection{}, err
		}
	}
	if err := j.Record(p.targets); err != nil {
		return injectors.Injection{}, err
	}
	revert := func(ctx context.Context) error { return resume(p.targets) }
	for _, t := range p.targets {
		if !t.alive() {
			return injectors.Injection{}, errors.Join(fmt.Errorf("%s exited before it could be paused", t), revert(ctx))
		}
		if err := syscall.Kill(t.PID, syscall.SIGSTOP); err != nil {
			return injectors.Injection{}, errors.Join(fmt.Errorf("pausing %s: %w", t, err), revert(ctx))
		}
	}
	if err := waitStopped(ctx, p.targets, 2*time.Second); err != nil {
		return injectors.Injection{}, errors.Join(err, revert(ctx))
	}
	return injectors.Injection{
		Revert: revert,
		Proof:  fmt.Sprintf("SIGSTOP: %d process(es) in state T (/proc/PID/stat)", len(p.targets)),
	}, nil
}

// resume sends SIGCONT to every process that is still the one we paused. It is
// idempotent: a process that exited, or a pid reused by another process, is skipped.
func resume(procs []Proc) error {
	var errs []error
	for _, t := range procs {
		if !t.alive() {
			continue
		}
		if err := syscall.Kill(t.PID, syscall.SIGCONT); err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, fmt.Errorf("resuming %s: %w", t, err))
		}
	}
	return errors.Join(errs...)
}

func waitStopped(ctx context.Context, procs []Proc, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	for {
		stopped := 0
		for _, p := range procs {
			if st, start, err := readStat(p.PID); err == nil && start == p.StartTime && st == 'T' {
				stopped++
			}
		}
		if stopped == len(procs) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d processes in state T %s after SIGSTOP", stopped, len(procs), limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// recoverPause resumes the processes of a journaled pause.
func recoverPause(_ context.Context, _ *injectors.Env, state json.RawMessage) error {
	var procs []Proc
	if err := json.Unmarshal(state, &procs); err != nil {
		return fmt.Errorf("processPause journal state: %w", err)
	}
	return resume(procs)
}
