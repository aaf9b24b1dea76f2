package process

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/faultline-dev/faultline/injectors"
)

// TestMain lets a test start a copy of this test binary that only sleeps: to the
// guard it is another process running the runner's executable.
func TestMain(m *testing.M) {
	if os.Getenv("FAULTLINE_TEST_SLEEP") == "1" {
		time.Sleep(5 * time.Minute)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func writePIDFile(t *testing.T, pid int) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "x.pid")
	if err := os.WriteFile(f, []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

func startCmd(t *testing.T, cmd *exec.Cmd) int {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd.Process.Pid
}

// planKill and planPause only plan: nothing is ever signalled here.
func planKill(sel Selector, br injectors.BlastRadius) (injectors.Plan, error) {
	return (&Kill{spec: KillSpec{Selector: sel}, sig: syscall.SIGKILL, br: br}).Plan(context.Background())
}

func planPause(sel Selector, br injectors.BlastRadius) (injectors.Plan, error) {
	return (&Pause{spec: PauseSpec{Selector: sel}, br: br}).Plan(context.Background())
}

// kthread returns the pid of a kernel thread, or 0.
func kthread(t *testing.T) int {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if f, err := statFlags(pid); err == nil && f&pfKthread != 0 {
			return pid
		}
	}
	return 0
}

func TestGuardRefusesProtectedProcessesBySelector(t *testing.T) {
	// Another Faultline runner: a copy of this binary (same executable) ...
	twin := exec.Command(os.Args[0], "-test.run=^$")
	twin.Env = append(os.Environ(), "FAULTLINE_TEST_SLEEP=1")
	twinPID := startCmd(t, twin)
	// ... and a `chaos run` of another build (a shell renamed chaos, running ./run).
	dir := t.TempDir()
	sh, err := os.ReadFile("/bin/sh")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "chaos"), sh, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "run"), []byte("while :; do sleep 1; done\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	other := exec.Command(filepath.Join(dir, "chaos"), "run")
	other.Dir = dir
	otherPID := startCmd(t, other)
	// Enough processes of our own that a match-everything selector exceeds the default
	// cap whatever else runs on the machine (a quiet CI box may have only a handful).
	for i := 0; i < 12; i++ {
		startCmd(t, exec.Command("sleep", "300"))
	}
	time.Sleep(50 * time.Millisecond) // let them exec

	type tc struct {
		name string
		sel  Selector
		want string
	}
	cases := []tc{
		{"pid 1", Selector{PID: 1}, "pid 1 (init) is never a target"},
		{"pidFile holding 1", Selector{PIDFile: writePIDFile(t, 1)}, "pid 1 (init) is never a target"},
		{"the runner by pid", Selector{PID: os.Getpid()}, "is the runner itself"},
		{"the runner by pidFile", Selector{PIDFile: writePIDFile(t, os.Getpid())}, "is the runner itself"},
		{"the runner's parent", Selector{PID: os.Getppid()}, "is an ancestor of the runner"},
		{"the parent by pidFile", Selector{PIDFile: writePIDFile(t, os.Getppid())}, "is an ancestor of the runner"},
		{"another runner (same executable)", Selector{PID: twinPID}, "is another Faultline runner"},
		{"another runner (chaos run)", Selector{PIDFile: writePIDFile(t, otherPID)}, "is another Faultline runner"},
		{"match .*", Selector{Match: ".*"}, "safety.blastRadius.maxProcesses (the default 10)"},
		{"match ^", Selector{Match: "^"}, "safety.blastRadius.maxProcesses (the default 10)"},
		{"match .* all", Selector{Match: ".*", All: true}, "narrow the match or raise maxProcesses"},
		{"match of init's command line", Selector{Match: "^" + regexp.QuoteMeta(readCmdline(1)) + "$"}, "protected matching process(es) left out"},
		{"match of another runner", Selector{Match: "^" + regexp.QuoteMeta(filepath.Join(dir, "chaos")) + " run$"}, "protected matching process(es) left out"},
	}
	if k := kthread(t); k != 0 {
		cases = append(cases, tc{"kernel thread", Selector{PID: k}, "is a kernel thread"})
	} else {
		t.Log("no kernel thread visible in this pid namespace: kernel-thread case not run")
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for kind, plan := range map[string]func(Selector, injectors.BlastRadius) (injectors.Plan, error){"processKill": planKill, "processPause": planPause} {
				p, err := plan(c.sel, injectors.BlastRadius{})
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("%s plan = %+v, err %v; want refusal containing %q", kind, p.Targets, err, c.want)
				}
			}
		})
	}
	// Every process it refused is still there and running.
	for _, pid := range []int{1, twinPID, otherPID} {
		if st, _, err := readStat(pid); err != nil || st == 'T' || st == 'Z' {
			t.Errorf("pid %d: state %c err %v", pid, st, err)
		}
	}
}

func TestMatchCapIsMaxProcesses(t *testing.T) {
	for range 3 {
		startSleeper(t, "2001")
	}
	sel := Selector{Match: `^sleep 300\.2001$`, All: true}
	// Default cap (10) admits 3.
	p, err := planKill(sel, injectors.BlastRadius{})
	if err != nil || len(p.Targets) != 3 {
		t.Fatalf("default cap: targets %d err %v, want 3", len(p.Targets), err)
	}
	_, err = planPause(sel, injectors.BlastRadius{MaxProcesses: 2})
	if err == nil || !strings.Contains(err.Error(), "selects 3 processes, more than safety.blastRadius.maxProcesses (2)") {
		t.Fatalf("maxProcesses 2: err %v", err)
	}
	// The cap counts candidates, not targets: count 1 of 3 is still refused.
	one := Selector{Match: `^sleep 300\.2001$`, Count: 1}
	if _, err := planKill(one, injectors.BlastRadius{MaxProcesses: 2}); err == nil {
		t.Fatal("count 1 of 3 candidates accepted under maxProcesses 2")
	}
	// Raised to 3: admitted.
	if _, err := planKill(sel, injectors.BlastRadius{MaxProcesses: 3}); err != nil {
		t.Fatalf("maxProcesses 3: %v", err)
	}
}

func TestKillOfAPlainProcessStillWorks(t *testing.T) {
	cmd := startSleeper(t, "2002")
	k := &Kill{spec: KillSpec{Selector: Selector{PID: cmd.Process.Pid}}, sig: syscall.SIGTERM}
	if _, err := k.Inject(context.Background(), &memJournal{}); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err == nil {
		t.Fatal("process exited cleanly, want killed by SIGTERM")
	}
}

func TestPIDFileMustBeRegular(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "app.pid")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := planKill(Selector{PIDFile: fifo}, injectors.BlastRadius{}); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Fatalf("err = %v, want not a regular file", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("plan blocked on a FIFO pidFile")
	}
}

func TestValidateRefusesInitAndStopSignals(t *testing.T) {
	p := field.NewPath("spec", "faults").Index(0).Child("processKill")
	for _, tc := range []struct {
		spec KillSpec
		want string
	}{
		{KillSpec{Selector: Selector{PID: 1}}, "pid 1 (init) is never a target"},
		{KillSpec{Selector: Selector{PID: 4242}, Signal: "SIGSTOP"}, "use processPause"},
		{KillSpec{Selector: Selector{PID: 4242}, Signal: "tstp"}, "SIGTSTP stops a process"},
		{KillSpec{Selector: Selector{PID: 4242}, Signal: "SIGTTIN"}, "use processPause"},
		{KillSpec{Selector: Selector{PID: 4242}, Signal: strconv.Itoa(int(syscall.SIGTTOU))}, "use processPause"},
	} {
		errs := tc.spec.Validate(p)
		if len(errs) != 1 || !strings.Contains(errs[0].Detail, tc.want) {
			t.Errorf("%+v: errors %v, want one containing %q", tc.spec, errs, tc.want)
		}
	}
	for _, sig := range []string{"SIGKILL", "SIGTERM", "SIGHUP", "SIGUSR1", "SIGINT", "SIGQUIT", "SIGCONT", "SIGWINCH"} {
		if errs := (&KillSpec{Selector: Selector{PID: 4242}, Signal: sig}).Validate(p); len(errs) != 0 {
			t.Errorf("%s refused: %v", sig, errs)
		}
	}
	pause := &PauseSpec{Selector{PID: 1}}
	if errs := pause.Validate(field.NewPath("processPause")); len(errs) != 1 {
		t.Errorf("processPause pid 1: %v", errs)
	}
}
