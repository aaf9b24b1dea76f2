package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
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
	bin := filepath.Join(t.TempDir(), "chaos")
	build := exec.Command("go", "build", "-o", bin, "github.com/faultline-dev/faultline/cmd/chaos")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building chaos: %v\n%s", err, out)
	}
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
	// The control plane's processes are gone: none of them runs from the demo's dir.
	m := regexp.MustCompile(`KUBECONFIG=(\S+)/kubeconfig`).FindStringSubmatch(s)
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
