package main

import (
	"fmt"

	"github.com/spf13/pflag"

	"github.com/faultline-dev/faultline/experiments"
	"github.com/faultline-dev/faultline/experiments/cluster"
	"github.com/faultline-dev/faultline/internal/kube"
)

// addClusterRunFlags adds the flags of `chaos run` that say how a run keeps its state
// in the cluster it targets.
func addClusterRunFlags(fl *pflag.FlagSet, o *experiments.ClusterOptions) {
	fl.StringVar(&o.Results, "results", experiments.ResultsAuto,
		"where a run with a Kubernetes target records itself: auto (in the cluster when it serves ExperimentRuns), cluster (must), local")
	fl.StringVar(&o.Namespace, "results-namespace", "",
		"namespace of ExperimentRuns, Leases and the halt switch (default $FAULTLINE_NAMESPACE, the pod's namespace in a cluster, else chaos)")
	fl.DurationVar(&o.LeaseDuration, "lease-duration", cluster.DefaultLeaseDuration,
		"a run whose Lease is not renewed for this long is dead, and what it left is reverted by the next run or `chaos recover --cluster`")
	fl.IntVar(&o.HistoryLimit, "history-limit", cluster.DefaultHistoryLimit, "finished ExperimentRuns kept per experiment; older ones are pruned")
}

// clusterFlags are the flags of the commands that read or write the cluster's state
// (recover --cluster, halt, resume, history).
type clusterFlags struct {
	kubeconfig, context, namespace string
}

func (f *clusterFlags) add(fl *pflag.FlagSet) {
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file (default $KUBECONFIG, ~/.kube/config, or the pod's ServiceAccount in a cluster)")
	fl.StringVar(&f.context, "context", "", "kubeconfig context")
	fl.StringVarP(&f.namespace, "namespace", "n", "",
		"namespace of ExperimentRuns, Leases and the halt switch (default $FAULTLINE_NAMESPACE, the pod's namespace in a cluster, else chaos)")
}

func (f *clusterFlags) client() (*kube.Client, error) {
	// kubectl's rules; with no kubeconfig at all, the pod's ServiceAccount.
	c, err := kube.NewClient(kube.Target{Kubeconfig: f.kubeconfig, Context: f.context})
	if err != nil {
		return nil, fmt.Errorf("connecting to the cluster: %w", err)
	}
	return c, nil
}

func (f *clusterFlags) ns() string { return cluster.ResolveNamespace(f.namespace) }
