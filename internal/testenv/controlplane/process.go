package controlplane

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// process is one component started by a ControlPlane. It runs in its own process
// group (pgid == pid), so stopping it also stops anything it forked.
type process struct {
	name string
	pid  int
	log  string        // path of its combined stdout/stderr
	done chan struct{} // closed when it exited (attached mode only)
	err  error         // its exit status, valid after done
}

// spawner starts processes from one goroutine locked to its OS thread. Linux sends
// Pdeathsig when the *thread* that forked a child exits; the Go runtime may retire
// other threads, so forking from a thread that lives exactly as long as the control
// plane makes "the test binary died, its children die with it" hold.
type spawner struct {
	reqs chan spawnReq
	quit chan struct{}
	done chan struct{}
}

type spawnReq struct {
	cmd *exec.Cmd
	res chan error
}

func newSpawner() *spawner {
	s := &spawner{reqs: make(chan spawnReq), quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
		for {
			select {
			case r := <-s.reqs:
				r.res <- r.cmd.Start()
			case <-s.quit:
				return
			}
		}
	}()
	return s
}

func (s *spawner) start(cmd *exec.Cmd) error {
	r := spawnReq{cmd: cmd, res: make(chan error, 1)}
	select {
	case s.reqs <- r:
		return <-r.res
	case <-s.done:
		return errors.New("control plane: spawner stopped")
	}
}

// close stops the spawner goroutine (its thread exits; children already stopped).
func (s *spawner) close() {
	select {
	case <-s.quit:
	default:
		close(s.quit)
	}
	<-s.done
}

// startProcess starts bin with args, logging to logDir/<name>.log. Attached
// processes get SIGKILL when the spawning thread dies (Pdeathsig) and are reaped by
// a goroutine that ends when they exit; detached ones (cluster up) start a new
// session and outlive this process.
func startProcess(sp *spawner, detach bool, name, bin string, args []string, logDir string) (*process, error) {
	logPath := filepath.Join(logDir, name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	defer f.Close() // the child has its own copy
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Dir = logDir
	if detach {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("starting %s: %w", name, err)
		}
		p := &process{name: name, pid: cmd.Process.Pid, log: logPath}
		_ = cmd.Process.Release()
		return p, nil
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := sp.start(cmd); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &process{name: name, pid: cmd.Process.Pid, log: logPath, done: make(chan struct{})}
	go func() { // owned by p: ends when the process exits, which stop guarantees
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether an attached process has exited, with its status.
func (p *process) exited() (bool, error) {
	if p.done == nil {
		return !alive(p.pid), nil
	}
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// stop sends SIGTERM to the process group, then SIGKILL after grace, and waits
// until the leader is gone. Already exited is success.
func (p *process) stop(ctx context.Context, grace time.Duration) error {
	if gone, _ := p.exited(); gone {
		return nil
	}
	_ = syscall.Kill(-p.pid, syscall.SIGTERM)
	if p.wait(ctx, grace) {
		_ = syscall.Kill(-p.pid, syscall.SIGKILL) // stragglers in the group
		return nil
	}
	_ = syscall.Kill(-p.pid, syscall.SIGKILL)
	if p.wait(ctx, 10*time.Second) {
		return nil
	}
	return fmt.Errorf("stopping %s (pid %d): still running after SIGKILL", p.name, p.pid)
}

func (p *process) wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	if p.done != nil {
		select {
		case <-p.done:
			return true
		case <-t.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if !alive(p.pid) {
			return true
		}
		select {
		case <-tick.C:
		case <-t.C:
			return !alive(p.pid)
		case <-ctx.Done():
			return false
		}
	}
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// state is the field after the parenthesised command name.
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}

// exeOf returns the executable path of pid ("" if unknown), used to check a
// recorded PID still belongs to the component it was recorded for.
func exeOf(pid int) string {
	p, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(p, " (deleted)")
}
