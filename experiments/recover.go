package experiments

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/faultline-dev/faultline/injectors"
	"github.com/faultline-dev/faultline/internal/kube"
)

// RecoverAction is what Recover found and did for one fault.
type RecoverAction struct {
	RunID      string `json:"runID"`
	Experiment string `json:"experiment"`
	Fault      string `json:"fault,omitempty"`
	Kind       string `json:"kind,omitempty"`
	// Action: "reverted[: what was done]", "nothing to revert: why", "skipped: why",
	// "failed" (Error says why).
	Action string `json:"action"`
	Error  string `json:"error,omitempty"`
}

// RecoverOptions tune Recover.
type RecoverOptions struct {
	// RunID limits recovery to one run; "" means every unfinished run.
	RunID string
	// Force recovers runs whose runner still seems alive.
	Force bool
	// Kubeconfig and KubeContext override the journaled Kubernetes target.
	Kubeconfig, KubeContext string
	// Timeout bounds each fault's recovery (default 30s).
	Timeout time.Duration
}

// Recover reads the journal in dir and undoes every fault that a dead runner left
// active, using each fault kind's Definition.Recover and the state it journaled. A
// run whose runner process is still alive is skipped (unless Force or it is this
// process). It is safe to run twice: recovered faults are marked in the journal and a
// run with nothing left is closed.
//
// Each journal file is recovered on its own: one that cannot be read, or a fault
// whose state is damaged, is reported as "failed" (and joined into the error) while
// the others are recovered. A run with anything failed stays unfinished.
func Recover(ctx context.Context, dir string, reg Registries, opts RecoverOptions) ([]RecoverAction, error) {
	runs, err := ReadJournal(dir)
	if err != nil {
		return nil, err
	}
	if opts.Timeout == 0 {
		opts.Timeout = 30 * time.Second
	}
	var actions []RecoverAction
	var errs []error
	for _, run := range runs {
		if opts.RunID != "" && run.RunID != opts.RunID {
			continue
		}
		acts, err := recoverRun(ctx, run, runs, reg, opts)
		actions = append(actions, acts...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return actions, errors.Join(errs...)
}

func recoverRun(ctx context.Context, run JournaledRun, all []JournaledRun, reg Registries, opts RecoverOptions) ([]RecoverAction, error) {
	base := RecoverAction{RunID: run.RunID, Experiment: run.Experiment}
	if run.Err != nil {
		a := base
		a.Action, a.Error = "failed", fmt.Sprintf("could not read journal file %s: %v", run.Path, run.Err)
		return []RecoverAction{a}, errors.New(a.Error)
	}
	alive := run.PID != os.Getpid() && runnerAlive(run.PID, run.PIDStart)
	if alive && !opts.Force {
		a := base
		a.Action = fmt.Sprintf("skipped: its runner (pid %d) is still running; stop it or use --force", run.PID)
		return []RecoverAction{a}, nil
	}
	j, err := reopenRunJournal(run.Path)
	if err != nil {
		a := base
		a.Action, a.Error = "failed", err.Error()
		return []RecoverAction{a}, err
	}
	env := recoverEnv(run, opts)
	env.Claims = func() []injectors.Claim { return claimsOf(all, run.RunID) }
	var actions []RecoverAction
	var errs []error
	left := 0
	// Last in, first out, as the runner would have done.
	for i := len(run.Pending) - 1; i >= 0; i-- {
		p := run.Pending[i]
		a := base
		a.Fault, a.Kind = p.Fault, p.Kind
		var did []string
		env.Logf = func(format string, args ...any) { did = append(did, fmt.Sprintf(format, args...)) }
		err := recoverOne(ctx, reg, env, p, opts.Timeout)
		switch {
		case errors.Is(err, injectors.ErrNothingToRevert):
			a.Action = "nothing to revert: " + strings.TrimSuffix(err.Error(), ": "+injectors.ErrNothingToRevert.Error())
			_ = j.append(JournalEntry{Event: "recovered", Fault: p.Fault})
		case err != nil:
			a.Action, a.Error = "failed", fmt.Sprintf("could not recover fault %s: %v", p.Fault, err)
			errs = append(errs, fmt.Errorf("run %s: %s", run.RunID, a.Error))
			left++
			_ = j.append(JournalEntry{Event: "revert-failed", Fault: p.Fault, Error: "recover: " + err.Error()})
		case p.State == nil:
			a.Action = "nothing to revert: the injector had not changed anything yet"
			_ = j.append(JournalEntry{Event: "recovered", Fault: p.Fault})
		default:
			a.Action = "reverted"
			if len(did) > 0 {
				a.Action += ": " + strings.Join(did, "; ")
			}
			_ = j.append(JournalEntry{Event: "recovered", Fault: p.Fault})
		}
		if p.Note != "" {
			a.Action += " (" + p.Note + ")"
		}
		actions = append(actions, a)
	}
	for _, prob := range run.Problems {
		a := base
		a.Action, a.Error = "failed", "could not recover: "+prob
		errs = append(errs, fmt.Errorf("run %s: %s", run.RunID, a.Error))
		left++
		actions = append(actions, a)
	}
	if len(run.Pending) == 0 && len(run.Problems) == 0 {
		a := base
		a.Action = "nothing to revert: the run left no active fault"
		actions = append(actions, a)
	}
	if alive {
		// --force on a live run: its faults are undone under it, but the journal is
		// its runner's to end; it reverts (finding nothing) and closes it.
		for i := range actions {
			actions[i].Action += fmt.Sprintf(" (its runner, pid %d, still runs and will close its journal)", run.PID)
		}
		errs = append(errs, j.closeFile())
	} else if err := j.close("recovered", left == 0); err != nil {
		errs = append(errs, err)
	}
	return actions, errors.Join(errs...)
}

func recoverOne(ctx context.Context, reg Registries, env *injectors.Env, p PendingFault, timeout time.Duration) error {
	if p.Damaged != "" {
		if p.State != nil {
			// Undo what the last complete state describes; the damage still stands.
			if err := recoverState(ctx, reg, env, p, timeout); err != nil && !errors.Is(err, injectors.ErrNothingToRevert) {
				return fmt.Errorf("%s; undoing its earlier state also failed: %w", p.Damaged, err)
			}
			return errors.New(p.Damaged + " (what its earlier complete state describes was undone; check the rest by hand, then remove the journal file)")
		}
		return errors.New(p.Damaged + " (check by hand, then remove the journal file)")
	}
	if p.State == nil {
		return nil
	}
	return recoverState(ctx, reg, env, p, timeout)
}

func recoverState(ctx context.Context, reg Registries, env *injectors.Env, p PendingFault, timeout time.Duration) error {
	def, ok := reg.Injectors.Lookup(p.Kind)
	if !ok {
		return fmt.Errorf("fault kind %q is not registered in this binary", p.Kind)
	}
	if err := knownShape(p.State); err != nil {
		return err
	}
	if def.Recover == nil {
		return injectors.NothingToRevert("nothing of a %s outlives its runner", p.Kind)
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	return def.Recover(rctx, env, p.State)
}

// knownShape refuses a journaled state that no injector writes: null, or an
// empty object, array or string. (Each kind's Recover checks the shape of its
// own state further.) Such a state is never reported as reverted.
func knownShape(state json.RawMessage) error {
	var v any
	if err := json.Unmarshal(state, &v); err != nil {
		return fmt.Errorf("its journaled state does not decode: %w", err)
	}
	empty := v == nil
	switch x := v.(type) {
	case map[string]any:
		empty = len(x) == 0
	case []any:
		empty = len(x) == 0
	case string:
		empty = x == ""
	}
	if empty {
		return fmt.Errorf("its journaled state has an unknown shape: %.80s", state)
	}
	return nil
}

func recoverEnv(run JournaledRun, opts RecoverOptions) *injectors.Env {
	kubeOnce := sync.OnceValues(func() (*kube.Client, error) {
		t := kube.Target{}
		if run.Target != nil {
			t = *run.Target
		} else if opts.Kubeconfig == "" && opts.KubeContext == "" {
			return nil, errors.New("the run had no Kubernetes target")
		}
		if opts.Kubeconfig != "" {
			t.Kubeconfig = opts.Kubeconfig
		}
		if opts.KubeContext != "" {
			t.Context = opts.KubeContext
		}
		return kube.NewClient(t)
	})
	return &injectors.Env{RunID: run.RunID, Experiment: run.Experiment, Kube: kubeOnce, Logf: func(string, ...any) {}, Resources: map[string]any{}}
}

// runnerAlive reports whether pid is still the process that wrote the journal.
func runnerAlive(pid int, start uint64) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	st := procStartTime(pid)
	if st == 0 || (start != 0 && st != start) {
		return false
	}
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	i := strings.LastIndexByte(string(b), ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}

// RunnerAlive reports whether the process that wrote this run's journal still runs
// (same pid and start time), i.e. whether its faults are still owned by a live runner.
func (r JournaledRun) RunnerAlive() bool {
	return r.PID != os.Getpid() && runnerAlive(r.PID, r.PIDStart)
}
