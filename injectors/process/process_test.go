package process

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/faultline-dev/faultline/injectors"
)

type memJournal struct{ states []json.RawMessage }

func (m *memJournal) Record(state any) error {
	b, err := json.Marshal(state)
	m.states = append(m.states, b)
	return err
}

// startSleeper starts `sleep 300.<tag>`, a real process matchable by its command
// line (sleep takes fractional seconds), and reaps it at the end.
func startSleeper(t *testing.T, tag string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "300."+tag)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGCONT)
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd
}

func state(t *testing.T, pid int) byte {
	t.Helper()
	st, _, err := readStat(pid)
	if err != nil {
		t.Fatalf("reading state of %d: %v", pid, err)
	}
	return st
}

func TestPausePausesAndRevertResumes(t *testing.T) {
	cmd := startSleeper(t, "1001")
	p := &Pause{spec: PauseSpec{Selector{Match: `^sleep 300\.1001$`}}}
	plan, err := p.Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Targets) != 1 || plan.Targets[0].Name != strconv.Itoa(cmd.Process.Pid) {
		t.Fatalf("plan targets = %+v, want pid %d", plan.Targets, cmd.Process.Pid)
	}
	j := &memJournal{}
	inj, err := p.Inject(context.Background(), j)
	if err != nil {
		t.Fatal(err)
	}
	if len(j.states) != 1 {
		t.Fatalf("journal records = %d, want 1 before the change", len(j.states))
	}
	if st := state(t, cmd.Process.Pid); st != 'T' {
		t.Fatalf("state after inject = %c, want T", st)
	}
	if err := inj.Revert(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := state(t, cmd.Process.Pid); st == 'T' {
		t.Fatalf("state after revert = T, want running/sleeping")
	}
	if err := inj.Revert(context.Background()); err != nil {
		t.Fatalf("second revert: %v", err)
	}
}

func TestRecoverPauseFromJournalState(t *testing.T) {
	cmd := startSleeper(t, "1002")
	p := &Pause{spec: PauseSpec{Selector{PID: cmd.Process.Pid}}}
	j := &memJournal{}
	if _, err := p.Inject(context.Background(), j); err != nil {
		t.Fatal(err)
	}
	if err := recoverPause(context.Background(), nil, j.states[0]); err != nil {
		t.Fatal(err)
	}
	if st := state(t, cmd.Process.Pid); st == 'T' {
		t.Fatal("still stopped after recover")
	}
}

func TestRevertSkipsReusedPID(t *testing.T) {
	cmd := startSleeper(t, "1003")
	me, err := lookup(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	me.StartTime++ // pretend the pid now belongs to another process
	if me.alive() {
		t.Fatal("a process with another start time must not count as the same process")
	}
	_ = syscall.Kill(cmd.Process.Pid, syscall.SIGSTOP)
	if err := resume([]Proc{me}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	if st := state(t, cmd.Process.Pid); st != 'T' {
		t.Fatalf("resume signalled a process it did not pause (state %c)", st)
	}
}

func TestKillByPIDFileProvesGone(t *testing.T) {
	cmd := startSleeper(t, "1004")
	pidFile := filepath.Join(t.TempDir(), "app.pid")
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	k := &Kill{spec: KillSpec{Selector: Selector{PIDFile: pidFile}}, sig: syscall.SIGKILL}
	inj, err := k.Inject(context.Background(), &memJournal{})
	if err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("process ended with %v, want killed by SIGKILL", err)
	}
	if inj.Proof == "" {
		t.Fatal("no proof")
	}
}

func TestKillCountAndNoTargets(t *testing.T) {
	startSleeper(t, "1005")
	startSleeper(t, "1005")
	k := &Kill{spec: KillSpec{Selector: Selector{Match: `^sleep 300\.1005$`, Count: 1}}, sig: syscall.SIGTERM}
	plan, err := k.Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if plan.Matched != 2 || len(plan.Targets) != 1 {
		t.Fatalf("matched %d targets %d, want 2 and 1", plan.Matched, len(plan.Targets))
	}
	none := &Kill{spec: KillSpec{Selector: Selector{Match: `^no-such-process-xyz$`}}, sig: syscall.SIGKILL}
	if _, err := none.Plan(context.Background()); !errors.Is(err, injectors.ErrNoTargets) {
		t.Fatalf("err = %v, want ErrNoTargets", err)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec KillSpec
		want int
	}{
		{"ok", KillSpec{Selector: Selector{PID: 4242}}, 0},
		{"none", KillSpec{}, 1},
		{"two", KillSpec{Selector: Selector{PID: 4242, Match: "x"}}, 1},
		{"bad regexp", KillSpec{Selector: Selector{Match: "("}}, 1},
		{"bad signal", KillSpec{Selector: Selector{PID: 4242}, Signal: "SIGNOPE"}, 1},
		{"negative count", KillSpec{Selector: Selector{PID: 4242, Count: -1}}, 1},
		{"signal by name", KillSpec{Selector: Selector{PID: 4242}, Signal: "term"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs := tc.spec.Validate(field.NewPath("spec", "faults").Index(0).Child("processKill"))
			if len(errs) != tc.want {
				t.Fatalf("got %d errors %v, want %d", len(errs), errs, tc.want)
			}
		})
	}
}

func TestKillWithIgnoredSignalFailsInsteadOfPassing(t *testing.T) {
	// A shell that ignores SIGTERM: delivery alone must not count as the fault.
	cmd := exec.Command("sh", "-c", "trap '' TERM; while :; do sleep 0.05; done", "ignore-term-1006")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	waitIgnored(t, cmd.Process.Pid, syscall.SIGTERM) // let the shell install its trap
	k := &Kill{spec: KillSpec{Selector: Selector{PID: cmd.Process.Pid}, ExitWithin: 300 * time.Millisecond}, sig: syscall.SIGTERM}
	_, err := k.Inject(context.Background(), &memJournal{})
	if err == nil || !strings.Contains(err.Error(), "did not take effect") {
		t.Fatalf("err = %v, want the fault reported as not taken effect", err)
	}
	// SIGTERM to a process that does not ignore it is proved by its exit.
	plain := startSleeper(t, "1007")
	k = &Kill{spec: KillSpec{Selector: Selector{PID: plain.Process.Pid}}, sig: syscall.SIGTERM}
	inj, err := k.Inject(context.Background(), &memJournal{})
	if err != nil || !strings.Contains(inj.Proof, "gone") {
		t.Fatalf("SIGTERM: proof %q err %v", inj.Proof, err)
	}
}

// waitIgnored waits until pid ignores sig (SigIgn in /proc/PID/status).
func waitIgnored(t *testing.T, pid int, sig syscall.Signal) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "SigIgn:"); ok {
				if mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64); err == nil && mask&(1<<(uint(sig)-1)) != 0 {
					return
				}
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("pid %d never ignored %v", pid, sig)
}
