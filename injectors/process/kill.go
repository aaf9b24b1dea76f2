package process

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/faultline-dev/faultline/injectors"
)

// KillSpec is the processKill block.
type KillSpec struct {
	Selector `yaml:",inline"`
	// Signal to send: a name ("SIGTERM", "TERM") or a number (default SIGKILL). Only
	// signals that end or notify a process: the stop signals (SIGSTOP, SIGTSTP,
	// SIGTTIN, SIGTTOU) are refused, since nothing would resume the process; that
	// is processPause.
	Signal string `yaml:"signal,omitempty" json:"signal,omitempty"`
	// ExitWithin is how long the targets have to exit after a signal whose default
	// action ends a process (default 10s). A process still running then (it caught or
	// ignored the signal) makes the injection fail: the fault did not take effect.
	// Signals that do not end a process (SIGCHLD, SIGCONT, SIGURG, SIGWINCH, the stop
	// signals) are proved by delivery alone.
	ExitWithin time.Duration `yaml:"exitWithin,omitempty" json:"exitWithin,omitempty"`
}

// Validate checks the selector and the signal.
func (s *KillSpec) Validate(p *field.Path) field.ErrorList {
	errs := s.Selector.Validate(p)
	if sig, err := parseSignal(s.Signal); err != nil {
		errs = append(errs, field.Invalid(p.Child("signal"), s.Signal, err.Error()))
	} else if stops(sig) {
		errs = append(errs, field.Invalid(p.Child("signal"), s.Signal, unix.SignalName(sig)+
			" stops a process and processKill has nothing to revert, so it would stay stopped: use processPause, which resumes it"))
	}
	if s.ExitWithin < 0 {
		errs = append(errs, field.Invalid(p.Child("exitWithin"), s.ExitWithin.String(), "must be > 0"))
	}
	return errs
}

func parseSignal(s string) (syscall.Signal, error) {
	if s == "" {
		return syscall.SIGKILL, nil
	}
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, fmt.Errorf("signal number must be 1..64")
		}
		return syscall.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	sig := unix.SignalNum(name)
	if sig == 0 {
		return 0, fmt.Errorf("unknown signal (want e.g. SIGKILL, SIGTERM or a number)")
	}
	return sig, nil
}

// Kill is the processKill injector.
type Kill struct {
	spec    KillSpec
	sig     syscall.Signal
	br      injectors.BlastRadius
	targets []Proc
}

var _ injectors.Injector = (*Kill)(nil)

// Plan resolves the processes that would be signalled.
func (k *Kill) Plan(ctx context.Context) (injectors.Plan, error) {
	targets, matched, note, err := k.spec.plan(k.br)
	if err != nil {
		return injectors.Plan{}, err
	}
	k.targets = targets
	plan := injectors.Plan{
		Action:  fmt.Sprintf("send %s to %d of %d processes selected by %s%s", unix.SignalName(k.sig), len(k.targets), matched, k.spec.describe(), note),
		Revert:  "nothing to revert: a killed process is brought back by its supervisor",
		Matched: matched,
		Effect:  injectors.EffectFailsFast, // connections to a dead process are refused
	}
	for _, p := range k.targets {
		plan.Targets = append(plan.Targets, injectors.Target{Kind: "process", Name: strconv.Itoa(p.PID), Detail: p.Cmdline})
	}
	return plan, nil
}

// Inject signals the planned processes. For SIGKILL it proves each process is gone.
func (k *Kill) Inject(ctx context.Context, j injectors.Journal) (injectors.Injection, error) {
	if k.targets == nil {
		if _, err := k.Plan(ctx); err != nil {
			return injectors.Injection{}, err
		}
	}
	// A kill cannot be undone; the journal still says what was hit.
	if err := j.Record(k.targets); err != nil {
		return injectors.Injection{}, err
	}
	for _, p := range k.targets {
		if !p.alive() {
			return injectors.Injection{}, fmt.Errorf("%s exited before it could be signalled", p)
		}
		if err := syscall.Kill(p.PID, k.sig); err != nil {
			return injectors.Injection{}, fmt.Errorf("sending %s to %s: %w", unix.SignalName(k.sig), p, err)
		}
	}
	proof := fmt.Sprintf("%s delivered to %d process(es)", unix.SignalName(k.sig), len(k.targets))
	if terminates(k.sig) {
		limit := k.spec.ExitWithin
		if limit == 0 {
			limit = 10 * time.Second
		}
		if err := waitGone(ctx, k.targets, unix.SignalName(k.sig), limit); err != nil {
			return injectors.Injection{}, err
		}
		proof = fmt.Sprintf("%s: %d process(es) gone from /proc", unix.SignalName(k.sig), len(k.targets))
	}
	return injectors.Injection{Revert: func(context.Context) error { return nil }, Proof: proof}, nil
}

// stops reports whether sig's default action stops the process. processKill only
// sends signals that end or notify a process.
func stops(sig syscall.Signal) bool {
	switch sig {
	case syscall.SIGSTOP, syscall.SIGTSTP, syscall.SIGTTIN, syscall.SIGTTOU:
		return true
	}
	return false
}

// terminates reports whether sig's default action ends the process.
func terminates(sig syscall.Signal) bool {
	switch sig {
	case syscall.SIGCHLD, syscall.SIGCONT, syscall.SIGURG, syscall.SIGWINCH,
		syscall.SIGSTOP, syscall.SIGTSTP, syscall.SIGTTIN, syscall.SIGTTOU:
		return false
	}
	return true
}

// waitGone waits until every process has exited (or is a zombie).
func waitGone(ctx context.Context, procs []Proc, sig string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	for {
		var left []Proc
		for _, p := range procs {
			if p.alive() {
				left = append(left, p)
			}
		}
		if len(left) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s still alive %s after %s (it caught or ignored the signal): the fault did not take effect", left[0], limit, sig)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
