package cluster

import (
	"context"

	"github.com/faultline-dev/faultline/internal/kube"
)

// RunnerPermissions are what a runner needs in the Faultline namespace ns for its own
// state: its ExperimentRun (and pruning older ones), its Lease (and reading dead
// runs' Leases), and the halt switch.
func RunnerPermissions(ns string) []kube.Permission {
	var perms []kube.Permission
	for _, v := range []string{"get", "list", "create", "update", "delete"} {
		perms = append(perms, kube.Permission{Verb: v, Group: GroupVersion.Group, Resource: Resource.Resource, Namespace: ns})
	}
	for _, v := range []string{"get", "create", "patch", "delete"} {
		perms = append(perms, kube.Permission{Verb: v, Group: "coordination.k8s.io", Resource: "leases", Namespace: ns})
	}
	for _, v := range []string{"get", "list", "watch"} {
		perms = append(perms, kube.Permission{Verb: v, Resource: "configmaps", Namespace: ns})
	}
	return perms
}

// CheckAccess fails, naming every missing permission, when the client may not keep
// a run's state in ns. It creates nothing but SelfSubjectAccessReviews.
func CheckAccess(ctx context.Context, c *kube.Client, ns string) error {
	return kube.CheckAccess(ctx, c.Clientset, RunnerPermissions(ns)...)
}
