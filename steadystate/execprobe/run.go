package execprobe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/faultline-dev/faultline/steadystate"
)

const (
	maxStdout   = 1 << 20
	stderrTail  = 4 << 10
	valueLimit  = 128
	drainWindow = 500 * time.Millisecond // waiting for pipe EOF after the group is killed
)

// Probe is one configured exec probe; safe for concurrent use.
type Probe struct {
	spec    Spec
	re      *regexp.Regexp
	env     []string // extra KEY=value, appended to os.Environ()
	timeout time.Duration
}

var _ steadystate.Probe = (*Probe)(nil)

// New builds a probe from a validated spec.
func New(s *Spec) (*Probe, error) {
	p := &Probe{spec: *s, timeout: s.Timeout}
	if len(s.Command) == 0 {
		return nil, errors.New("execprobe: empty command")
	}
	if p.timeout <= 0 {
		p.timeout = DefaultTimeout
	}
	if s.StdoutRegex != "" {
		re, err := regexp.Compile(s.StdoutRegex)
		if err != nil {
			return nil, fmt.Errorf("execprobe: stdoutRegex: %w", err)
		}
		p.re = re
	}
	for k, v := range s.Env {
		p.env = append(p.env, k+"="+v)
	}
	return p, nil
}

// Probe runs the command once.
func (p *Probe) Probe(ctx context.Context) steadystate.Observation {
	start := time.Now()
	obs := steadystate.Observation{Time: start}
	res, err := p.run(ctx)
	obs.Latency = time.Since(start)
	switch {
	case err != nil:
		obs.Status, obs.Detail = steadystate.StatusErrored, err.Error()
		return obs
	case steadystate.Cancelled(ctx):
		obs.Status, obs.Detail = steadystate.StatusErrored, "cancelled by the runner"
		return obs
	}
	out := strings.TrimRight(string(res.stdout), "\r\n")
	obs.Values = map[string]string{"stdout": firstBytes(strings.TrimSpace(out), valueLimit)}
	switch {
	case res.timedOut:
		obs.Status, obs.Detail = steadystate.StatusFailed, "timeout after "+steadystate.FormatDuration(p.timeout)
	case res.signal != 0:
		obs.Status, obs.Detail = steadystate.StatusFailed, "killed by signal "+res.signal.String()
	case res.code != p.spec.ExpectExitCode:
		obs.Values["exitCode"] = strconv.Itoa(res.code)
		obs.Status, obs.Detail = steadystate.StatusFailed, fmt.Sprintf("exit %d (want %d)", res.code, p.spec.ExpectExitCode)
	case p.spec.StdoutContains != "" && !strings.Contains(out, p.spec.StdoutContains):
		obs.Values["exitCode"] = strconv.Itoa(res.code)
		obs.Status, obs.Detail = steadystate.StatusFailed, fmt.Sprintf("stdout lacks %q", p.spec.StdoutContains)
	case p.re != nil && !p.re.MatchString(out):
		obs.Values["exitCode"] = strconv.Itoa(res.code)
		obs.Status, obs.Detail = steadystate.StatusFailed, fmt.Sprintf("stdout does not match /%s/", p.re)
	default:
		obs.Values["exitCode"] = strconv.Itoa(res.code)
		obs.Status, obs.Detail = steadystate.StatusOK, "exit "+strconv.Itoa(res.code)
		return obs
	}
	if line := lastLine(res.stderr); line != "" {
		obs.Detail += ": " + firstBytes(line, valueLimit)
	}
	return obs
}

type result struct {
	stdout, stderr []byte
	code           int
	signal         syscall.Signal
	timedOut       bool
}

// run starts the command in its own process group and waits for it. The error is
// non-nil only when the command could not be started (an errored observation).
//
// stdout and stderr are our own pipes rather than exec's copying goroutines, so that
// Wait returns when the command exits even if a leftover child holds them open; the
// group is killed right after, which closes them.
func (p *Probe) run(ctx context.Context) (result, error) {
	rctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	outR, outW, err := os.Pipe()
	if err != nil {
		return result{}, fmt.Errorf("creating stdout pipe: %w", err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return result{}, fmt.Errorf("creating stderr pipe: %w", err)
	}
	var stdout, stderr bytes.Buffer
	outDone := drain(outR, &stdout, maxStdout, false)
	errDone := drain(errR, &stderr, stderrTail, true)

	cmd := exec.CommandContext(rctx, p.spec.Command[0], p.spec.Command[1:]...)
	cmd.Stdin = nil
	cmd.Stdout, cmd.Stderr = outW, errW
	cmd.Dir = p.spec.Dir
	cmd.Env = append(os.Environ(), p.env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	startErr := cmd.Start()
	outW.Close() // the child has its copies
	errW.Close()
	if startErr != nil {
		outR.Close()
		errR.Close()
		<-outDone
		<-errDone
		return result{}, fmt.Errorf("starting %s: %w", p.spec.Command[0], unwrapStart(startErr))
	}
	pgid := cmd.Process.Pid
	waitErr := cmd.Wait()
	// Whatever the command left behind in its group goes with it.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	waitPipes(drainWindow, outR, errR, outDone, errDone)

	res := result{stdout: stdout.Bytes(), stderr: stderr.Bytes(), timedOut: rctx.Err() != nil && ctx.Err() == nil}
	if ps := cmd.ProcessState; ps != nil {
		if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			res.signal = ws.Signal()
		}
		res.code = ps.ExitCode()
	} else if waitErr != nil {
		return result{}, fmt.Errorf("waiting for %s: %w", p.spec.Command[0], waitErr)
	}
	return res, nil
}

// drain copies r into buf (keeping the first max bytes, or the last max when tail)
// until EOF or until r is closed; the channel is closed when it returns.
func drain(r io.Reader, buf *bytes.Buffer, limit int, tail bool) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		chunk := make([]byte, 32<<10)
		for {
			n, err := r.Read(chunk)
			if n > 0 {
				switch {
				case tail:
					buf.Write(chunk[:n])
					if over := buf.Len() - limit; over > 0 {
						buf.Next(over)
					}
				case buf.Len() < limit:
					buf.Write(chunk[:min(n, limit-buf.Len())])
				}
			}
			if err != nil {
				return
			}
		}
	}()
	return done
}

// waitPipes waits up to d for both drains to see EOF, then closes the read ends
// (which ends the drains: a process outside the group may still hold the pipes).
func waitPipes(d time.Duration, outR, errR *os.File, outDone, errDone <-chan struct{}) {
	t := time.NewTimer(d)
	defer t.Stop()
	for _, done := range []<-chan struct{}{outDone, errDone} {
		select {
		case <-done:
			continue
		case <-t.C:
		}
		break // out of time for both
	}
	outR.Close()
	errR.Close()
	<-outDone
	<-errDone
}

// unwrapStart shortens exec's start errors: `exec: "x": executable file not found
// in $PATH` stays, `fork/exec /bin/x: permission denied` becomes "permission denied".
func unwrapStart(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func lastLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return strings.TrimSpace(s)
}

func firstBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
