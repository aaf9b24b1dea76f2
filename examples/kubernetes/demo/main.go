// Command demo is `make demo-kubernetes`: the Kubernetes story of Faultline in one
// command, on a real control plane on this machine (no root, no Docker).
//
//	go run ./examples/kubernetes/demo [--chaos bin/chaos] [--report-dir DIR] [--keep]
//
// It starts etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok
// (built once from the Go module proxy and cached), deploys examples/kubernetes/web.yaml,
// and runs three experiments with the real `chaos` binary:
//
//  1. web-pod-kill.yaml: two of six pods are killed, the ReplicaSet heals: passed.
//  2. web-bad-rollout.yaml with the example rollback guard running: the guard undoes the
//     stuck rollout, the `rollback` check measures it: passed.
//  3. web-bad-rollout.yaml without the guard: nothing rolls back, the `rollback` check
//     fails with its numbers, and Faultline's revert restores the template: failed.
//
// It prints the three verdicts and report paths and exits 0 only when each verdict is
// the expected one. Everything it starts (the control plane's processes, the guard,
// the chaos runs) is stopped when it ends, also on Ctrl-C or SIGTERM.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo-kubernetes:", err)
		if errors.Is(err, errUnexpected) {
			os.Exit(1)
		}
		os.Exit(2)
	}
}

// errUnexpected marks a demo that ran but whose verdicts were not the expected ones.
var errUnexpected = errors.New("a verdict was not the expected one")

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	// The chaos runs and the rollback guard write to stdout at the same time.
	stdout = &lockedWriter{w: stdout}
	d := &demo{cfg: cfg, out: stdout}
	results, err := d.run(ctx)
	printSummary(stdout, results)
	if err != nil {
		return err
	}
	for _, r := range results {
		if r.Verdict != r.Want {
			return errUnexpected
		}
	}
	return nil
}

func printSummary(w io.Writer, results []result) {
	if len(results) == 0 {
		return
	}
	fmt.Fprintf(w, "\n== demo-kubernetes: %d experiments ==\n", len(results))
	for _, r := range results {
		mark := "as expected"
		if r.Verdict != r.Want {
			mark = "UNEXPECTED (wanted " + r.Want + ")"
		}
		fmt.Fprintf(w, "  %-44s %-8s %s\n      %s\n      report: %s\n", r.Title, r.Verdict, mark, r.Why, r.ReportDir)
	}
}

// repoRoot finds the module root from the working directory, so the demo runs from
// anywhere inside the repository.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "examples", "kubernetes", "web.yaml")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run it inside the faultline repository (examples/kubernetes/web.yaml not found)")
		}
		dir = parent
	}
}

// lockedWriter serialises writes from several goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func since(t time.Time) string { return time.Since(t).Round(100 * time.Millisecond).String() }
