package experiments

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/faultline-dev/faultline/reports"
)

// runRollbacks runs every rollback, in order, whatever happened before: after a pass,
// a failure, an abort or an interrupt. Each runs under its own timeout (default 1m)
// on a context an interrupt does not cancel.
func (r *run) runRollbacks(ctx context.Context) {
	if len(r.e.Spec.Rollbacks) == 0 {
		return
	}
	r.setPhase("rollbacks", 0)
	defer r.endPhase()
	for _, rb := range r.e.Spec.Rollbacks {
		if rb.Exec == nil {
			continue
		}
		out := runExec(ctx, rb.Exec)
		r.res.Rollbacks = append(r.res.Rollbacks, out)
		if out.Error != "" {
			r.addError("rollback %s: %s", out.Action, out.Error)
			r.prog.event("rollback %s failed: %s", out.Action, out.Error)
		} else {
			r.prog.event("rollback %s done in %s", out.Action, round(out.Duration))
		}
	}
}

func runExec(ctx context.Context, a *ExecAction) reports.RollbackOutcome {
	timeout := a.Timeout
	if timeout == 0 {
		timeout = time.Minute
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	cmd := exec.CommandContext(cctx, a.Command[0], a.Command[1:]...)
	cmd.Dir = a.Dir
	cmd.Env = os.Environ()
	for k, v := range a.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	// Its own process group, killed whole on timeout: nothing lingers.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	t0 := time.Now()
	err := cmd.Run()
	out := reports.RollbackOutcome{Action: "exec " + strings.Join(a.Command, " "), Duration: time.Since(t0), Output: tail(buf.String(), 4096)}
	if err != nil {
		if cctx.Err() != nil {
			err = fmt.Errorf("timed out after %s", timeout)
		}
		out.Error = err.Error()
	}
	return out
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
