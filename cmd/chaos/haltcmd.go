package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/faultline-dev/faultline/experiments/cluster"
	"github.com/faultline-dev/faultline/internal/kube"
)

func newHaltCmd() *cobra.Command {
	var f clusterFlags
	var reason string
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "halt",
		Short: "Stop every experiment running in the cluster, and refuse new ones until `chaos resume`",
		Long: `Halt turns on the cluster's halt switch (ConfigMap faultline-halt in the Faultline
namespace). Every run recording itself in that namespace watches it: it aborts at once,
reverts every fault and ends "aborted"; new runs end "halted" without touching anything
until ` + "`chaos resume`" + `. Runs started from a laptop against the cluster obey it too.

Halt then waits (up to --wait) until no run is left running and prints how long it took
from the halt to every fault reverted.`,
		Example: `  chaos halt --reason "incident INC-123"
  chaos resume`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			ctx, ns, out := cmd.Context(), f.ns(), cmd.OutOrStdout()
			alive, err := cluster.Alive(ctx, c, ns, time.Now())
			if err != nil {
				return err
			}
			if reason == "" {
				reason = "chaos halt"
			}
			t0, err := cluster.SetHalt(ctx, c, ns, true, reason)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "halt switch %s/%s on (%s): new runs refuse to start until `chaos resume`\n", ns, cluster.HaltName, reason)
			if len(alive) == 0 || wait <= 0 {
				fmt.Fprintf(out, "%d runs were running\n", len(alive))
				return nil
			}
			return waitHalted(ctx, cmd, c, ns, alive, t0, wait)
		},
	}
	f.add(cmd.Flags())
	cmd.Flags().StringVar(&reason, "reason", "", "why (recorded on the switch and in every stopped run's reason)")
	cmd.Flags().DurationVar(&wait, "wait", 60*time.Second, "wait this long for running experiments to revert (0: do not wait)")
	return cmd
}

func newResumeCmd() *cobra.Command {
	var f clusterFlags
	cmd := &cobra.Command{
		Use:   "resume",
		Short: "Turn the cluster's halt switch off: experiments may run again",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			if _, err := cluster.SetHalt(cmd.Context(), c, f.ns(), false, ""); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "halt switch %s/%s off: experiments may run\n", f.ns(), cluster.HaltName)
			return nil
		},
	}
	f.add(cmd.Flags())
	return cmd
}

// waitHalted polls the runs that were alive at the halt until each has left phase
// Running, and prints, per run and overall, the time from the halt to its last
// journaled revert.
func waitHalted(ctx context.Context, cmd *cobra.Command, c *kube.Client, ns string, alive []cluster.ExperimentRun, t0 time.Time, wait time.Duration) error {
	out := cmd.OutOrStdout()
	deadline := time.Now().Add(wait)
	var worst time.Duration
	for _, r := range alive {
		for {
			got, err := cluster.Get(ctx, c, ns, r.Name)
			if err != nil {
				return err
			}
			if got.Status.Phase != cluster.PhaseRunning {
				reverted := lastRevert(got.Status.Journal)
				d := time.Duration(0)
				if !reverted.IsZero() {
					d = max(reverted.Sub(t0), 0)
				}
				worst = max(worst, d)
				fmt.Fprintf(out, "run %s (%s): %s, every fault reverted %s after the halt\n", got.Spec.RunID, got.Spec.Experiment, got.Status.Verdict, d.Round(time.Millisecond))
				break
			}
			if time.Now().After(deadline) {
				return &exitError{code: 3, msg: fmt.Sprintf("run %s is still running %s after the halt", r.Spec.RunID, wait)}
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	fmt.Fprintf(out, "halted %d runs: all reverted %s after the halt\n", len(alive), worst.Round(time.Millisecond))
	return nil
}

// lastRevert is the time of the last "reverted" line of a journal kept in the cluster.
func lastRevert(lines []string) time.Time {
	var last time.Time
	for _, l := range lines {
		var e struct {
			Event string    `json:"event"`
			Time  time.Time `json:"time"`
		}
		if json.Unmarshal([]byte(l), &e) == nil && e.Event == "reverted" && e.Time.After(last) {
			last = e.Time
		}
	}
	return last
}
