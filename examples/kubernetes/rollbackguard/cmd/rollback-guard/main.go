// Command rollback-guard is an example automated rollback (see package
// rollbackguard): it watches the Deployments of a namespace and rolls a stuck
// rollout back to the previous revision, like `kubectl rollout undo`.
//
//	rollback-guard --namespace shop [--selector app=web] [--unready-for 5s] \
//	               [--kubeconfig F] [--context C] [--poll 250ms]
//
// A rollout is stuck when the Deployment's progressDeadlineSeconds has passed
// (condition Progressing=False, reason ProgressDeadlineExceeded) or, with
// --unready-for, when its updated pods have not all been available for that long.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/faultline-dev/faultline/examples/kubernetes/rollbackguard"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "rollback-guard:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("rollback-guard", flag.ContinueOnError)
	fs.SetOutput(stderr)
	ns := fs.String("namespace", "default", "namespace whose Deployments are watched")
	sel := fs.String("selector", "", "label selector on the Deployments' own labels (default: all Deployments of the namespace)")
	unready := fs.Duration("unready-for", 0, "also roll back when updated pods stay unavailable this long (0: only progressDeadlineSeconds)")
	poll := fs.Duration("poll", 250*time.Millisecond, "how often Deployments are read")
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig file (default: kubectl's rules)")
	kctx := fs.String("context", "", "kubeconfig context")
	if err := fs.Parse(args); err != nil {
		return err
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = *kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules,
		&clientcmd.ConfigOverrides{CurrentContext: *kctx}).ClientConfig()
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	logger := log.New(stderr, "rollback-guard: ", log.LstdFlags)
	logger.Printf("watching deployments in %s (selector %q, unready-for %s)", *ns, *sel, *unready)
	g := &rollbackguard.Guard{Client: cs, Namespace: *ns, Selector: *sel, UnreadyFor: *unready, Poll: *poll, Logf: logger.Printf}
	if err := g.Run(ctx, nil); err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}
