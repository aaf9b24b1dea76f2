package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/faultline-dev/faultline/experiments"
	"github.com/faultline-dev/faultline/internal/kube"
)

// recoverCluster is `chaos recover --cluster`: it reverts what dead runs recorded in
// the cluster left, from the journal kept on their ExperimentRuns.
func recoverCluster(cmd *cobra.Command, o experiments.RecoverOptions, namespace string) error {
	reg, err := experiments.DefaultRegistries()
	if err != nil {
		return err
	}
	f := clusterFlags{kubeconfig: o.Kubeconfig, context: o.KubeContext, namespace: namespace}
	c, err := f.client()
	if err != nil {
		return err
	}
	return printClusterRecover(cmd, c, reg, experiments.ClusterRecoverOptions{Namespace: f.ns(), RunID: o.RunID, Timeout: o.Timeout})
}

func printClusterRecover(cmd *cobra.Command, c *kube.Client, reg experiments.Registries, o experiments.ClusterRecoverOptions) error {
	actions, err := experiments.RecoverCluster(cmd.Context(), c, reg, o)
	out := cmd.OutOrStdout()
	if len(actions) == 0 && err == nil {
		fmt.Fprintf(out, "namespace %s: no dead runs, nothing to recover\n", o.Namespace)
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
	if err != nil {
		return &exitError{code: 3, msg: "some faults could not be recovered: " + err.Error()}
	}
	return nil
}
