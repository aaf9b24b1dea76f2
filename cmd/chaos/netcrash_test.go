package main

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/internal/testenv/netns"
)

// TestKill9DuringNetworkFaultsThenRecover runs the real binary with a partition and a
// bandwidth limit on a fresh namespace, kills it with SIGKILL while both are active,
// and checks that `chaos recover` leaves the namespace's full qdisc, route, rule and
// nftables listing exactly as it was before. Needs root.
func TestKill9DuringNetworkFaultsThenRecover(t *testing.T) {
	pair := netns.NewPair(t) // skips without root, with the reason
	before, err := netns.Snapshot(pair.A.Path)
	if err != nil {
		t.Fatal(err)
	}
	journal := t.TempDir()
	exp := writeFile(t, "net.yaml", fmt.Sprintf(`apiVersion: faultline.dev/v1alpha1
kind: Experiment
metadata: {name: net-crash}
spec:
  steadyState:
    baseline: 200ms
    probes:
      - name: always
        exec: {command: ["true"]}
        every: 100ms
  faults:
    - name: cut-b
      networkPartition: {target: {netns: %[1]s}, cidrs: [%[2]s/32], direction: both}
      duration: 1m
    - name: slow-a
      networkBandwidth: {target: {netns: %[1]s}, rate: 8mbit}
      duration: 1m
`, pair.A.Path, pair.B.IP))
	cmd := exec.Command(chaosBin, "run", "--journal", journal, "--report-dir", t.TempDir(), "--progress", "none", exp)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	var during string
	waitFor(t, 20*time.Second, func() bool {
		during, _ = netns.Snapshot(pair.A.Path)
		return strings.Contains(during, "faultline_") && strings.Contains(during, "tbf")
	}, "the partition table and the tbf qdisc to be in place")
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if after, _ := netns.Snapshot(pair.A.Path); after == before {
		t.Fatal("the faults vanished with the runner: nothing for recover to prove")
	}
	code, out, errOut := runCLI(t, "recover", "--journal", journal)
	if code != 0 || strings.Count(out, ": reverted") != 2 {
		t.Fatalf("recover: exit %d\n%s\n%s", code, out, errOut)
	}
	after, err := netns.Snapshot(pair.A.Path)
	if err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Fatalf("namespace differs after recover:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	// A sweep without the journal now finds nothing left.
	code, out, _ = runCLI(t, "recover", "--journal", t.TempDir(), "--sweep", "--netns", pair.A.Path)
	if code != 0 || !strings.Contains(out, "no Faultline qdiscs") {
		t.Fatalf("sweep after recover: exit %d\n%s", code, out)
	}
}
