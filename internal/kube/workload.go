package kube

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// Workload kinds understood by GetWorkload and PatchWorkload.
const (
	KindDeployment  = "Deployment"
	KindStatefulSet = "StatefulSet"
)

// WorkloadKinds lists the supported kinds, for validation messages.
var WorkloadKinds = []string{KindDeployment, KindStatefulSet}

// WorkloadRef names a Deployment or StatefulSet.
type WorkloadRef struct {
	Kind      string
	Namespace string
	Name      string
}

func (r WorkloadRef) String() string {
	return strings.ToLower(r.Kind) + " " + r.Namespace + "/" + r.Name
}

// Resource is the plural API resource of the kind ("deployments").
func (r WorkloadRef) Resource() string { return strings.ToLower(r.Kind) + "s" }

// Workload is the part of a Deployment or StatefulSet that faults and probes read.
type Workload struct {
	Ref      WorkloadRef
	Meta     metav1.ObjectMeta
	Replicas int32 // spec.replicas (default 1)
	Template corev1.PodTemplateSpec
	Selector *metav1.LabelSelector

	ObservedGeneration int64
	StatusReplicas     int32 // pods of all revisions
	UpdatedReplicas    int32 // pods of the current template
	ReadyReplicas      int32
	AvailableReplicas  int32
	// Revision: a Deployment's deployment.kubernetes.io/revision annotation; a
	// StatefulSet's status.updateRevision.
	Revision string
}

// RolledOut reports whether the controller has observed the latest spec and every
// replica runs the current template and is available (kubectl rollout status).
func (w *Workload) RolledOut() bool {
	return w.ObservedGeneration >= w.Meta.Generation &&
		w.UpdatedReplicas == w.Replicas && w.StatusReplicas == w.Replicas && w.AvailableReplicas == w.Replicas
}

// GetWorkload reads a Deployment or StatefulSet.
func GetWorkload(ctx context.Context, cs kubernetes.Interface, ref WorkloadRef) (*Workload, error) {
	switch ref.Kind {
	case KindDeployment:
		d, err := cs.AppsV1().Deployments(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		return &Workload{Ref: ref, Meta: d.ObjectMeta, Replicas: replicasOf(d.Spec.Replicas), Template: d.Spec.Template,
			Selector: d.Spec.Selector, ObservedGeneration: d.Status.ObservedGeneration, StatusReplicas: d.Status.Replicas,
			UpdatedReplicas: d.Status.UpdatedReplicas, ReadyReplicas: d.Status.ReadyReplicas,
			AvailableReplicas: d.Status.AvailableReplicas, Revision: d.Annotations["deployment.kubernetes.io/revision"]}, nil
	case KindStatefulSet:
		s, err := cs.AppsV1().StatefulSets(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		return &Workload{Ref: ref, Meta: s.ObjectMeta, Replicas: replicasOf(s.Spec.Replicas), Template: s.Spec.Template,
			Selector: s.Spec.Selector, ObservedGeneration: s.Status.ObservedGeneration, StatusReplicas: s.Status.Replicas,
			UpdatedReplicas: s.Status.UpdatedReplicas, ReadyReplicas: s.Status.ReadyReplicas,
			AvailableReplicas: s.Status.AvailableReplicas, Revision: s.Status.UpdateRevision}, nil
	default:
		return nil, fmt.Errorf("unsupported workload kind %q (want %s)", ref.Kind, strings.Join(WorkloadKinds, " or "))
	}
}

// PatchWorkload patches a Deployment or StatefulSet.
func PatchWorkload(ctx context.Context, cs kubernetes.Interface, ref WorkloadRef, pt types.PatchType, data []byte) error {
	var err error
	switch ref.Kind {
	case KindDeployment:
		_, err = cs.AppsV1().Deployments(ref.Namespace).Patch(ctx, ref.Name, pt, data, metav1.PatchOptions{FieldManager: "faultline"})
	case KindStatefulSet:
		_, err = cs.AppsV1().StatefulSets(ref.Namespace).Patch(ctx, ref.Name, pt, data, metav1.PatchOptions{FieldManager: "faultline"})
	default:
		err = fmt.Errorf("unsupported workload kind %q", ref.Kind)
	}
	return err
}

// TemplateHash returns the hash identifying the workload's current pod template:
// for a Deployment the pod-template-hash label of its ReplicaSet of the current
// revision, for a StatefulSet the controller-revision hash of updateRevision. It is
// stable across rollbacks (a rolled-back Deployment reuses the old ReplicaSet), unlike
// the revision number. "" when not known yet.
func TemplateHash(ctx context.Context, cs kubernetes.Interface, w *Workload) (string, error) {
	if w.Ref.Kind == KindStatefulSet {
		if i := strings.LastIndexByte(w.Revision, '-'); i >= 0 {
			return w.Revision[i+1:], nil
		}
		return w.Revision, nil
	}
	sel, err := metav1.LabelSelectorAsSelector(w.Selector)
	if err != nil {
		return "", err
	}
	list, err := cs.AppsV1().ReplicaSets(w.Ref.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return "", err
	}
	for i := range list.Items {
		rs := &list.Items[i]
		if ownedBy(rs.OwnerReferences, w.Meta.UID) && rs.Annotations["deployment.kubernetes.io/revision"] == w.Revision {
			return rs.Labels[appsv1.DefaultDeploymentUniqueLabelKey], nil
		}
	}
	return "", nil
}

func ownedBy(refs []metav1.OwnerReference, uid types.UID) bool {
	for _, r := range refs {
		if r.UID == uid {
			return true
		}
	}
	return false
}

func replicasOf(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

// FormatReplicas formats a replica count for annotations.
func FormatReplicas(n int32) string { return strconv.FormatInt(int64(n), 10) }
