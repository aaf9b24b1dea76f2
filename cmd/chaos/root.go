package main

import (
	"context"
	"io"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=v0.1.0".
var version = ""

// run is the whole CLI; main only calls it, so tests run it in-process.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	return root.ExecuteContext(ctx)
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "chaos",
		Short: "Faultline: chaos experiments that always clean up and prove their verdicts",
		Long: `Faultline runs chaos experiments written in YAML. It checks the system is steady,
injects faults (process kill/pause, fault proxies, kernel network faults, Kubernetes
pod kill/scale/bad rollout, Chaos Mesh chaos on pods), watches steady-state probes
(HTTP, TCP, exec, Kubernetes, Prometheus), always reverts every fault
(also on failure, abort, Ctrl-C and SIGTERM), and writes JSON, JUnit, Markdown and HTML
reports that say with numbers whether the system held.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newRunCmd(), newValidateCmd(), newRecoverCmd(), newSchemaCmd(), newProxyCmd(), newReportCmd(), newVersionCmd())
	root.AddCommand(newHaltCmd(), newResumeCmd(), newHistoryCmd(), newGamedayCmd())
	return root
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of chaos",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.Println("chaos", buildVersion())
			return nil
		},
	}
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}
