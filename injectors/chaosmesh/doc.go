// Package chaosmesh is Faultline's in-cluster engine: it carries out faults on
// Kubernetes pods through Chaos Mesh (https://chaos-mesh.org), whose DaemonSet applies
// them on every node, while Faultline keeps its own lifecycle around them.
//
//   - chaosMesh: {kind: StressChaos, spec: {...}} runs any pod chaos of the Chaos Mesh
//     api module (NetworkChaos, StressChaos, HTTPChaos, IOChaos, TimeChaos, DNSChaos,
//     PodChaos, JVMChaos); spec is decoded strictly into the module's Go types and
//     checked with Chaos Mesh's own webhook validation, before anything runs.
//   - NewNetwork builds the NetworkChaos behind networkLatency, networkLoss, ... with
//     a `target: {pods: {...}}` (injectors/install routes those here).
//
// The life of one fault:
//
//	Plan    Chaos Mesh installed (CRD)? RBAC (SelfSubjectAccessReview)? resolve every
//	        selector by listing pods; blast radius; pin the chosen pods into the object
//	        (selector.pods, mode all), so Chaos Mesh hits exactly what the plan shows
//	Inject  journal {kind, namespace, name} → create the object labelled with the run,
//	        spec.duration = fault duration + revertTimeout (dead-man's switch)
//	        → prove: AllInjected and a record Injected for every chosen pod (pod-kill:
//	        their UIDs gone); a record whose Apply failed → error with Chaos Mesh's message
//	Revert  delete → wait until the object is gone (Chaos Mesh drops its finalizer only
//	        once every pod is recovered), bounded by revertTimeout; a stuck deletion is
//	        reported with the object's name and what to do
//	Recover the same delete-and-wait from the journaled name; Sweep deletes every object
//	        labelled faultline.dev/run-id
package chaosmesh

import (
	"errors"
	"fmt"

	"github.com/faultline-dev/faultline/injectors"
	"github.com/faultline-dev/faultline/internal/kube"
)

// Labels and annotations on the objects Faultline creates.
const (
	LabelRunID       = "faultline.dev/run-id"
	LabelManagedBy   = "app.kubernetes.io/managed-by"
	ManagedBy        = "faultline"
	AnnotationFault  = "faultline.dev/fault"
	AnnotationSource = "faultline.dev/selector"
	// Finalizer is the finalizer Chaos Mesh keeps until every record is recovered.
	Finalizer = "chaos-mesh/records"
)

// ErrNotInstalled is wrapped by Plan errors when the cluster has no Chaos Mesh CRDs.
var ErrNotInstalled = errors.New("Chaos Mesh is not installed")

// ErrBlastRadius is wrapped by Plan errors that refuse a fault for its blast radius.
var ErrBlastRadius = errors.New("blast radius exceeded")

// DefaultProtectedNamespaces are never touched, whatever the experiment says (the
// same as the Kubernetes family's).
var DefaultProtectedNamespaces = []string{"kube-system", "kube-public", "kube-node-lease"}

// Register adds chaosMesh to r.
func Register(r *injectors.Registry) error {
	return r.Register(injectors.Definition{
		Key: "chaosMesh",
		Summary: "Run a Chaos Mesh chaos (NetworkChaos, StressChaos, HTTPChaos, IOChaos, TimeChaos, DNSChaos, PodChaos, JVMChaos) " +
			"on pods Faultline selects; proof: Chaos Mesh's status.",
		NewSpec: func() any { return &Spec{} },
		New: func(spec any, env *injectors.Env) (injectors.Injector, error) {
			s, ok := spec.(*Spec)
			if !ok {
				return nil, fmt.Errorf("chaosMesh: unexpected spec type %T", spec)
			}
			return newFromSpec(s, env)
		},
		Recover: Recover,
	})
}

// client returns the Kubernetes client of env.
func client(env *injectors.Env) (*kube.Client, error) {
	if env == nil || env.Kube == nil {
		return nil, errors.New("no kubernetes target: set spec.target.kubernetes")
	}
	return env.Kube()
}
