package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/faultline-dev/faultline/examples/kubernetes/rollbackguard"
	"github.com/faultline-dev/faultline/internal/testenv/controlplane"
	"github.com/faultline-dev/faultline/reports"
)

type config struct {
	chaos     string        // path of the chaos binary
	reportDir string        // reports go into reportDir/<step>
	keep      bool          // leave the control plane's state directory behind
	unready   time.Duration // the guard's --unready-for
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("demo-kubernetes", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	fs.StringVar(&c.chaos, "chaos", "bin/chaos", "the chaos binary (make build)")
	fs.StringVar(&c.reportDir, "report-dir", "", "where the three runs' reports go (default chaos-reports/demo-kubernetes-<time>)")
	fs.BoolVar(&c.keep, "keep", false, "keep the control plane's state directory (logs) after the demo")
	fs.DurationVar(&c.unready, "unready-for", 5*time.Second, "the rollback guard rolls back a rollout whose new pods stay unready this long")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return c, nil
}

// result is one experiment of the demo.
type result struct {
	Title, Want, Verdict, Why, ReportDir string
}

type demo struct {
	cfg  config
	out  io.Writer
	root string
	cp   *controlplane.ControlPlane
	cs   kubernetes.Interface
}

func (d *demo) say(format string, args ...any) {
	fmt.Fprintf(d.out, "demo-kubernetes: "+format+"\n", args...)
}

func (d *demo) run(ctx context.Context) (results []result, err error) {
	if d.root, err = repoRoot(); err != nil {
		return nil, err
	}
	chaos, err := filepath.Abs(d.cfg.chaos)
	if err == nil {
		_, err = os.Stat(chaos)
	}
	if err != nil {
		return nil, fmt.Errorf("chaos binary %s: %w (build it with `make build`)", d.cfg.chaos, err)
	}
	d.cfg.chaos = chaos
	if d.cfg.reportDir == "" {
		d.cfg.reportDir = filepath.Join(d.root, "chaos-reports", "demo-kubernetes-"+time.Now().Format("20060102-150405"))
	}
	if err := d.startCluster(ctx); err != nil {
		return nil, err
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		d.say("stopping the control plane")
		if serr := d.cp.Stop(stopCtx); serr != nil && err == nil {
			err = serr
		}
		if !d.cfg.keep {
			os.RemoveAll(d.cp.Dir)
		}
	}()
	if err := d.deployWeb(ctx); err != nil {
		return nil, err
	}
	good, err := d.image(ctx)
	if err != nil {
		return nil, err
	}

	steps := []struct {
		title, file, want string
		guard             bool
	}{
		{"1. pod kill (self-healing)", "web-pod-kill.yaml", reports.VerdictPassed, false},
		{"2. bad rollout, rollback guard running", "web-bad-rollout.yaml", reports.VerdictPassed, true},
		{"3. bad rollout, no rollback guard", "web-bad-rollout.yaml", reports.VerdictFailed, false},
	}
	for i, s := range steps {
		dir := filepath.Join(d.cfg.reportDir, fmt.Sprintf("%d-%s", i+1, strings.TrimSuffix(s.file, ".yaml")))
		d.say("%s: chaos run examples/kubernetes/%s", s.title, s.file)
		r, err := d.experiment(ctx, s.file, dir, s.guard)
		r.Title, r.Want, r.ReportDir = s.title, s.want, dir
		results = append(results, r)
		if err != nil {
			return results, err
		}
		if err := d.waitAvailable(ctx, 2*time.Minute); err != nil {
			return results, err
		}
		// Whoever undid the bad rollout (the guard, or Faultline's revert), the
		// Deployment must end on the template it started with.
		img, err := d.image(ctx)
		if err != nil {
			return results, err
		}
		if img != good {
			return results, fmt.Errorf("after %q shop/web runs %s, not its original image %s", s.title, img, good)
		}
		d.say("shop/web is back on its original template (%s), all replicas available", img)
	}
	return results, nil
}

func (d *demo) image(ctx context.Context) (string, error) {
	dep, err := d.cs.AppsV1().Deployments("shop").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	return dep.Spec.Template.Spec.Containers[0].Image, nil
}

// startCluster starts the control plane, building its binaries first when they are
// not cached yet (and saying so: that is the one slow step of a first run).
func (d *demo) startCluster(ctx context.Context) error {
	cache, err := controlplane.CacheDir()
	if err != nil {
		return err
	}
	if !cached(filepath.Join(cache, "bin")) && os.Getenv(controlplane.EnvBinDir) == "" {
		d.say("first run: building etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok")
		d.say("from the Go module proxy into %s (8-14 min on 2 cores; cached for every later run)", cache)
		start := time.Now()
		if _, err := controlplane.EnsureBinaries(ctx, func(f string, a ...any) { d.say(f, a...) }); err != nil {
			return err
		}
		d.say("control plane built in %s", since(start))
	}
	dir, err := os.MkdirTemp("", "faultline-demo-kubernetes-")
	if err != nil {
		return err
	}
	start := time.Now()
	d.cp, err = controlplane.Start(ctx, controlplane.Options{Dir: dir, Nodes: 3, PodReadyDelay: time.Second})
	if err != nil {
		os.RemoveAll(dir)
		return fmt.Errorf("starting the control plane: %w", err)
	}
	d.say("control plane up in %s: %s (3 kwok nodes), KUBECONFIG=%s", since(start), d.cp.Server, d.cp.Kubeconfig)
	c, err := d.cp.Client()
	if err != nil {
		return err
	}
	d.cs = c.Clientset
	return nil
}

func cached(bin string) bool {
	for _, n := range []string{controlplane.Etcd, controlplane.KubeAPIServer, controlplane.KubeControllerManager, controlplane.KubeScheduler, controlplane.Kwok} {
		if _, err := os.Stat(filepath.Join(bin, n)); err != nil {
			return false
		}
	}
	return true
}

// experiment runs one chaos experiment, with the rollback guard beside it when guard
// is set, and reads its verdict from report.json.
func (d *demo) experiment(ctx context.Context, file, reportDir string, guard bool) (result, error) {
	var r result
	var wg sync.WaitGroup
	if guard {
		gctx, cancel := context.WithCancel(ctx)
		defer func() { cancel(); wg.Wait() }()
		g := &rollbackguard.Guard{Client: d.cs, Namespace: "shop", Selector: "app=web", UnreadyFor: d.cfg.unready,
			Logf: func(f string, a ...any) { fmt.Fprintf(d.out, "rollback-guard: "+f+"\n", a...) }}
		d.say("rollback guard watching shop/web (rolls back a rollout unready for %s)", d.cfg.unready)
		wg.Add(1)
		go func() { defer wg.Done(); _ = g.Run(gctx, nil) }()
	}
	cmd := exec.CommandContext(ctx, d.cfg.chaos, "run", "--kubeconfig", d.cp.Kubeconfig, "--progress", "plain",
		"--report-dir", reportDir, filepath.Join(d.root, "examples", "kubernetes", file))
	cmd.Stdout, cmd.Stderr = d.out, d.out
	cmd.Env = append(os.Environ(), "FAULTLINE_JOURNAL="+filepath.Join(d.cp.Dir, "journal"))
	// On Ctrl-C or SIGTERM the run is interrupted like a user would: it reverts its
	// faults, runs its rollbacks and writes its report before it exits.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 2 * time.Minute
	runErr := cmd.Run()
	var exit *exec.ExitError
	if runErr != nil && !errors.As(runErr, &exit) {
		return r, fmt.Errorf("chaos run %s: %w", file, runErr)
	}
	res, err := readReport(reportDir)
	if err != nil {
		return r, fmt.Errorf("chaos run %s (%v): %w", file, runErr, err)
	}
	r.Verdict, r.Why = res.Verdict, summarize(res)
	if ctx.Err() != nil {
		return r, ctx.Err()
	}
	return r, nil
}

func readReport(dir string) (*reports.Result, error) {
	b, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		return nil, err
	}
	var res reports.Result
	if err := json.Unmarshal(b, &res); err != nil {
		return nil, fmt.Errorf("reading %s: %w", filepath.Join(dir, "report.json"), err)
	}
	return &res, nil
}

// summarize gives the measured value of the experiment's verify checks, the numbers
// that tell the story (time to heal, time to roll back, or why it was not).
func summarize(res *reports.Result) string {
	var parts []string
	for _, c := range res.Checks {
		if c.Kind == "selfHealing" || c.Kind == "rollback" {
			parts = append(parts, fmt.Sprintf("%s %s: %s", c.Name, c.Status, c.Measured))
		}
	}
	if len(parts) == 0 {
		return res.Reason
	}
	return strings.Join(parts, "; ")
}

// deployWeb applies examples/kubernetes/web.yaml and waits until it is available.
func (d *demo) deployWeb(ctx context.Context) error {
	objs, err := readManifests(filepath.Join(d.root, "examples", "kubernetes", "web.yaml"))
	if err != nil {
		return err
	}
	for _, o := range objs {
		if err := create(ctx, d.cs, o); err != nil {
			return err
		}
	}
	d.say("deployed examples/kubernetes/web.yaml (namespace shop, Deployment web, 6 replicas)")
	return d.waitAvailable(ctx, 2*time.Minute)
}

// waitAvailable waits until shop/web is fully rolled out and available.
func (d *demo) waitAvailable(ctx context.Context, timeout time.Duration) error {
	var last *appsv1.Deployment
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		dep, err := d.cs.AppsV1().Deployments("shop").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		last = dep
		want := *dep.Spec.Replicas
		s := dep.Status
		return s.ObservedGeneration >= dep.Generation && s.UpdatedReplicas == want &&
			s.AvailableReplicas == want && s.Replicas == want, nil
	})
	if err != nil {
		if last != nil {
			return fmt.Errorf("deployment shop/web not available within %s (%d/%d available): %w",
				timeout, last.Status.AvailableReplicas, *last.Spec.Replicas, err)
		}
		return fmt.Errorf("deployment shop/web not available within %s: %w", timeout, err)
	}
	return nil
}
