package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/faultline-dev/faultline/experiments"
	"github.com/faultline-dev/faultline/injectors/chaosmesh"
	"github.com/faultline-dev/faultline/internal/kube"
)

// sweepChaosMesh deletes the Chaos Mesh objects Faultline created (label
// faultline.dev/run-id) in the cluster of the recover flags, if one is configured.
func sweepChaosMesh(ctx context.Context, out io.Writer, o experiments.RecoverOptions) error {
	c, err := kube.NewClient(kube.Target{Kubeconfig: o.Kubeconfig, Context: o.KubeContext})
	if err != nil {
		fmt.Fprintf(out, "sweep: no Kubernetes cluster to sweep for Chaos Mesh objects (%v)\n", err)
		return nil
	}
	timeout := o.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	removed, err := chaosmesh.Sweep(ctx, c, o.RunID, nil)
	if errors.Is(err, chaosmesh.ErrUnreachable) {
		fmt.Fprintf(out, "sweep: Chaos Mesh objects not swept: %v\n", err)
		return nil
	}
	for _, r := range removed {
		fmt.Fprintf(out, "sweep: removed %s\n", r)
	}
	if len(removed) == 0 && err == nil {
		fmt.Fprintln(out, "sweep: no Faultline Chaos Mesh objects found")
	}
	return err
}
