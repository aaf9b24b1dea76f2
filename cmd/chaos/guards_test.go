package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// guardExperiment is a dry-runnable experiment with one fault block.
func guardExperiment(probeAddr, fault, safety string) string {
	return fmt.Sprintf(`apiVersion: faultline.dev/v1alpha1
kind: Experiment
metadata: {name: guard}
spec:
  steadyState:
    baseline: 30s
    probes:
      - {name: up, tcp: {address: %q}}
  faults:
    - name: f
      %s
%s`, probeAddr, fault, safety)
}

func listen(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l.Addr().String()
}

func pidFileOf(t *testing.T, pid int) string {
	return writeFile(t, "target.pid", strconv.Itoa(pid)+"\n")
}

// startOtherRunner starts a real `chaos run` that stays in its baseline, and
// interrupts it at the end of the test.
func startOtherRunner(t *testing.T) int {
	t.Helper()
	sleeper := exec.Command("sleep", "300")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sleeper.Process.Kill(); _ = sleeper.Wait() })
	exp := writeFile(t, "other.yaml", guardExperiment(listen(t),
		fmt.Sprintf("processKill: {pid: %d}", sleeper.Process.Pid), ""))
	cmd := exec.Command(chaosBin, "run", "--journal", t.TempDir(), "--report-dir", t.TempDir(), "--progress", "none", exp)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Signal(syscall.SIGINT); _ = cmd.Wait() })
	return cmd.Process.Pid
}

// TestDryRunRefusesProtectedProcesses: by pid, by pidFile and by a match, init,
// the runner itself, its parent and another live `chaos run` are refused at plan
// time, before anything is journaled; nothing is signalled (a dry run only plans).
func TestDryRunRefusesProtectedProcesses(t *testing.T) {
	addr := listen(t)
	other := startOtherRunner(t)
	// Enough processes of our own that a match-everything selector exceeds the default
	// cap however quiet the machine is (a CI box may run only a handful).
	for i := 0; i < 12; i++ {
		p := exec.Command("sleep", "300")
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.Process.Kill(); _ = p.Wait() })
	}
	time.Sleep(100 * time.Millisecond) // let them exec
	for name, c := range map[string]struct{ fault, want string }{
		"pidFile holding 1":    {fmt.Sprintf("processKill: {pidFile: %s}", pidFileOf(t, 1)), "pid 1 (init) is never a target"},
		"the runner by pid":    {fmt.Sprintf("processPause: {pid: %d}", os.Getpid()), "is the runner itself"},
		"the runner's parent":  {fmt.Sprintf("processKill: {pidFile: %s}", pidFileOf(t, os.Getppid())), "is an ancestor of the runner"},
		"another chaos run":    {fmt.Sprintf("processPause: {pid: %d}", other), "is another Faultline runner"},
		"match everything":     {`processKill: {match: ".*"}`, "more than safety.blastRadius.maxProcesses (the default 10)"},
		"match everything all": {`processPause: {match: "^", all: true}`, "raise maxProcesses"},
	} {
		t.Run(name, func(t *testing.T) {
			journal := t.TempDir()
			exp := writeFile(t, "e.yaml", guardExperiment(addr, c.fault, ""))
			code, out, errOut := runCLI(t, "run", "--dry-run", "--journal", journal, "--progress", "none", exp)
			if code != 3 || !strings.Contains(out+errOut, c.want) {
				t.Fatalf("exit %d, want 3 with %q:\n%s\n%s", code, c.want, out, errOut)
			}
			if entries, _ := os.ReadDir(journal); len(entries) != 0 {
				t.Fatalf("journal written: %v", entries)
			}
		})
	}
	if st := procState(t, other); st == 'T' || st == 'Z' {
		t.Fatalf("the other runner is in state %c", st)
	}
}

// TestValidateRefusesPIDOneAndStopSignal: what needs no live system is refused
// by `chaos validate`, exit 2.
func TestValidateRefusesPIDOneAndStopSignal(t *testing.T) {
	exp := writeFile(t, "e.yaml", guardExperiment("127.0.0.1:1", `processKill: {pid: 1, signal: SIGSTOP}`, ""))
	code, _, errOut := runCLI(t, "validate", exp)
	for _, want := range []string{"processKill.pid: pid 1 (init) is never a target", "processKill.signal: SIGSTOP stops a process", "use processPause"} {
		if code != 2 || !strings.Contains(errOut, want) {
			t.Errorf("exit %d, stderr lacks %q:\n%s", code, want, errOut)
		}
	}
}

// TestDryRunHostNetworkGuard: a partition of every address in the runner's own
// namespace is refused at plan time unless safety.blastRadius.allowHostNetwork,
// and the opted-in plan says what it will cut. Only dry runs: nothing is cut.
func TestDryRunHostNetworkGuard(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("network faults need root (CAP_NET_ADMIN) to plan")
	}
	addr := listen(t)
	for _, fault := range []string{
		`networkPartition: {cidrs: [0.0.0.0/0], direction: both}`,
		`networkPartition: {cidrs: ["::/0"]}`,
		`networkPartition: {ports: [22]}`,
	} {
		journal := t.TempDir()
		exp := writeFile(t, "e.yaml", guardExperiment(addr, fault, ""))
		code, out, errOut := runCLI(t, "run", "--dry-run", "--journal", journal, "--progress", "none", exp)
		if code != 3 || !strings.Contains(out+errOut, "host-network guard") || !strings.Contains(out+errOut, "allowHostNetwork: true") {
			t.Errorf("%s: exit %d, want 3 naming the guard and the opt-in:\n%s\n%s", fault, code, out, errOut)
		}
		if entries, _ := os.ReadDir(journal); len(entries) != 0 {
			t.Errorf("journal written: %v", entries)
		}
	}
	exp := writeFile(t, "e.yaml", guardExperiment(addr, `networkPartition: {cidrs: [0.0.0.0/0], ports: [22]}`,
		"  safety:\n    blastRadius: {allowHostNetwork: true}\n"))
	code, out, errOut := runCLI(t, "run", "--dry-run", "--journal", t.TempDir(), "--progress", "none", exp)
	if code != 0 || !strings.Contains(out, "HOST-WIDE") || !strings.Contains(out, "every connection of this host to 0.0.0.0/0") {
		t.Fatalf("opted in: exit %d, want 0 and a plan saying what it cuts:\n%s\n%s", code, out, errOut)
	}
}

// TestValidateRefusesAFIFO: `chaos validate` on a named pipe returns at once.
func TestValidateRefusesAFIFO(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "exp.yaml")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	type result struct {
		code   int
		errOut string
	}
	done := make(chan result, 1)
	go func() { code, _, errOut := runCLI(t, "validate", fifo); done <- result{code, errOut} }()
	select {
	case r := <-done:
		if r.code != 2 || !strings.Contains(r.errOut, "not a regular file") {
			t.Fatalf("exit %d, stderr %q", r.code, r.errOut)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("chaos validate blocked on a FIFO")
	}
}
