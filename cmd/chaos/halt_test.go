package main

import (
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/experiments/cluster"
)

// TestHaltStopsEveryRun: two runs against the cluster (web at 0 replicas, api with a
// bad rollout) are stopped by `chaos halt`: each reverts at once and ends aborted,
// and halt prints the measured time from the halt to every fault reverted. While
// halted a new run ends "halted" touching nothing; after `chaos resume` it runs.
func TestHaltStopsEveryRun(t *testing.T) {
	cp, c := startGameCluster(t)
	start := func(name, fault string) *exec.Cmd {
		exp := writeFile(t, name+".yaml", `apiVersion: faultline.dev/v1alpha1
kind: Experiment
metadata: {name: `+name+`}
spec:
  target: {kubernetes: {}}
  steadyState:
    baseline: 300ms
    probes:
      - name: web
        kubernetes: {namespace: shop, selector: app=web, readyAtLeast: 1}
        every: 200ms
  faults:
    - name: `+name+`
      `+fault+`
      duration: 5m
  safety:
    maxDuration: 10m
`)
		cmd := exec.Command(chaosBin, "run", "--kubeconfig", cp.Kubeconfig, "--journal", t.TempDir(), "--report-dir", t.TempDir(),
			"--progress", "plain", "--results-namespace", "chaos", exp)
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Logf("%s:\n%s", name, out.String())
		})
		return cmd
	}
	web := start("web-down", "deploymentScale: {namespace: shop, kind: Deployment, name: web, replicas: 0}")
	api := start("api-broken", "badRollout: {namespace: shop, kind: Deployment, name: api}")
	waitFor(t, 60*time.Second, func() bool {
		return *deployment(t, c, "web").Spec.Replicas == 0 &&
			deployment(t, c, "api").Spec.Template.Spec.Containers[0].Image == "faultline.invalid/never:ready"
	}, "both faults injected")

	code, out, errOut := runCLI(t, "halt", "--kubeconfig", cp.Kubeconfig, "-n", "chaos", "--reason", "incident INC-1")
	if code != 0 {
		t.Fatalf("halt: exit %d\n%s\n%s", code, out, errOut)
	}
	m := regexp.MustCompile(`halted 2 runs: all reverted (\S+) after the halt`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("halt did not report 2 runs reverted with a time:\n%s", out)
	}
	took, err := time.ParseDuration(m[1])
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("halt to every fault reverted: %s (goal <= 2s)\n%s", took, out)
	for _, cmd := range []*exec.Cmd{web, api} {
		err := cmd.Wait()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 {
			t.Fatalf("a halted run exited with %v, want 3 (aborted)", err)
		}
	}
	if r := *deployment(t, c, "web").Spec.Replicas; r != 6 {
		t.Fatalf("web replicas %d after halt, want 6", r)
	}
	if img := deployment(t, c, "api").Spec.Template.Spec.Containers[0].Image; img != "nginx" {
		t.Fatalf("api image %q after halt, want nginx", img)
	}
	for _, name := range []string{"web-down", "api-broken"} {
		runs := experimentRuns(t, c, name)
		if len(runs) != 1 || runs[0].Status.Verdict != "aborted" || !strings.Contains(runs[0].Status.Reason, "halted by `chaos halt`: incident INC-1") {
			t.Fatalf("%s after halt: %+v", name, runs)
		}
	}

	// While halted, a new run ends "halted" and touches nothing.
	exp := writeFile(t, "web-heals.yaml", podKillExperiment)
	before := podUIDs(t, c)
	journal := t.TempDir()
	code, out, errOut = runCLI(t, "run", "--kubeconfig", cp.Kubeconfig, "--journal", journal, "--report-dir", t.TempDir(),
		"--progress", "none", "--results-namespace", "chaos", exp)
	if code != 3 || !strings.Contains(out, "HALTED") && !strings.Contains(out, "halted") || !strings.Contains(out, "incident INC-1") {
		t.Fatalf("run while halted: exit %d, want 3 halted\n%s\n%s", code, out, errOut)
	}
	if after := podUIDs(t, c); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Fatal("a run while halted killed pods")
	}
	runs := experimentRuns(t, c, "web-heals")
	if len(runs) != 1 || runs[0].Status.Verdict != "halted" || runs[0].Status.Phase != cluster.PhaseFinished {
		t.Fatalf("the halted run's record: %+v", runs)
	}

	code, out, _ = runCLI(t, "resume", "--kubeconfig", cp.Kubeconfig, "-n", "chaos")
	if code != 0 || !strings.Contains(out, "off") {
		t.Fatalf("resume: exit %d\n%s", code, out)
	}
	waitFor(t, 60*time.Second, func() bool { return deployment(t, c, "web").Status.AvailableReplicas == 6 }, "web 6/6 again")
	code, out, errOut = runCLI(t, "run", "--kubeconfig", cp.Kubeconfig, "--journal", t.TempDir(), "--report-dir", t.TempDir(),
		"--progress", "none", "--results-namespace", "chaos", exp)
	if code != 0 {
		t.Fatalf("run after resume: exit %d\n%s\n%s", code, out, errOut)
	}
}
