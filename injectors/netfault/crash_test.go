package netfault

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/injectors"
	fixture "github.com/faultline-dev/faultline/internal/testenv/netns"
)

// The crash runner: when the test binary is started with NETFAULT_CRASH_NS set,
// TestMain injects a partition and a bandwidth limit into that namespace, with a
// journal of one JSON file per fault in NETFAULT_CRASH_DIR (fsynced before each
// change, as the runner's journal is), prints READY and blocks until killed.
func TestMain(m *testing.M) {
	if ns := os.Getenv("NETFAULT_CAPS_NS"); ns != "" {
		capsChild(ns)
		os.Exit(0)
	}
	if ns := os.Getenv("NETFAULT_CRASH_NS"); ns != "" {
		if err := crashRunner(ns, os.Getenv("NETFAULT_CRASH_DIR"), os.Getenv("NETFAULT_CRASH_RUN"), os.Getenv("NETFAULT_CRASH_PEER")); err != nil {
			fmt.Println("ERROR", err)
			os.Exit(1)
		}
		fmt.Println("READY")
		select {} // wait for kill -9
	}
	os.Exit(m.Run())
}

// fileJournal writes {key, state} to one file, fsynced.
type fileJournal struct{ path, key string }

type journalFile struct {
	Key   string          `json:"key"`
	State json.RawMessage `json:"state"`
}

func (j fileJournal) Record(state any) error {
	raw, err := json.Marshal(state)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(journalFile{Key: j.key, State: raw})
	f, err := os.Create(j.path + ".tmp")
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	f.Close()
	return os.Rename(j.path+".tmp", j.path)
}

func crashRunner(ns, dir, runID, peer string) error {
	r := injectors.NewRegistry()
	if err := Register(r); err != nil {
		return err
	}
	env := &injectors.Env{RunID: runID}
	faults := []struct {
		key  string
		spec any
	}{
		{"networkPartition", &PartitionSpec{Target: Target{NetNS: ns}, CIDRs: []string{peer}, Direction: "both"}},
		{"networkBandwidth", &BandwidthSpec{Target: Target{NetNS: ns}, Rate: "8mbit"}},
	}
	for i, f := range faults {
		d, _ := r.Lookup(f.key)
		inj, err := d.New(f.spec, env)
		if err != nil {
			return err
		}
		if _, err := inj.Inject(context.Background(), fileJournal{path: filepath.Join(dir, fmt.Sprintf("%d.json", i)), key: f.key}); err != nil {
			return err
		}
	}
	return nil
}

// startCrashRunner runs the test binary as the crash runner, waits for READY
// and kills it with SIGKILL.
func startCrashRunner(t *testing.T, p *fixture.Pair, dir, runID string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "NETFAULT_CRASH_NS="+p.A.Path, "NETFAULT_CRASH_DIR="+dir,
		"NETFAULT_CRASH_RUN="+runID, "NETFAULT_CRASH_PEER="+p.B.IP.String())
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if line := sc.Text(); line == "READY" || strings.HasPrefix(line, "ERROR") {
				ready <- line
				return
			}
		}
		ready <- "runner exited"
	}()
	select {
	case line := <-ready:
		if line != "READY" {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("crash runner: %s", line)
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal("crash runner not ready after 30s")
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
}

// TestCrashRecover: kill -9 a runner holding a partition and a bandwidth limit;
// Recover from the journal files alone, then (second runner) Sweep without any
// journal. Each time the namespace's qdisc, class, filter, route, rule and
// nftables listing equals the one before.
func TestCrashRecover(t *testing.T) {
	p := fixture.NewPair(t)
	port := serveTCP(t, p.B, nil)
	before := snapshot(t, p.A)
	r := injectors.NewRegistry()
	if err := Register(r); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	startCrashRunner(t, p, dir, "crash-1")
	if snapshot(t, p.A) == before {
		t.Fatal("the runner left no fault behind; nothing to recover")
	}
	if err := canConnect(p.A, p.B.IP, port, 300*time.Millisecond); err == nil {
		t.Fatal("partition not active after the runner died")
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	sort.Strings(files)
	if len(files) != 2 {
		t.Fatalf("journal files %v", files)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var jf journalFile
		if err := json.Unmarshal(b, &jf); err != nil {
			t.Fatal(err)
		}
		d, _ := r.Lookup(jf.Key)
		if err := d.Recover(context.Background(), &injectors.Env{RunID: "recoverer", Logf: t.Logf}, jf.State); err != nil {
			t.Fatalf("recover %s: %v", jf.Key, err)
		}
		// Idempotent, and says it found nothing left rather than "reverted".
		if err := d.Recover(context.Background(), &injectors.Env{RunID: "recoverer", Logf: t.Logf}, jf.State); !errors.Is(err, injectors.ErrNothingToRevert) {
			t.Fatalf("second recover %s: %v, want nothing to revert", jf.Key, err)
		}
	}
	sameSnapshot(t, p.A, before)
	if err := canConnect(p.A, p.B.IP, port, 2*time.Second); err != nil {
		t.Fatalf("after recover: %v", err)
	}

	startCrashRunner(t, p, t.TempDir(), "crash-2")
	// Another run's sweep must not touch crash-2's leftovers...
	if res, err := Sweep(context.Background(), []string{p.A.Path}, "some-other-run"); err != nil || len(res.Removed) != 0 {
		t.Fatalf("sweep of another run: %v %v", res, err)
	}
	// ...the sweep of every run must remove both.
	res, err := Sweep(context.Background(), []string{p.A.Path}, "")
	if err != nil {
		t.Fatalf("sweep: %v", err)
	}
	t.Logf("swept: %+v", res)
	if len(res.Removed) != 2 || len(res.Left) != 0 {
		t.Fatalf("swept %+v, want the qdisc and the table", res)
	}
	sameSnapshot(t, p.A, before)
	if again, err := Sweep(context.Background(), []string{p.A.Path, "/run/netns/fl-gone"}, ""); err != nil || len(again.Removed) != 0 {
		t.Fatalf("second sweep: %v %v", again, err)
	}
}
