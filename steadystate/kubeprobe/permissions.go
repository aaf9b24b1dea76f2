package kubeprobe

import (
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/faultline-dev/faultline/internal/kube"
)

var _ kube.Needer = (*Probe)(nil)

// Permissions: pods (list) and their controllers (get) for a selector; the workload
// (get) and its ReplicaSets (list) for a workload; get on the object's resource for
// an object (its plural guessed as lower-case kind + "s", as for built-in kinds).
func (p *Probe) Permissions() []kube.Permission {
	ns := p.spec.Namespace
	if ns == "" {
		ns = "default"
	}
	switch {
	case p.spec.Workload != nil:
		ref := kube.WorkloadRef{Kind: p.spec.Workload.Kind, Namespace: ns, Name: p.spec.Workload.Name}
		if ref.Kind == "" {
			ref.Kind = kube.KindDeployment
		}
		return []kube.Permission{
			{Verb: "get", Group: "apps", Resource: ref.Resource(), Namespace: ns},
			{Verb: "list", Group: "apps", Resource: "replicasets", Namespace: ns},
		}
	case p.spec.Object != nil:
		o := p.spec.Object
		gv, _ := schema.ParseGroupVersion(o.APIVersion)
		if o.Namespace != "" {
			ns = o.Namespace
		}
		return []kube.Permission{{Verb: "get", Group: gv.Group, Resource: strings.ToLower(o.Kind) + "s", Namespace: ns}}
	}
	return []kube.Permission{
		{Verb: "list", Resource: "pods", Namespace: ns},
		{Verb: "get", Group: "apps", Resource: "replicasets", Namespace: ns},
		{Verb: "get", Group: "apps", Resource: "statefulsets", Namespace: ns},
	}
}
