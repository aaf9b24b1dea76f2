package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/faultline-dev/faultline/internal/testenv/netns"
)

// rootHandle returns the root qdisc of ns's veth ("" when it has the default).
func rootHandle(t *testing.T, ns *netns.NS) (netlink.Qdisc, string) {
	t.Helper()
	h, err := ns.Handle()
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	l, err := h.LinkByName(ns.Link)
	if err != nil {
		t.Fatal(err)
	}
	qs, err := h.QdiscList(l)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		if q.Attrs().Parent == netlink.HANDLE_ROOT && q.Type() == "tbf" {
			major, _ := netlink.MajorMinor(q.Attrs().Handle)
			return q, fmt.Sprintf("%x:", major)
		}
	}
	return nil, ""
}

// startBandwidthRun starts `chaos run` with a bandwidth limit on ns and waits for
// its tbf qdisc; it returns the process, its run ID and the qdisc's handle.
func startBandwidthRun(t *testing.T, journal string, ns *netns.NS, stderr *bytes.Buffer) (*exec.Cmd, string, string) {
	t.Helper()
	before, _ := filepath.Glob(filepath.Join(journal, "*.jsonl"))
	exp := writeFile(t, "bw.yaml", fmt.Sprintf(`apiVersion: faultline.dev/v1alpha1
kind: Experiment
metadata: {name: bw}
spec:
  steadyState:
    baseline: 100ms
    probes:
      - name: always
        exec: {command: ["true"]}
        every: 100ms
  faults:
    - name: slow
      networkBandwidth: {target: {netns: %s, interfaces: [%s]}, rate: 8mbit}
      duration: 2m
`, ns.Path, ns.Link))
	cmd := exec.Command(chaosBin, "run", "--journal", journal, "--report-dir", t.TempDir(), "--progress", "none", exp)
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	var handle string
	deadline := time.Now().Add(45 * time.Second)
	for _, handle = rootHandle(t, ns); handle == ""; _, handle = rootHandle(t, ns) {
		if time.Now().After(deadline) {
			t.Fatalf("no tbf qdisc after 45s; the run's stderr:\n%s", stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	after, _ := filepath.Glob(filepath.Join(journal, "*.jsonl"))
	for _, f := range after {
		if !strings.HasSuffix(f, ".done.jsonl") && !contains(before, f) {
			return cmd, strings.TrimSuffix(filepath.Base(f), ".jsonl"), handle
		}
	}
	t.Fatalf("no new journal among %v", after)
	return nil, "", ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestRecoverNeverTakesALiveRunsQdisc reproduces issue 10's handle collision with
// real runners: run A is killed with kill -9 leaving its tbf qdisc, which then
// vanishes outside Faultline; run B starts on the same interface. B must draw a
// handle A's journal does not hold; and a dead run C whose journal names exactly
// B's qdisc (the collision forced) must not make `chaos recover` delete it. Then
// `recover --force` takes B's fault under it, and B still ends cleanly.
func TestRecoverNeverTakesALiveRunsQdisc(t *testing.T) {
	pair := netns.NewPair(t) // skips without root, with the reason
	before, err := netns.Snapshot(pair.A.Path)
	if err != nil {
		t.Fatal(err)
	}
	journal := t.TempDir()

	var errA bytes.Buffer
	a, runA, handleA := startBandwidthRun(t, journal, pair.A, &errA)
	_ = a.Process.Signal(syscall.SIGKILL)
	_ = a.Wait()
	q, _ := rootHandle(t, pair.A)
	h, err := pair.A.Handle()
	if err != nil {
		t.Fatal(err)
	}
	if err := h.QdiscDel(q); err != nil { // gone outside Faultline (an operator, a reboot)
		t.Fatal(err)
	}
	h.Close()

	var errB bytes.Buffer
	b, runB, handleB := startBandwidthRun(t, journal, pair.A, &errB)
	t.Logf("run A %s had %s, run B %s has %s", runA, handleA, runB, handleB)
	if handleB == handleA {
		t.Fatalf("run B drew handle %s, which dead run A's unfinished journal holds", handleA)
	}

	// Dead run C's journal names B's qdisc exactly (kind, handle, parameters).
	data, err := os.ReadFile(filepath.Join(journal, runB+".jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var e map[string]any
		if json.Unmarshal([]byte(line), &e) != nil {
			t.Fatalf("B's journal line %q", line)
		}
		switch e["event"] {
		case "run":
			e["runID"], e["pid"], e["pidStart"] = "run-c", 0, 0
		case "inject", "state":
		default:
			continue
		}
		out, _ := json.Marshal(e)
		lines = append(lines, string(out))
	}
	if err := os.WriteFile(filepath.Join(journal, "run-c.jsonl"), []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	code, out, errOut := runCLI(t, "recover", "--journal", journal)
	t.Logf("recover:\n%s%s", out, errOut)
	for _, want := range []string{
		"run " + runA + " (bw) fault slow (networkBandwidth): nothing to revert: qdisc tbf " + handleA + " on veth-a in " + pair.A.Path + ": not there any more\n",
		"run " + runB + " (bw): skipped: its runner (pid " + fmt.Sprint(b.Process.Pid) + ") is still running",
		"run run-c (bw) fault slow (networkBandwidth): nothing to revert: qdisc tbf " + handleB + " on veth-a in " + pair.A.Path + ": live run " + runB + " has journaled the same qdisc: it is that run's, left alone\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("recover output lacks %q", want)
		}
	}
	if code != 0 {
		t.Fatalf("recover: exit %d", code)
	}
	if _, h := rootHandle(t, pair.A); h != handleB {
		t.Fatalf("live run B's qdisc %s was taken (root now %q)", handleB, h)
	}

	// recover --force on the live run reverts it and says so; B then ends cleanly.
	code, out, errOut = runCLI(t, "recover", "--journal", journal, "--run", runB, "--force")
	want := "run " + runB + " (bw) fault slow (networkBandwidth): reverted: deleted qdisc tbf " + handleB + " on veth-a in " + pair.A.Path
	if code != 0 || !strings.Contains(out, want) || !strings.Contains(out, "still runs and will close its journal") {
		t.Fatalf("recover --force: exit %d\n%s%s\nwant %q", code, out, errOut, want)
	}
	if _, h := rootHandle(t, pair.A); h != "" {
		t.Fatalf("recover --force left %s", h)
	}
	_ = b.Process.Signal(syscall.SIGTERM)
	_ = b.Wait()
	if strings.Contains(errB.String(), "no such file") || strings.Contains(errB.String(), "closing journal") {
		t.Fatalf("run B after recover --force:\n%s", errB.String())
	}
	if _, err := os.Stat(filepath.Join(journal, runB+".done.jsonl")); err != nil {
		t.Fatalf("run B did not close its journal: %v\n%s", err, errB.String())
	}
	if after, _ := netns.Snapshot(pair.A.Path); after != before {
		t.Fatalf("namespace differs at the end:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}
