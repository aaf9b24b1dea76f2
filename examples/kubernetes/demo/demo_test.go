package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestDemoKubernetes runs `make demo-kubernetes` as a user would get it: the real
// chaos binary, a real control plane, the rollback guard, three experiments. It
// checks the three verdicts, that each report exists, and that nothing it started is
// left running.
func TestDemoKubernetes(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the tests that start a Kubernetes control plane")
	}
	bin := buildBinary(t, "github.com/faultline-dev/faultline/cmd/chaos")
	reportDir := t.TempDir()
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	err := run(ctx, []string{"--chaos", bin, "--report-dir", reportDir}, &out, &out)
	t.Logf("demo output:\n%s", out.String())
	if err != nil {
		t.Fatalf("demo: %v", err)
	}
	s := out.String()
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`1\. pod kill \(self-healing\)\s+passed\s+as expected\n\s+selfHealing\(web-ready\) passed: `),
		regexp.MustCompile(`2\. bad rollout, rollback guard running\s+passed\s+as expected\n\s+rollback\(web-rollout\) passed: `),
		regexp.MustCompile(`3\. bad rollout, no rollback guard\s+failed\s+as expected\n\s+rollback\(web-rollout\) failed: `),
		regexp.MustCompile(`rollback-guard: deployment shop/web: rollout of revision \d+ is stuck`),
		// After the unguarded run, Faultline's revert put the original template back.
		regexp.MustCompile(`(?s)3\. bad rollout, no rollback guard: chaos run.*shop/web is back on its original template \(registry\.k8s\.io/e2e-test-images/agnhost:2\.53\)`),
	} {
		if !want.MatchString(s) {
			t.Errorf("output lacks %q", want)
		}
	}
	for _, step := range []string{"1-web-pod-kill", "2-web-bad-rollout", "3-web-bad-rollout"} {
		if _, err := os.Stat(filepath.Join(reportDir, step, "report.json")); err != nil {
			t.Errorf("report of %s: %v", step, err)
		}
	}
	assertStopped(t, s)
}

// TestDemoKubernetesInterrupted sends SIGINT to the demo while the guarded bad rollout
// is injected: the run is aborted (its fault reverted, its report written), and the
// guard and the control plane are stopped.
func TestDemoKubernetesInterrupted(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the tests that start a Kubernetes control plane")
	}
	chaos := buildBinary(t, "github.com/faultline-dev/faultline/cmd/chaos")
	demo := buildBinary(t, "github.com/faultline-dev/faultline/examples/kubernetes/demo")
	reportDir := t.TempDir()
	cmd := exec.Command(demo, "--chaos", chaos, "--report-dir", reportDir)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.After(8 * time.Minute)
	injected := regexp.MustCompile(`2\. bad rollout(?s:.*)injected bad-image`)
	for !injected.MatchString(out.String()) {
		select {
		case err := <-done:
			t.Fatalf("the demo ended before the bad rollout was injected: %v\n%s", err, out.String())
		case <-deadline:
			_ = cmd.Process.Kill()
			t.Fatalf("the bad rollout was not injected in time:\n%s", out.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	var err error
	select {
	case err = <-done:
	case <-time.After(3 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatalf("the demo did not stop after SIGINT:\n%s", out.String())
	}
	s := out.String()
	t.Logf("demo output:\n%s", s)
	if err == nil {
		t.Error("an interrupted demo exited 0")
	}
	if !regexp.MustCompile(`2\. bad rollout, rollback guard running\s+aborted`).MatchString(s) {
		t.Error("the interrupted run's verdict is not aborted")
	}
	if _, err := os.Stat(filepath.Join(reportDir, "2-web-bad-rollout", "report.json")); err != nil {
		t.Errorf("the interrupted run wrote no report: %v", err)
	}
	assertStopped(t, s)
}

// assertStopped checks that nothing the demo started is left: no process runs from
// its control plane's directory, and the directory is gone.
func assertStopped(t *testing.T, out string) {
	t.Helper()
	m := regexp.MustCompile(`KUBECONFIG=(\S+)/kubeconfig`).FindStringSubmatch(out)
	if m == nil {
		t.Fatal("no KUBECONFIG line in the output")
	}
	if _, err := os.Stat(m[1]); !os.IsNotExist(err) {
		t.Errorf("the demo's state directory %s is still there (%v)", m[1], err)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, _ := os.ReadFile(p)
		if strings.Contains(string(b), m[1]) {
			t.Errorf("a process started by the demo is still running: %s", strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
}

func buildBinary(t *testing.T, pkg string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), filepath.Base(pkg))
	if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
