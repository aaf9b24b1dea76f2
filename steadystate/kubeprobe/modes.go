package kubeprobe

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/util/jsonpath"

	"github.com/faultline-dev/faultline/internal/kube"
	"github.com/faultline-dev/faultline/steadystate"
)

// probeSelector counts Ready pods matching the selector. Desired is the sum of
// spec.replicas of the pods' controllers (ReplicaSet, StatefulSet); a pod without
// one counts as one wanted pod. Pods being deleted are not counted.
func (p *Probe) probeSelector(ctx context.Context, c *kube.Client, o *steadystate.Observation) error {
	ns := p.spec.Namespace
	pods, err := c.Clientset.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: p.spec.Selector})
	if err != nil {
		return fmt.Errorf("listing pods %s in %s: %w", p.spec.Selector, ns, err)
	}
	var ready, matched, desired int32
	owners := map[string]bool{}
	for i := range pods.Items {
		pod := &pods.Items[i]
		if pod.DeletionTimestamp != nil || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			continue
		}
		matched++
		if podReady(pod) {
			ready++
		}
		ref := metav1.GetControllerOf(pod)
		if ref == nil || (ref.Kind != "ReplicaSet" && ref.Kind != "StatefulSet") {
			desired++
			continue
		}
		key := ref.Kind + "/" + ref.Name
		if owners[key] {
			continue
		}
		owners[key] = true
		n, err := controllerReplicas(ctx, c, ns, ref)
		if err != nil {
			return fmt.Errorf("reading %s of pod %s: %w", key, pod.Name, err)
		}
		desired += n
	}
	o.Values = map[string]string{"ready": itoa(ready), "desired": itoa(desired), "matched": itoa(matched)}
	o.Detail = fmt.Sprintf("%d/%d ready", ready, desired)
	ok := true
	if n := p.spec.ReadyAtLeast; n != nil && ready < *n {
		ok = false
		o.Detail += fmt.Sprintf(", want at least %d", *n)
	}
	if p.spec.ReadyEqualsDesired && (ready != desired || desired == 0) {
		ok = false // no pod wanted or matching is not a steady state either
		if desired == 0 {
			o.Detail = fmt.Sprintf("no pods match %s", p.spec.Selector)
		}
	}
	o.Status = statusOf(ok)
	return nil
}

func controllerReplicas(ctx context.Context, c *kube.Client, ns string, ref *metav1.OwnerReference) (int32, error) {
	var r *int32
	switch ref.Kind {
	case "ReplicaSet":
		rs, err := c.Clientset.AppsV1().ReplicaSets(ns).Get(ctx, ref.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return 0, nil // being garbage-collected
		}
		if err != nil {
			return 0, err
		}
		r = rs.Spec.Replicas
	case "StatefulSet":
		ss, err := c.Clientset.AppsV1().StatefulSets(ns).Get(ctx, ref.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return 0, nil
		}
		if err != nil {
			return 0, err
		}
		r = ss.Spec.Replicas
	}
	if r == nil {
		return 1, nil
	}
	return *r, nil
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// probeWorkload checks the workload is fully rolled out and available (and has
// at least readyAtLeast ready replicas), and records its revision and template hash.
func (p *Probe) probeWorkload(ctx context.Context, c *kube.Client, o *steadystate.Observation) error {
	ref := kube.WorkloadRef{Kind: p.spec.Workload.Kind, Namespace: p.spec.Namespace, Name: p.spec.Workload.Name}
	w, err := kube.GetWorkload(ctx, c.Clientset, ref)
	if err != nil {
		return fmt.Errorf("reading %s: %w", ref, err)
	}
	hash, err := kube.TemplateHash(ctx, c.Clientset, w)
	if err != nil {
		return fmt.Errorf("reading the template hash of %s: %w", ref, err)
	}
	o.Values = map[string]string{
		"ready": itoa(w.ReadyReplicas), "desired": itoa(w.Replicas), "updated": itoa(w.UpdatedReplicas),
		"available": itoa(w.AvailableReplicas), "replicas": itoa(w.StatusReplicas),
		"revision": w.Revision, "templateHash": hash,
		"generation": fmt.Sprint(w.Meta.Generation), "observedGeneration": fmt.Sprint(w.ObservedGeneration),
	}
	ok := w.RolledOut()
	o.Detail = fmt.Sprintf("%d/%d available, %d updated, %d total, revision %s", w.AvailableReplicas, w.Replicas,
		w.UpdatedReplicas, w.StatusReplicas, w.Revision)
	if w.ObservedGeneration < w.Meta.Generation {
		o.Detail += fmt.Sprintf(", generation %d not observed yet", w.Meta.Generation)
	}
	if n := p.spec.ReadyAtLeast; n != nil && w.ReadyReplicas < *n {
		ok = false
		o.Detail += fmt.Sprintf(", %d ready, want at least %d", w.ReadyReplicas, *n)
	}
	o.Status = statusOf(ok)
	return nil
}

// objectMapper maps apiVersion/kind to resources, discovering lazily.
type objectMapper struct{ meta.RESTMapper }

func (p *Probe) restMapper(c *kube.Client) (*objectMapper, error) {
	p.mapperOnce.Do(func() {
		dc, err := discovery.NewDiscoveryClientForConfig(c.Config)
		if err != nil {
			p.mapperErr = err
			return
		}
		p.mapper = &objectMapper{restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))}
	})
	return p.mapper, p.mapperErr
}

// probeObject reads one object's field by JSONPath and compares it.
func (p *Probe) probeObject(ctx context.Context, c *kube.Client, o *steadystate.Observation) error {
	spec := p.spec.Object
	gv, err := schema.ParseGroupVersion(spec.APIVersion)
	if err != nil {
		return fmt.Errorf("object apiVersion %q: %w", spec.APIVersion, err)
	}
	m, err := p.restMapper(c)
	if err != nil {
		return fmt.Errorf("discovery: %w", err)
	}
	mapping, err := m.RESTMapping(gv.WithKind(spec.Kind).GroupKind(), gv.Version)
	if err != nil {
		return fmt.Errorf("mapping %s %s: %w", spec.APIVersion, spec.Kind, err)
	}
	res := c.Dynamic.Resource(mapping.Resource)
	name := strings.ToLower(spec.Kind) + " " + spec.Name
	get := res.Get
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		ns := spec.Namespace
		if ns == "" {
			ns = p.spec.Namespace
		}
		get = res.Namespace(ns).Get
		name = strings.ToLower(spec.Kind) + " " + ns + "/" + spec.Name
	}
	obj, err := get(ctx, spec.Name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading %s: %w", name, err)
	}
	jp := jsonpath.New("probe")
	jp.AllowMissingKeys(false)
	if err := jp.Parse(braced(spec.JSONPath)); err != nil {
		return fmt.Errorf("jsonPath %q: %w", spec.JSONPath, err)
	}
	var buf bytes.Buffer
	if err := jp.Execute(&buf, obj.Object); err != nil {
		o.Values = map[string]string{"value": ""}
		o.Status, o.Detail = steadystate.StatusFailed, fmt.Sprintf("%s: %s: %v", name, spec.JSONPath, err)
		return nil
	}
	v := buf.String()
	o.Values = map[string]string{"value": v}
	if spec.Equals == "" {
		o.Status, o.Detail = statusOf(v != ""), fmt.Sprintf("%s %s = %q", name, spec.JSONPath, v)
		return nil
	}
	o.Status = statusOf(v == spec.Equals)
	o.Detail = fmt.Sprintf("%s %s = %q, want %q", name, spec.JSONPath, v, spec.Equals)
	return nil
}

func statusOf(ok bool) steadystate.Status {
	if ok {
		return steadystate.StatusOK
	}
	return steadystate.StatusFailed
}
