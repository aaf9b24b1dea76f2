package kubernetes

import "github.com/faultline-dev/faultline/internal/kube"

var (
	_ kube.Needer = (*PodKill)(nil)
	_ kube.Needer = (*DeploymentScale)(nil)
	_ kube.Needer = (*BadRollout)(nil)
)

// Permissions: list pods to choose and to prove the UIDs gone, delete to kill.
func (k *PodKill) Permissions() []kube.Permission {
	var perms []kube.Permission
	for _, ns := range k.spec.namespaces() {
		perms = append(perms,
			kube.Permission{Verb: "list", Resource: "pods", Namespace: ns},
			kube.Permission{Verb: "delete", Resource: "pods", Namespace: ns})
	}
	return perms
}

// Permissions: read and patch the workload, list its pods for the proof.
func (d *DeploymentScale) Permissions() []kube.Permission {
	return scalePermissions(d.spec.workload().ref())
}

// Permissions: read and patch the workload, list its ReplicaSets for the template hash.
func (b *BadRollout) Permissions() []kube.Permission {
	ref := b.spec.workload().ref()
	return []kube.Permission{
		{Verb: "get", Group: "apps", Resource: ref.Resource(), Namespace: ref.Namespace},
		{Verb: "patch", Group: "apps", Resource: ref.Resource(), Namespace: ref.Namespace},
		{Verb: "list", Group: "apps", Resource: "replicasets", Namespace: ref.Namespace},
	}
}
