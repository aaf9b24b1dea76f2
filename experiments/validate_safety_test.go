package experiments

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestSatAdd(t *testing.T) {
	h := 2_000_000 * time.Hour
	if got := satAdd(h, h); got != math.MaxInt64 {
		t.Errorf("satAdd(2000000h, 2000000h) = %v, want saturated", got)
	}
	if got := satAdd(time.Second, 2*time.Second); got != 3*time.Second {
		t.Errorf("satAdd(1s, 2s) = %v", got)
	}
	if got := satAdd(math.MaxInt64, time.Nanosecond, -time.Hour); got != math.MaxInt64 {
		t.Errorf("saturated sum went down: %v", got)
	}
}

// TestGoExperimentGuards: an experiment built in Go meets the same guards.
func TestGoExperimentGuards(t *testing.T) {
	reg := testRegistries(t)
	e := goExperiment()
	e.Spec.SteadyState.Probes[0].Every = time.Nanosecond
	e.Spec.Faults[0].After = 2_000_000 * time.Hour
	e.Spec.Faults[0].Duration = 2_000_000 * time.Hour
	e.Spec.Safety.MaxDuration = time.Minute
	e.Spec.Proxies = append(e.Spec.Proxies, ProxySpec{Name: "loop", Listen: "localhost:7001", Upstream: "[::1]:7001"})
	err := e.Validate(reg)
	if err == nil {
		t.Fatal("valid")
	}
	for _, want := range []string{
		"spec.steadyState.probes[0].every: must be at least 10ms",
		"spec.safety.maxDuration: the schedule is too long",
		"spec.proxies[1].upstream: [::1]:7001 is the proxy's own listen address",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("problems lack %q:\n%v", want, err)
		}
	}
}

// TestLoadRefusesNonRegularFiles: a FIFO (which would block a reader forever), a
// directory and a device are refused at once; a file over the size cap too.
func TestLoadRefusesNonRegularFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "exp.yaml")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		fifo:        "not a regular file (a named pipe (FIFO))",
		dir:         "not a regular file (a directory)",
		"/dev/zero": "not a regular file (a device)",
	} {
		done := make(chan error, 1)
		go func() { _, err := Load(path, testRegistries(t)); done <- err }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("Load(%s) = %v, want %q", path, err, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("Load(%s) blocked", path)
		}
	}
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, make([]byte, maxFileSize+1), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(big, testRegistries(t)); err == nil || !strings.Contains(err.Error(), "file too large") {
		t.Errorf("Load(big) = %v, want file too large", err)
	}
}
