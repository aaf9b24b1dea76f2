// Command cluster starts and stops a local Kubernetes control plane (etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler, kwok) for humans:
//
//	go run ./internal/testenv/controlplane/cmd/cluster up   [--dir DIR] [--nodes N] [--pod-ready-delay 1s]
//	go run ./internal/testenv/controlplane/cmd/cluster down [--dir DIR]
//	go run ./internal/testenv/controlplane/cmd/cluster status [--dir DIR]
//	go run ./internal/testenv/controlplane/cmd/cluster build
//
// up builds the binaries on first use (cached), starts the components detached,
// and writes DIR/kubeconfig and DIR/state.json (the PIDs); down stops those PIDs and
// removes DIR. DIR defaults to <user cache dir>/faultline/cluster. build only
// builds (or finds cached) the binaries and prints their directory, e.g. to build
// them once before running test packages in parallel.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/faultline-dev/faultline/internal/testenv/controlplane"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: cluster up|down|status|build [--dir DIR] [--nodes N]")
	}
	verb := args[0]
	fs := flag.NewFlagSet("cluster "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	def, err := defaultDir()
	if err != nil {
		return err
	}
	dir := fs.String("dir", def, "state directory (kubeconfig, state.json, logs, etcd data)")
	nodes := fs.Int("nodes", 3, "number of kwok nodes (up)")
	readyDelay := fs.Duration("pod-ready-delay", time.Second, "how long after scheduling pods become Ready, like a real kubelet (up)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	logf := func(format string, a ...any) { fmt.Fprintf(stderr, format+"\n", a...) }
	switch verb {
	case "up":
		if st, err := controlplane.ReadState(*dir); err == nil {
			return fmt.Errorf("a cluster is already recorded in %s (server %s); run `cluster down` first", *dir, st.Server)
		}
		if err := os.MkdirAll(*dir, 0o755); err != nil {
			return err
		}
		start := time.Now()
		cp, err := controlplane.Start(ctx, controlplane.Options{Dir: *dir, Nodes: *nodes, PodReadyDelay: *readyDelay, Detach: true, Logf: logf})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "cluster up in %s: %s (%d kwok nodes)\nexport KUBECONFIG=%s\n",
			time.Since(start).Round(100*time.Millisecond), cp.Server, *nodes, cp.Kubeconfig)
		return nil
	case "down":
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if err := controlplane.StopDir(ctx, *dir, true); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "cluster in %s stopped\n", *dir)
		return nil
	case "build":
		start := time.Now()
		bin, err := controlplane.EnsureBinaries(ctx, logf)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "control plane binaries in %s (%s)\n", bin, time.Since(start).Round(100*time.Millisecond))
		return nil
	case "status":
		st, err := controlplane.ReadState(*dir)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "server %s\nkubeconfig %s\n", st.Server, st.Kubeconfig)
		for _, p := range st.Processes {
			state := "running"
			if _, err := os.Stat(fmt.Sprintf("/proc/%d", p.PID)); err != nil {
				state = "gone"
			}
			fmt.Fprintf(stdout, "%-24s pid %-7d %s\n", p.Name, p.PID, state)
		}
		return nil
	default:
		return fmt.Errorf("unknown command %q: want up, down, status or build", verb)
	}
}

func defaultDir() (string, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(base, "faultline", "cluster"), nil
}
