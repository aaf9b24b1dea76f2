package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// chaosBin is the chaos binary built once for the tests that need a real process
// (signals, kill -9). webappBin is the example service.
var chaosBin, webappBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "chaos-cli-test")
	if err != nil {
		panic(err)
	}
	chaosBin = filepath.Join(dir, "chaos")
	webappBin = filepath.Join(dir, "webapp")
	for bin, pkg := range map[string]string{chaosBin: ".", webappBin: "../../examples/selfheal/webapp"} {
		out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "building %s: %v\n%s", pkg, err, out)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// runCLI runs the CLI in-process and returns its exit code and output.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), args, &out, &errb)
	code := exitCode(err, &errb)
	return code, out.String(), errb.String()
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// webapp starts the example service on addr (optionally under the supervisor script)
// and waits until it answers.
func webapp(t *testing.T, addr string, supervised bool) (pidFile string, cmd *exec.Cmd) {
	t.Helper()
	pidFile = filepath.Join(t.TempDir(), "webapp.pid")
	if supervised {
		cmd = exec.Command("bash", "../../examples/selfheal/supervisor.sh", webappBin, addr, pidFile)
	} else {
		cmd = exec.Command(webappBin, "--listen", addr, "--pidfile", pidFile)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGCONT)
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/health")
		if err == nil {
			resp.Body.Close()
			if _, err := os.Stat(pidFile); err == nil {
				return pidFile, cmd
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("webapp on %s did not come up: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func pausedExperiment(addr, pidFile string, duration string) string {
	return fmt.Sprintf(`apiVersion: faultline.dev/v1alpha1
kind: Experiment
metadata: {name: pause-webapp}
spec:
  steadyState:
    baseline: 500ms
    recovery: 5s
    probes:
      - name: health
        http: {url: "http://%s/health", timeout: 200ms}
        every: 50ms
  faults:
    - name: freeze
      processPause: {pidFile: %s}
      duration: %s
  verify:
    - selfHealing: {probe: health, recoversWithin: 3s}
`, addr, pidFile, duration)
}

func procState(t *testing.T, pid int) byte {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatalf("process %d: %v", pid, err)
	}
	s := string(b)
	return s[strings.LastIndexByte(s, ')')+2]
}

func readPID(t *testing.T, pidFile string) int {
	t.Helper()
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

func TestVersionAndHelp(t *testing.T) {
	code, out, _ := runCLI(t, "version")
	if code != 0 || !strings.HasPrefix(out, "chaos ") {
		t.Fatalf("version: code %d out %q", code, out)
	}
	code, out, _ = runCLI(t, "run", "--help")
	if code != 0 || !strings.Contains(out, "--dry-run") || !strings.Contains(out, "Exit codes") {
		t.Fatalf("run --help: code %d out %q", code, out)
	}
	code, _, errOut := runCLI(t, "no-such-command")
	if code != 2 || !strings.Contains(errOut, "unknown command") {
		t.Fatalf("unknown command: code %d err %q", code, errOut)
	}
	code, out, _ = runCLI(t, "completion", "bash")
	if code != 0 || !strings.Contains(out, "bash completion") {
		t.Fatalf("completion bash: code %d", code)
	}
}

func TestValidateReportsEveryProblemAndExits2(t *testing.T) {
	bad := writeFile(t, "bad.yaml", `apiVersion: faultline.dev/v1alpha1
kind: Experiment
metadata: {name: bad}
spec:
  steadyState:
    probes:
      - name: p
        http: {url: "http://127.0.0.1:1/", timeout: soon}
  faults:
    - name: f
      processKill: {pid: 1, count: -1, colour: red}
`)
	code, _, errOut := runCLI(t, "validate", bad)
	if code != 2 {
		t.Fatalf("exit %d, want 2; stderr:\n%s", code, errOut)
	}
	for _, want := range []string{
		bad + `:8:53: spec.steadyState.probes[0].http.timeout: invalid duration "soon"`,
		bad + ":11:36: spec.faults[0].processKill.count: must be >= 1",
		bad + `:11:40: spec.faults[0].processKill: unknown field "colour"`,
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	good := writeFile(t, "good.yaml", pausedExperiment("127.0.0.1:1", "/nonexistent.pid", "1s"))
	if code, out, errOut := runCLI(t, "validate", good); code != 0 || !strings.Contains(out, "valid") {
		t.Fatalf("valid file: exit %d out %q err %q", code, out, errOut)
	}
	// One bad file among good ones: nothing runs, exit 2.
	if code, _, _ := runCLI(t, "run", good, bad); code != 2 {
		t.Fatalf("run with an invalid file: exit %d, want 2", code)
	}
}

func TestSchemaIsJSON(t *testing.T) {
	code, out, _ := runCLI(t, "schema")
	var v map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &v) != nil {
		t.Fatalf("schema: exit %d, not JSON: %.200s", code, out)
	}
	if !strings.Contains(out, "processPause") || !strings.Contains(out, "selfHealing") {
		t.Fatal("schema lacks the registered kinds")
	}
}

func TestDryRunTouchesNothing(t *testing.T) {
	addr := freePort(t)
	pidFile, _ := webapp(t, addr, false)
	pid := readPID(t, pidFile)
	journal := t.TempDir()
	exp := writeFile(t, "e.yaml", pausedExperiment(addr, pidFile, "1s"))
	code, out, errOut := runCLI(t, "run", "--dry-run", "--journal", journal, "--progress", "none", exp)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "target: process "+strconv.Itoa(pid)) || !strings.Contains(out, "revert: SIGCONT") {
		t.Fatalf("plan does not list the target and the revert:\n%s", out)
	}
	if st := procState(t, pid); st == 'T' {
		t.Fatal("dry run paused the process")
	}
	if entries, _ := os.ReadDir(journal); len(entries) != 0 {
		t.Fatalf("dry run wrote a journal: %v", entries)
	}
}

func TestRunKillSelfHealsAndWritesReports(t *testing.T) {
	addr := freePort(t)
	pidFile, _ := webapp(t, addr, true)
	before := readPID(t, pidFile)
	exp := writeFile(t, "kill.yaml", fmt.Sprintf(`apiVersion: faultline.dev/v1alpha1
kind: Experiment
metadata: {name: kill-webapp}
spec:
  steadyState:
    baseline: 500ms
    recovery: 10s
    probes:
      - name: health
        http: {url: "http://%s/health", timeout: 300ms}
        every: 50ms
        slo: {successRatio: 0.9, duringFaults: false}
  faults:
    - name: kill
      processKill: {pidFile: %s}
      duration: 2s
  verify:
    - selfHealing: {probe: health, recoversWithin: 5s}
`, addr, pidFile))
	reportDir := t.TempDir()
	code, out, errOut := runCLI(t, "run", "--journal", t.TempDir(), "--report-dir", reportDir, "--progress", "plain", exp)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if after := readPID(t, pidFile); after == before {
		t.Fatalf("webapp pid unchanged (%d): the kill did not happen", before)
	}
	var res struct {
		Verdict    string
		Injections []struct{ Proof string }
		Checks     []struct{ Kind, Status, Measured string }
		Probes     []struct{ Failed int }
	}
	b, err := os.ReadFile(filepath.Join(reportDir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if res.Verdict != "passed" || len(res.Injections) != 1 || !strings.Contains(res.Injections[0].Proof, "gone") {
		t.Fatalf("report: %+v", res)
	}
	if res.Probes[0].Failed == 0 {
		t.Fatal("the probe never saw the outage: the experiment proves nothing")
	}
	found := false
	for _, c := range res.Checks {
		if c.Kind == "selfHealing" {
			found = c.Status == "passed" && strings.Contains(c.Measured, "recovered")
		}
	}
	if !found {
		t.Fatalf("no passed selfHealing check with a measured time: %+v", res.Checks)
	}
	for _, f := range []string{"junit.xml", "report.md"} {
		if _, err := os.Stat(filepath.Join(reportDir, f)); err != nil {
			t.Errorf("missing %s: %v", f, err)
		}
	}
	if !strings.Contains(out, "PASSED") || !strings.Contains(out, reportDir) {
		t.Fatalf("terminal does not end with the verdict and report path:\n%s", out)
	}
}

func TestSelfHealingFailsWhenNothingRestarts(t *testing.T) {
	addr := freePort(t)
	pidFile, _ := webapp(t, addr, false) // no supervisor: it stays dead
	exp := writeFile(t, "kill.yaml", fmt.Sprintf(`apiVersion: faultline.dev/v1alpha1
kind: Experiment
metadata: {name: kill-unsupervised}
spec:
  steadyState:
    baseline: 300ms
    recovery: 2s
    probes:
      - name: health
        http: {url: "http://%s/health", timeout: 200ms}
        every: 50ms
  faults:
    - name: kill
      processKill: {pidFile: %s}
      duration: 500ms
  verify:
    - selfHealing: {probe: health, recoversWithin: 2s}
`, addr, pidFile))
	code, out, errOut := runCLI(t, "run", "--journal", t.TempDir(), "--report-dir", t.TempDir(), "--progress", "none", exp)
	if code != 1 {
		t.Fatalf("exit %d, want 1 (failed)\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "FAILED") || !strings.Contains(out, "recovery of health") {
		t.Fatalf("output does not explain the failure:\n%s", out)
	}
}

func TestNotSteadyInjectsNothing(t *testing.T) {
	addr := freePort(t) // nothing listens: the baseline fails
	pidFile, _ := webapp(t, freePort(t), false)
	pid := readPID(t, pidFile)
	exp := writeFile(t, "e.yaml", pausedExperiment(addr, pidFile, "1s"))
	code, out, _ := runCLI(t, "run", "--journal", t.TempDir(), "--report-dir", t.TempDir(), "--progress", "none", exp)
	if code != 3 || !strings.Contains(out, "not-steady") && !strings.Contains(out, "NOT-STEADY") {
		t.Fatalf("exit %d, want 3 not-steady:\n%s", code, out)
	}
	if st := procState(t, pid); st == 'T' {
		t.Fatal("a not-steady run paused the process")
	}
}

// TestSignalRevertsPause runs the real binary, interrupts it mid-fault (Ctrl-C twice,
// or SIGTERM) and checks the paused process runs again, the report says aborted and
// the exit code is 3.
func TestSignalRevertsPause(t *testing.T) {
	for _, sig := range []os.Signal{os.Interrupt, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) { testSignalRevertsPause(t, sig) })
	}
}

func testSignalRevertsPause(t *testing.T, sig os.Signal) {
	addr := freePort(t)
	pidFile, _ := webapp(t, addr, false)
	pid := readPID(t, pidFile)
	exp := writeFile(t, "e.yaml", pausedExperiment(addr, pidFile, "30s"))
	reportDir := t.TempDir()
	cmd := exec.Command(chaosBin, "run", "--journal", t.TempDir(), "--report-dir", reportDir, "--progress", "plain", exp)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool { return procState(t, pid) == 'T' }, "the process to be paused")
	_ = cmd.Process.Signal(sig)
	time.Sleep(20 * time.Millisecond)
	_ = cmd.Process.Signal(sig) // a second signal must not cut the revert short
	err := cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 3 {
		t.Fatalf("exit %d (%v), want 3\n%s", code, err, out.String())
	}
	if st := procState(t, pid); st == 'T' {
		t.Fatalf("process still paused after %s\n%s", sig, out.String())
	}
	b, _ := os.ReadFile(filepath.Join(reportDir, "report.json"))
	if !bytes.Contains(b, []byte(`"verdict": "aborted"`)) {
		t.Fatalf("report verdict is not aborted:\n%.400s\n%s", b, out.String())
	}
}

// TestKill9ThenRecover kills the runner with SIGKILL while the process is paused;
// `chaos recover` resumes it from the journal, and a second recover finds nothing.
func TestKill9ThenRecover(t *testing.T) {
	addr := freePort(t)
	pidFile, _ := webapp(t, addr, false)
	pid := readPID(t, pidFile)
	journal := t.TempDir()
	exp := writeFile(t, "e.yaml", pausedExperiment(addr, pidFile, "60s"))
	cmd := exec.Command(chaosBin, "run", "--journal", journal, "--report-dir", t.TempDir(), "--progress", "none", exp)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool { return procState(t, pid) == 'T' }, "the process to be paused")
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if st := procState(t, pid); st != 'T' {
		t.Fatalf("process state %c: expected it to stay paused after kill -9 of the runner", st)
	}
	code, out, errOut := runCLI(t, "recover", "--journal", journal)
	if code != 0 || !strings.Contains(out, "freeze (processPause): reverted") {
		t.Fatalf("recover: exit %d\n%s\n%s", code, out, errOut)
	}
	if st := procState(t, pid); st == 'T' {
		t.Fatal("process still paused after chaos recover")
	}
	code, out, _ = runCLI(t, "recover", "--journal", journal)
	if code != 0 || !strings.Contains(out, "nothing to recover") {
		t.Fatalf("second recover: exit %d\n%s", code, out)
	}
}

func waitFor(t *testing.T, d time.Duration, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestProxyCommandServesToxiproxyAPI starts `chaos proxy` as a real process with a
// config file and talks to its API like a Toxiproxy client would.
func TestProxyCommandServesToxiproxyAPI(t *testing.T) {
	api, listen := freePort(t), freePort(t)
	cfg := writeFile(t, "proxies.json", fmt.Sprintf(`[{"name":"payments","listen":%q,"upstream":"127.0.0.1:9","enabled":true}]`, listen))
	cmd := exec.Command(chaosBin, "proxy", "--listen", api, "--config", cfg)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	var body []byte
	waitFor(t, 10*time.Second, func() bool {
		resp, err := http.Get("http://" + api + "/proxies")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, err = io.ReadAll(resp.Body)
		return err == nil && resp.StatusCode == 200
	}, "the proxy API")
	var proxies map[string]struct {
		Listen   string `json:"listen"`
		Upstream string `json:"upstream"`
		Enabled  bool   `json:"enabled"`
	}
	if err := json.Unmarshal(body, &proxies); err != nil || !proxies["payments"].Enabled || proxies["payments"].Listen != listen {
		t.Fatalf("GET /proxies = %s (%v)", body, err)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("chaos proxy did not stop cleanly on SIGTERM: %v\n%s", err, out.String())
	}
	if conn, err := net.Dial("tcp", listen); err == nil {
		conn.Close()
		t.Fatal("the proxy still listens after chaos proxy stopped")
	}
}
