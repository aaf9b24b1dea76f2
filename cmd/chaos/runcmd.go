package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/faultline-dev/faultline/experiments"
	"github.com/faultline-dev/faultline/reports"
)

type runFlags struct {
	reportDir   string
	journalDir  string
	dryRun      bool
	progress    string
	kubeconfig  string
	kubeContext string
}

func newRunCmd() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run FILE...",
		Short: "Run experiments: baseline, inject, observe, revert, recover, verdict",
		Long: `Run validates every file first (nothing is touched if any is invalid), then runs
each experiment in turn: plan, baseline, inject, observe, revert, recover, rollbacks,
verdict. Every injection is journaled before it happens and reverted at the end, also
on failure, abort, Ctrl-C and SIGTERM. A second Ctrl-C says what is still being
reverted; the revert is never left half done.

Exit codes: 0 passed, 1 failed, 2 invalid input or usage (nothing touched),
3 aborted, errored or not steady (faults were reverted).`,
		Example: `  chaos run examples/shop/experiments/payments-outage.yaml
  chaos run --dry-run exp.yaml            # print the plan, touch nothing
  chaos run --report-dir out/ a.yaml b.yaml`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error { return runExperiments(cmd, files, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.reportDir, "report-dir", "", "write reports here (default ./chaos-reports/<experiment>-<timestamp>/)")
	fl.StringVar(&f.journalDir, "journal", "", "journal directory (default $XDG_STATE_HOME/faultline/journal)")
	fl.BoolVar(&f.dryRun, "dry-run", false, "print the plan (resolved targets, what would be injected when and reverted how) and touch nothing")
	fl.StringVar(&f.progress, "progress", "auto", "progress display: auto, tty, plain or none")
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file (overrides spec.target.kubernetes.kubeconfig)")
	fl.StringVar(&f.kubeContext, "context", "", "kubeconfig context (overrides spec.target.kubernetes.context)")
	return cmd
}

func runExperiments(cmd *cobra.Command, files []string, f runFlags) error {
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	reg, err := experiments.DefaultRegistries()
	if err != nil {
		return err
	}
	exps, err := loadAll(files, reg, cmd)
	if err != nil {
		return err
	}
	progress, tty := progressWriter(f.progress, stderr)
	tracker := &experiments.Tracker{}
	ctx, stop := interruptible(cmd.Context(), stderr, tracker)
	defer stop()

	worst := 0
	for _, e := range exps {
		res, err := experiments.Run(ctx, e, experiments.Options{
			Registries: reg, JournalDir: f.journalDir, Progress: progress, TTY: tty, DryRun: f.dryRun,
			Kubeconfig: f.kubeconfig, KubeContext: f.kubeContext, Tracker: tracker,
		})
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", e.Source, err)
			return &exitError{code: 2, msg: "nothing was run"}
		}
		if f.dryRun {
			printPlan(stdout, e, res)
			worst = worse(worst, experiments.ExitCode(res)) // a plan that fails is exit 3
			continue
		}
		dir := reportDir(f.reportDir, e.Metadata.Name, len(exps) > 1, res.Started)
		paths, werr := reports.WriteAll(dir, res)
		fmt.Fprintln(stdout, reports.Summary(res))
		// The summary line carries the reason's first line; print only what it cut.
		if _, rest, cut := strings.Cut(res.Reason, "\n"); cut && res.Verdict != reports.VerdictPassed {
			fmt.Fprintf(stdout, "  reason (continued): %s\n", strings.ReplaceAll(rest, "\n", "\n  "))
		}
		for _, e := range res.Errors {
			fmt.Fprintf(stdout, "  error: %s\n", e)
		}
		if werr != nil {
			fmt.Fprintf(stderr, "writing reports: %v\n", werr)
		} else {
			fmt.Fprintf(stdout, "  reports: %s\n", strings.Join(paths, ", "))
		}
		worst = worse(worst, experiments.ExitCode(res))
		if ctx.Err() != nil {
			break // interrupted: do not start the next experiment
		}
	}
	if worst != 0 {
		return &exitError{code: worst}
	}
	return nil
}

// worse orders exit codes by severity: 3 (could not be carried out) over 1 (failed).
func worse(a, b int) int {
	rank := map[int]int{0: 0, 1: 1, 3: 2, 2: 3}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

func reportDir(flag, name string, many bool, started time.Time) string {
	if flag == "" {
		return filepath.Join("chaos-reports", name+"-"+started.Format("20060102-150405"))
	}
	if many {
		return filepath.Join(flag, name)
	}
	return flag
}

// progressWriter decides where live progress goes and whether it is a TTY line.
func progressWriter(mode string, stderr io.Writer) (io.Writer, bool) {
	isTTY := false
	if f, ok := stderr.(*os.File); ok {
		isTTY = term.IsTerminal(int(f.Fd()))
	}
	switch mode {
	case "none":
		return nil, false
	case "plain":
		return stderr, false
	case "tty":
		return stderr, true
	}
	return stderr, isTTY && os.Getenv("CI") == ""
}

// interruptible returns a context cancelled by the first SIGINT or SIGTERM. Later
// signals do not kill the process: they print what is still being reverted.
func interruptible(parent context.Context, stderr io.Writer, tracker *experiments.Tracker) (context.Context, func()) {
	ctx, cancel := context.WithCancel(parent)
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		n := 0
		for {
			select {
			case <-done:
				return
			case s := <-sigs:
				n++
				if n == 1 {
					fmt.Fprintf(stderr, "\nchaos: %s: reverting every fault, then running rollbacks and writing the report (Ctrl-C again for status)\n", s)
					cancel()
					continue
				}
				fmt.Fprintf(stderr, "\nchaos: still cleaning up (%s); not exiting before every fault is reverted\n", tracker.Status())
			}
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(done)
		cancel()
	}
}

func printPlan(w io.Writer, e *experiments.Experiment, res *reports.Result) {
	fmt.Fprintf(w, "plan for %s (%s): nothing was touched\n", e.Metadata.Name, e.Source)
	fmt.Fprintf(w, "  baseline %s, then faults, then up to %s to recover\n", e.Spec.SteadyState.Baseline, e.Spec.SteadyState.Recovery)
	if res.Verdict != experiments.VerdictPlanned {
		fmt.Fprintf(w, "  PLAN FAILED: %s\n", res.Reason)
	}
	for _, p := range res.Plan {
		fmt.Fprintf(w, "  fault %s (%s) at +%s for %s\n    action: %s\n", p.Name, p.Kind, p.After, p.Duration, p.Action)
		for _, t := range p.Targets {
			ns := ""
			if t.Namespace != "" {
				ns = t.Namespace + "/"
			}
			detail := ""
			if t.Detail != "" {
				detail = " (" + t.Detail + ")"
			}
			fmt.Fprintf(w, "    target: %s %s%s%s\n", t.Kind, ns, t.Name, detail)
		}
		fmt.Fprintf(w, "    revert: %s\n", p.Revert)
	}
}
