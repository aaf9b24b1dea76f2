package experiments

import (
	"context"
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
	// Action: "reverted", "nothing to revert", "skipped: runner alive", "failed".
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
		base := RecoverAction{RunID: run.RunID, Experiment: run.Experiment}
		if !opts.Force && run.PID != os.Getpid() && runnerAlive(run.PID, run.PIDStart) {
			a := base
			a.Action = fmt.Sprintf("skipped: its runner (pid %d) is still running; stop it or use --force", run.PID)
			actions = append(actions, a)
			continue
		}
		j, err := reopenRunJournal(run.Path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		env := recoverEnv(run, opts)
		left := 0
		// Last in, first out, as the runner would have done.
		for i := len(run.Pending) - 1; i >= 0; i-- {
			p := run.Pending[i]
			a := base
			a.Fault, a.Kind = p.Fault, p.Kind
			err := recoverOne(ctx, reg, env, p, opts.Timeout)
			switch {
			case err != nil:
				a.Action, a.Error = "failed", err.Error()
				errs = append(errs, fmt.Errorf("run %s fault %q: %w", run.RunID, p.Fault, err))
				left++
				_ = j.append(JournalEntry{Event: "revert-failed", Fault: p.Fault, Error: "recover: " + err.Error()})
			case p.State == nil:
				a.Action = "nothing to revert: the injector had not changed anything yet"
				_ = j.append(JournalEntry{Event: "recovered", Fault: p.Fault})
			default:
				a.Action = "reverted"
				_ = j.append(JournalEntry{Event: "recovered", Fault: p.Fault})
			}
			actions = append(actions, a)
		}
		if len(run.Pending) == 0 {
			a := base
			a.Action = "nothing to revert: the run left no active fault"
			actions = append(actions, a)
		}
		if err := j.close("recovered", left == 0); err != nil {
			errs = append(errs, err)
		}
	}
	return actions, errors.Join(errs...)
}

func recoverOne(ctx context.Context, reg Registries, env *injectors.Env, p PendingFault, timeout time.Duration) error {
	if p.State == nil {
		return nil
	}
	def, ok := reg.Injectors.Lookup(p.Kind)
	if !ok {
		return fmt.Errorf("fault kind %q is not registered in this binary", p.Kind)
	}
	if def.Recover == nil {
		return nil // nothing of it outlives the runner (e.g. a kill)
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	return def.Recover(rctx, env, p.State)
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

func reopenRunJournal(path string) (*runJournal, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	return &runJournal{path: path, f: f}, nil
}

// RunnerAlive reports whether the process that wrote this run's journal still runs
// (same pid and start time), i.e. whether its faults are still owned by a live runner.
func (r JournaledRun) RunnerAlive() bool {
	return r.PID != os.Getpid() && runnerAlive(r.PID, r.PIDStart)
}
