package main

import (
	"fmt"
	"os"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/spf13/cobra"

	"github.com/faultline-dev/faultline/experiments"
	"github.com/faultline-dev/faultline/experiments/gameday"
)

func newGamedayCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "gameday",
		Short: "Scheduled game days in a cluster",
	}
	cmd.AddCommand(newGamedayRenderCmd())
	return cmd
}

func newGamedayRenderCmd() *cobra.Command {
	var o gameday.Options
	cmd := &cobra.Command{
		Use:   "render FILE...",
		Short: "Write the manifests of a scheduled game day: ConfigMap, CronJob, ServiceAccount, least-privilege RBAC",
		Long: `Render validates the experiments (nothing is written if any is invalid) and writes,
for ` + "`kubectl apply -f -`" + `:

  - a ServiceAccount and a ConfigMap holding the experiment files,
  - a CronJob (concurrencyPolicy Forbid, no retries) running
    ` + "`chaos run --results cluster`" + ` on the schedule, which records every run as an
    ExperimentRun and keeps its journal and Lease in the cluster,
  - least-privilege RBAC computed from what these experiments' faults and probes
    actually do: one Role and RoleBinding per namespace they touch (a ClusterRole only
    for cluster-wide reads), plus the runner's own Role in --namespace (its
    ExperimentRuns, Leases and the halt switch).

The experiments reach the cluster with spec.target.kubernetes: {} (in a pod, the
ServiceAccount is used). Apply deploy/crds/ first.`,
		Example: `  chaos gameday render exp/*.yaml --schedule "0 10 * * 3" --time-zone Europe/Berlin \
      --namespace chaos --image ghcr.io/acme/chaos:v1 | kubectl apply -f -`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, paths []string) error {
			var problems []string
			if _, err := cron.ParseStandard(o.Schedule); err != nil {
				problems = append(problems, fmt.Sprintf("--schedule %q: %v", o.Schedule, err))
			}
			if o.TimeZone != "" {
				if _, err := time.LoadLocation(o.TimeZone); err != nil {
					problems = append(problems, fmt.Sprintf("--time-zone %q: unknown time zone", o.TimeZone))
				}
			}
			if o.Image == "" {
				problems = append(problems, "--image: required (an image whose entrypoint is the chaos binary)")
			}
			for _, p := range problems {
				fmt.Fprintln(cmd.ErrOrStderr(), p)
			}
			if len(problems) > 0 {
				return &exitError{code: 2, msg: "nothing was rendered"}
			}
			reg, err := experiments.DefaultRegistries()
			if err != nil {
				return err
			}
			exps, err := loadAll(paths, reg, cmd)
			if err != nil {
				return err
			}
			files := make([]gameday.File, len(paths))
			for i, p := range paths {
				data, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				files[i] = gameday.File{Path: p, Data: data, Exp: exps[i]}
			}
			return gameday.Render(cmd.OutOrStdout(), files, reg, o)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.Schedule, "schedule", "", `cron schedule of the CronJob, e.g. "0 10 * * 3" (Wednesdays 10:00)`)
	fl.StringVar(&o.TimeZone, "time-zone", "", "time zone of the schedule, e.g. Europe/Berlin (default: the cluster's)")
	fl.StringVarP(&o.Namespace, "namespace", "n", "chaos", "namespace of the CronJob, its ServiceAccount, the ExperimentRuns and the halt switch")
	fl.StringVar(&o.Image, "image", "", "image with the chaos binary as entrypoint (required)")
	fl.StringVar(&o.Name, "name", "faultline-gameday", "name of the CronJob, ServiceAccount, ConfigMap and Roles")
	_ = cmd.MarkFlagRequired("schedule")
	return cmd
}
