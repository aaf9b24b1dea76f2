package main

import (
	"errors"
	"fmt"
	"os"
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
what it found and did, one line per fault ("reverted: <what>", "nothing to revert:
<why>", "skipped: <why>", "failed: could not recover fault X: <why>"), and is safe to
run twice. Runs whose runner is still alive are skipped unless --force; an object
that a live run's journal also claims is never removed. Each journal file is read on
its own: a damaged or unreadable one is reported (exit 3) and the others are
recovered. With --sweep it also scans network namespaces for what Faultline creates
(root qdiscs tbf/netem/htb with even handles fa00:-fa7e:, inet nftables tables
faultline_<run>_<8 hex> whose rules carry "faultline run <run>") and removes it, even
when the journal directory is gone; look-alikes are left and listed with the reason.`,
		Example: `  chaos recover
  chaos recover --journal /var/lib/faultline/journal --run 20261123t101500-a1b2c3`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			reg, err := experiments.DefaultRegistries()
			if err != nil {
				return err
			}
			explicit := journal != ""
			if !explicit {
				journal = experiments.DefaultJournalDir()
			}
			out := cmd.OutOrStdout()
			var actions []experiments.RecoverAction
			if st, serr := os.Stat(journal); serr != nil || !st.IsDir() {
				if explicit {
					return &exitError{code: 2, msg: fmt.Sprintf("--journal %s: not a directory that exists (%v); nothing was done", journal, errOrNotDir(serr))}
				}
				fmt.Fprintf(out, "journal %s does not exist: no run has written one here, nothing to recover\n", journal)
			} else {
				actions, err = experiments.Recover(cmd.Context(), journal, reg, o)
				if len(actions) == 0 && err == nil {
					fmt.Fprintf(out, "journal %s: no unfinished runs, nothing to recover\n", journal)
				}
			}
			failed := 0
			for _, a := range actions {
				line := fmt.Sprintf("run %s (%s)", a.RunID, a.Experiment)
				if a.Fault != "" {
					line += fmt.Sprintf(" fault %s (%s)", a.Fault, a.Kind)
				}
				line += ": " + a.Action
				if a.Error != "" {
					line += ": " + a.Error
					failed++
				}
				fmt.Fprintln(out, oneLine(line))
			}
			if sweep && !o.Force {
				runs, _ := experiments.ReadJournal(journal) // none: the check above said why
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
				res, serr := netfault.Sweep(cmd.Context(), paths, o.RunID)
				for _, r := range res.Removed {
					fmt.Fprintln(out, oneLine("sweep: removed "+r))
				}
				for _, r := range res.Left {
					fmt.Fprintln(out, oneLine("sweep: left "+r))
				}
				if len(res.Removed) == 0 && len(res.Left) == 0 && serr == nil {
					fmt.Fprintln(out, "sweep: no Faultline qdiscs or nftables tables found")
				} else if len(res.Removed) == 0 && serr == nil {
					fmt.Fprintln(out, "sweep: removed nothing: no object carries Faultline's whole tag")
				}
				err = errors.Join(err, serr)
			}
			if err != nil {
				if failed == 0 { // not tied to a line above (e.g. the sweep)
					return &exitError{code: 3, msg: oneLine("could not recover everything: " + err.Error())}
				}
				return &exitError{code: 3, msg: fmt.Sprintf("%d item(s) above could not be recovered; what they name stays for the next `chaos recover`", failed)}
			}
			return nil
		},
	}
	return withRecoverFlags(cmd, &o, &journal, &sweep, &sweepNS)
}

// oneLine keeps one report line on one line: joined errors become "; ".
func oneLine(s string) string {
	return strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "; ")
}

func errOrNotDir(err error) error {
	if err != nil {
		return err
	}
	return errors.New("it is a file")
}

func withRecoverFlags(cmd *cobra.Command, o *experiments.RecoverOptions, journal *string, sweep *bool, sweepNS *[]string) *cobra.Command {
	fl := cmd.Flags()
	fl.StringVar(journal, "journal", "", "journal directory (default $XDG_STATE_HOME/faultline/journal)")
	fl.StringVar(&o.RunID, "run", "", "recover only this run ID")
	fl.BoolVar(&o.Force, "force", false, "also recover runs whose runner seems alive")
	fl.StringVar(&o.Kubeconfig, "kubeconfig", "", "kubeconfig file (overrides the journaled target)")
	fl.StringVar(&o.KubeContext, "context", "", "kubeconfig context (overrides the journaled target)")
	fl.BoolVar(sweep, "sweep", false, "also scan network namespaces for Faultline qdiscs and nftables tables and remove them, even without a journal")
	fl.StringSliceVar(sweepNS, "netns", nil, "namespaces (names or paths) to sweep (default: this one and every /run/netns/*)")
	fl.DurationVar(&o.Timeout, "timeout", 0, "timeout of each fault's recovery (default 30s)")
	return cmd
}
