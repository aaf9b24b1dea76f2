package chaosmesh

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"

	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"github.com/faultline-dev/faultline/injectors"
	"github.com/faultline-dev/faultline/internal/kube"
	"github.com/faultline-dev/faultline/internal/podtarget"
)

// podRef is one selected pod.
type podRef struct {
	Namespace string    `json:"namespace"`
	Name      string    `json:"name"`
	UID       types.UID `json:"uid"`
	Node      string    `json:"node,omitempty"`
}

func (p podRef) key() string { return p.Namespace + "/" + p.Name }

// fromPods turns Faultline's pod vocabulary into a Chaos Mesh selector. The label
// selector keeps kubectl's syntax: it becomes expression selectors.
func fromPods(p *podtarget.Pods) (v1alpha1.PodSelector, error) {
	sel := v1alpha1.PodSelector{Selector: v1alpha1.PodSelectorSpec{GenericSelectorSpec: v1alpha1.GenericSelectorSpec{
		Namespaces: p.NamespaceList(),
	}}}
	if p.LabelSelector != "" {
		ls, err := metav1.ParseToLabelSelector(p.LabelSelector)
		if err != nil {
			return sel, fmt.Errorf("labelSelector: %w", err)
		}
		sel.Selector.LabelSelectors = ls.MatchLabels
		sel.Selector.ExpressionSelectors = ls.MatchExpressions
	}
	if p.FieldSelector != "" {
		fs, err := fields.ParseSelector(p.FieldSelector)
		if err != nil {
			return sel, fmt.Errorf("fieldSelector: %w", err)
		}
		sel.Selector.FieldSelectors = map[string]string{}
		for _, r := range fs.Requirements() {
			if r.Operator != "=" && r.Operator != "==" {
				return sel, fmt.Errorf("fieldSelector: only = is supported with Chaos Mesh, got %s", r.Operator)
			}
			sel.Selector.FieldSelectors[r.Field] = r.Value
		}
	}
	switch p.Mode {
	case "", podtarget.ModeOne:
		sel.Mode = v1alpha1.OneMode
	case podtarget.ModeAll:
		sel.Mode = v1alpha1.AllMode
	case podtarget.ModeFixed:
		sel.Mode = v1alpha1.FixedMode
	case podtarget.ModeFixedPercent:
		sel.Mode = v1alpha1.FixedPercentMode
	case podtarget.ModeRandomMaxPercent:
		sel.Mode = v1alpha1.RandomMaxPercentMode
	}
	if p.Value != 0 {
		sel.Value = fmt.Sprint(p.Value)
	}
	return sel, nil
}

// emptySelector reports whether s selects every pod of its namespaces.
func emptySelector(s *v1alpha1.PodSelectorSpec) bool {
	return len(s.LabelSelectors) == 0 && len(s.ExpressionSelectors) == 0 && len(s.FieldSelectors) == 0 &&
		len(s.AnnotationSelectors) == 0 && len(s.Pods) == 0 && len(s.Nodes) == 0 && len(s.NodeSelectors) == 0
}

// describe reads as in a plan: "labels app=web in shop".
func describe(s *v1alpha1.PodSelectorSpec) string {
	var parts []string
	if len(s.Pods) > 0 {
		var names []string
		for ns, ps := range s.Pods {
			for _, p := range ps {
				names = append(names, ns+"/"+p)
			}
		}
		sort.Strings(names)
		return "pods " + strings.Join(names, ", ")
	}
	if sel, err := labelSelector(s); err == nil && !sel.Empty() {
		parts = append(parts, "labels "+sel.String())
	}
	if len(s.FieldSelectors) > 0 {
		parts = append(parts, "fields "+fields.SelectorFromSet(s.FieldSelectors).String())
	}
	if len(s.AnnotationSelectors) > 0 {
		parts = append(parts, "annotations "+labels.SelectorFromSet(s.AnnotationSelectors).String())
	}
	if len(s.Nodes) > 0 {
		parts = append(parts, "on nodes "+strings.Join(s.Nodes, ", "))
	}
	if len(s.NodeSelectors) > 0 {
		parts = append(parts, "on nodes labelled "+labels.SelectorFromSet(s.NodeSelectors).String())
	}
	if len(s.PodPhaseSelectors) > 0 {
		parts = append(parts, "in phase "+strings.Join(s.PodPhaseSelectors, ", "))
	}
	if len(parts) == 0 {
		parts = append(parts, "(empty selector)")
	}
	return strings.Join(parts, ", ") + " in " + strings.Join(s.Namespaces, ", ")
}

func labelSelector(s *v1alpha1.PodSelectorSpec) (labels.Selector, error) {
	return metav1.LabelSelectorAsSelector(&metav1.LabelSelector{MatchLabels: s.LabelSelectors, MatchExpressions: s.ExpressionSelectors})
}

// permissions are what resolving s needs.
func permissions(s *v1alpha1.PodSelectorSpec) []kube.Permission {
	var perms []kube.Permission
	nss := s.Namespaces
	if len(s.Pods) > 0 {
		nss = nil
		for ns := range s.Pods {
			nss = append(nss, ns)
		}
		sort.Strings(nss)
	}
	for _, ns := range nss {
		perms = append(perms, kube.Permission{Verb: "list", Resource: "pods", Namespace: ns})
	}
	if len(s.NodeSelectors) > 0 {
		perms = append(perms, kube.Permission{Verb: "list", Resource: "nodes"})
	}
	return perms
}

// resolve lists the pods s matches, as Chaos Mesh's selector would: not
// terminating, not finished.
func resolve(ctx context.Context, c *kube.Client, s *v1alpha1.PodSelectorSpec) ([]podRef, error) {
	var out []podRef
	keep := func(p *corev1.Pod) bool {
		return p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed
	}
	if len(s.Pods) > 0 {
		for ns, names := range s.Pods {
			for _, n := range names {
				p, err := c.Clientset.CoreV1().Pods(ns).Get(ctx, n, metav1.GetOptions{})
				if apierrors.IsNotFound(err) {
					continue
				}
				if err != nil {
					return nil, fmt.Errorf("getting pod %s/%s: %w", ns, n, err)
				}
				if keep(p) {
					out = append(out, podRef{Namespace: ns, Name: n, UID: p.UID, Node: p.Spec.NodeName})
				}
			}
		}
		return sortPods(out), nil
	}
	ls, err := labelSelector(s)
	if err != nil {
		return nil, fmt.Errorf("label selector: %w", err)
	}
	var nodes map[string]bool
	if len(s.NodeSelectors) > 0 {
		list, err := c.Clientset.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(s.NodeSelectors).String()})
		if err != nil {
			return nil, fmt.Errorf("listing nodes: %w", err)
		}
		nodes = map[string]bool{}
		for _, n := range list.Items {
			nodes[n.Name] = true
		}
	}
	opts := metav1.ListOptions{LabelSelector: ls.String(), FieldSelector: fields.SelectorFromSet(s.FieldSelectors).String()}
	for _, ns := range s.Namespaces {
		list, err := c.Clientset.CoreV1().Pods(ns).List(ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("listing pods in %s: %w", ns, err)
		}
		for i := range list.Items {
			p := &list.Items[i]
			if !keep(p) || !annotationsMatch(p.Annotations, s.AnnotationSelectors) ||
				(len(s.PodPhaseSelectors) > 0 && !slices.Contains(s.PodPhaseSelectors, string(p.Status.Phase))) ||
				(len(s.Nodes) > 0 && !slices.Contains(s.Nodes, p.Spec.NodeName)) ||
				(nodes != nil && !nodes[p.Spec.NodeName]) {
				continue
			}
			out = append(out, podRef{Namespace: p.Namespace, Name: p.Name, UID: p.UID, Node: p.Spec.NodeName})
		}
	}
	return sortPods(out), nil
}

func annotationsMatch(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

func sortPods(p []podRef) []podRef {
	slices.SortFunc(p, func(a, b podRef) int { return strings.Compare(a.key(), b.key()) })
	return p
}

// choose picks pods from matched by Chaos Mesh's mode and value.
func choose(matched []podRef, mode v1alpha1.SelectorMode, value string) []podRef {
	n := len(matched)
	v := selectorValue(value)
	count := 1
	switch mode {
	case v1alpha1.AllMode:
		count = n
	case v1alpha1.FixedMode:
		count = v
	case v1alpha1.FixedPercentMode:
		count = max(1, n*v/100)
	case v1alpha1.RandomMaxPercentMode:
		count = 1 + rand.IntN(max(1, n*v/100))
	}
	count = min(count, n)
	pick := slices.Clone(matched)
	rand.Shuffle(len(pick), func(i, j int) { pick[i], pick[j] = pick[j], pick[i] })
	return sortPods(pick[:count])
}

// pin makes sel name exactly pods, so Chaos Mesh hits what the plan chose.
func pin(sel *v1alpha1.PodSelector, pods []podRef) {
	m := map[string][]string{}
	for _, p := range pods {
		m[p.Namespace] = append(m[p.Namespace], p.Name)
	}
	sel.Selector = v1alpha1.PodSelectorSpec{Pods: m}
	sel.Mode, sel.Value = v1alpha1.AllMode, ""
}

// checkNamespace refuses a protected namespace.
func checkNamespace(b injectors.BlastRadius, ns string) error {
	prot := slices.Clone(DefaultProtectedNamespaces)
	for _, n := range b.ProtectedNamespaces {
		if !slices.Contains(prot, n) {
			prot = append(prot, n)
		}
	}
	if slices.Contains(prot, ns) {
		return fmt.Errorf("%w: namespace %s is protected (protected: %s)", ErrBlastRadius, ns, strings.Join(prot, ", "))
	}
	return nil
}

// checkCount refuses hitting n of matched pods over maxPods or maxPercent.
func checkCount(b injectors.BlastRadius, n, matched int) error {
	if b.MaxPods > 0 && n > b.MaxPods {
		return fmt.Errorf("%w: would hit %d pods, more than maxPods %d", ErrBlastRadius, n, b.MaxPods)
	}
	if b.MaxPercent > 0 && matched > 0 && n*100 > b.MaxPercent*matched {
		return fmt.Errorf("%w: would hit %d of %d matched pods (%d%%), more than maxPercent %d%%",
			ErrBlastRadius, n, matched, n*100/matched, b.MaxPercent)
	}
	return nil
}

func podNames(pods []podRef, n int) string {
	var names []string
	for i, p := range pods {
		if i == n {
			names = append(names, fmt.Sprintf("and %d more", len(pods)-n))
			break
		}
		names = append(names, p.key())
	}
	return strings.Join(names, ", ")
}
