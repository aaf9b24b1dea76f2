package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/faultline-dev/faultline/experiments"
	"github.com/faultline-dev/faultline/injectors/netfault"
)

func newRecoverCmd() *cobra.Command {
	var o experiments.RecoverOptions
	var journal string
	var sweep bool
	var sweepNS []string
	cmd := &cobra.Command{
		Use:   "recover",
		Short: "Revert every fault a killed runner left active, from the journal",
		Long: `Recover reads the journal and reverts every fault that a runner killed with
kill -9 (or a crashed machine) left active: it resumes paused processes, restores
scaled workloads, removes qdiscs and filter tables, removes proxy toxics. It prints
what it found and did, and is safe to run twice. Runs whose runner is still alive are
skipped unless --force. With --sweep it also scans network namespaces for what
Faultline creates (qdiscs with handles fa00-fa7f, nftables tables faultline_*) and
removes it, even when the journal directory is gone; in the Kubernetes cluster of
--kubeconfig/--context (default: the usual kubeconfig rules) it deletes every Chaos
Mesh object labelled faultline.dev/run-id (only --run's with --run).`,
		Example: `  chaos recover
  chaos recover --journal /var/lib/faultline/journal --run 20261123t101500-a1b2c3`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			reg, err := experiments.DefaultRegistries()
			if err != nil {
				return err
			}
			if journal == "" {
				journal = experiments.DefaultJournalDir()
			}
			actions, err := experiments.Recover(cmd.Context(), journal, reg, o)
			out := cmd.OutOrStdout()
			if len(actions) == 0 {
				fmt.Fprintf(out, "journal %s: no unfinished runs, nothing to recover\n", journal)
			}
			for _, a := range actions {
				line := fmt.Sprintf("run %s (%s)", a.RunID, a.Experiment)
				if a.Fault != "" {
					line += fmt.Sprintf(" fault %s (%s)", a.Fault, a.Kind)
				}
				line += ": " + a.Action
				if a.Error != "" {
					line += ": " + a.Error
				}
				fmt.Fprintln(out, line)
			}
			if sweep && !o.Force {
				runs, _ := experiments.ReadJournal(journal)
				for _, r := range runs {
					if r.RunnerAlive() {
						fmt.Fprintf(out, "sweep: skipped: run %s (pid %d) is still running and owns what a sweep would find; stop it or use --force\n", r.RunID, r.PID)
						sweep = false
						break
					}
				}
			}
			if sweep {
				paths := make([]string, len(sweepNS))
				for i, ns := range sweepNS {
					paths[i] = ns
					if !strings.Contains(ns, "/") {
						paths[i] = "/run/netns/" + ns // a name, as `ip netns` has it
					}
				}
				removed, serr := netfault.Sweep(cmd.Context(), paths, o.RunID)
				for _, r := range removed {
					fmt.Fprintf(out, "sweep: removed %s\n", r)
				}
				if len(removed) == 0 && serr == nil {
					fmt.Fprintln(out, "sweep: no Faultline qdiscs or nftables tables found")
				}
				err = errors.Join(err, serr, sweepChaosMesh(cmd.Context(), out, o))
			}
			if err != nil {
				return &exitError{code: 3, msg: "some faults could not be recovered: " + err.Error()}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&journal, "journal", "", "journal directory (default $XDG_STATE_HOME/faultline/journal)")
	fl.StringVar(&o.RunID, "run", "", "recover only this run ID")
	fl.BoolVar(&o.Force, "force", false, "also recover runs whose runner seems alive")
	fl.StringVar(&o.Kubeconfig, "kubeconfig", "", "kubeconfig file (overrides the journaled target)")
	fl.StringVar(&o.KubeContext, "context", "", "kubeconfig context (overrides the journaled target)")
	fl.BoolVar(&sweep, "sweep", false, "also scan network namespaces for Faultline qdiscs and nftables tables and remove them, even without a journal")
	fl.StringSliceVar(&sweepNS, "netns", nil, "namespaces (names or paths) to sweep (default: this one and every /run/netns/*)")
	fl.DurationVar(&o.Timeout, "timeout", 0, "timeout of each fault's recovery (default 30s)")
	return cmd
}
