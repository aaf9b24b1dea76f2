package chaosmesh

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/faultline-dev/faultline/injectors"
	"github.com/faultline-dev/faultline/internal/kube"
	"github.com/faultline-dev/faultline/internal/podtarget"
	"github.com/faultline-dev/faultline/internal/testenv/chaosmesh"
	"github.com/faultline-dev/faultline/internal/testenv/controlplane"
)

func ptr[T any](v T) *T { return &v }

// TestPlanOnARealAPIServer plans Chaos Mesh faults against a real control plane:
// without the CRDs the plan says Chaos Mesh is not installed; with them, every
// kind's object as Faultline builds it passes the API server's CRD validation
// (server-side dry run); the blast radius, "matched nothing" and RBAC are enforced
// before anything is created.
func TestPlanOnARealAPIServer(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the tests that start a Kubernetes control plane")
	}
	ctx := context.Background()
	cp, err := controlplane.Start(ctx, controlplane.Options{Nodes: 2, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cp.Stop(context.Background()) })
	admin, err := cp.Client()
	if err != nil {
		t.Fatal(err)
	}
	if err := controlplane.CreateNamespace(ctx, admin.Clientset, "shop"); err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{"app": "web"}
	_, err = admin.Clientset.AppsV1().Deployments("shop").Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"},
		Spec: appsv1.DeploymentSpec{Replicas: ptr[int32](4), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx"}}}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		list, err := admin.Clientset.CoreV1().Pods("shop").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		if err == nil && len(list.Items) == 4 && list.Items[0].Spec.NodeName != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("4 web pods did not appear")
		}
		time.Sleep(100 * time.Millisecond)
	}
	env := func(c *kube.Client, br injectors.BlastRadius) *injectors.Env {
		return &injectors.Env{RunID: "20261130t080000-abcdef", Kube: func() (*kube.Client, error) { return c, nil }, BlastRadius: br}
	}
	podKill := &Spec{Kind: "PodChaos", Spec: &v1alpha1.PodChaosSpec{Action: v1alpha1.PodKillAction,
		ContainerSelector: v1alpha1.ContainerSelector{PodSelector: v1alpha1.PodSelector{Mode: v1alpha1.FixedMode, Value: "2",
			Selector: v1alpha1.PodSelectorSpec{GenericSelectorSpec: v1alpha1.GenericSelectorSpec{Namespaces: []string{"shop"}, LabelSelectors: labels}}}}}}

	t.Run("no CRD: Chaos Mesh is not installed", func(t *testing.T) {
		f, _ := newFromSpec(podKill, env(admin, injectors.BlastRadius{}))
		_, err := f.Plan(ctx)
		if !errors.Is(err, ErrNotInstalled) || !strings.Contains(err.Error(), "Chaos Mesh is not installed in this cluster") {
			t.Fatalf("plan: %v", err)
		}
	})

	if err := chaosmesh.InstallCRDs(ctx, cp.RESTConfig()); err != nil {
		t.Fatal(err)
	}

	t.Run("every kind's object passes the API server's validation", func(t *testing.T) {
		sel := v1alpha1.PodSelector{Mode: v1alpha1.OneMode, Selector: v1alpha1.PodSelectorSpec{GenericSelectorSpec: v1alpha1.GenericSelectorSpec{LabelSelectors: labels}}}
		csel := v1alpha1.ContainerSelector{PodSelector: sel}
		load := 50
		specs := map[string]any{
			"PodChaos":     &v1alpha1.PodChaosSpec{Action: v1alpha1.PodFailureAction, ContainerSelector: csel},
			"StressChaos":  &v1alpha1.StressChaosSpec{ContainerSelector: csel, Stressors: &v1alpha1.Stressors{CPUStressor: &v1alpha1.CPUStressor{Stressor: v1alpha1.Stressor{Workers: 1}, Load: &load}}},
			"HTTPChaos":    &v1alpha1.HTTPChaosSpec{PodSelector: sel, Target: v1alpha1.PodHttpResponse, Port: 80, Path: ptr("/*"), PodHttpChaosActions: v1alpha1.PodHttpChaosActions{Abort: ptr(true)}},
			"IOChaos":      &v1alpha1.IOChaosSpec{ContainerSelector: csel, Action: v1alpha1.IoLatency, VolumePath: "/data", Delay: "10ms", Percent: 50},
			"TimeChaos":    &v1alpha1.TimeChaosSpec{ContainerSelector: csel, TimeOffset: "-10m"},
			"DNSChaos":     &v1alpha1.DNSChaosSpec{ContainerSelector: csel, Action: v1alpha1.ErrorAction, DomainNamePatterns: []string{"payments.*"}},
			"JVMChaos":     &v1alpha1.JVMChaosSpec{ContainerSelector: csel, Action: v1alpha1.JVMLatencyAction, JVMParameter: v1alpha1.JVMParameter{JVMClassMethodSpec: v1alpha1.JVMClassMethodSpec{Class: "Main", Method: "run"}, LatencyDuration: 100}},
			"NetworkChaos": &v1alpha1.NetworkChaosSpec{PodSelector: sel, Action: v1alpha1.DelayAction, TcParameter: v1alpha1.TcParameter{Delay: &v1alpha1.DelaySpec{Latency: "100ms"}}},
		}
		for _, kind := range Kinds {
			s := &Spec{Kind: kind, Namespace: "shop", Spec: specs[kind]}
			if errs := s.Validate(nil); len(errs) > 0 {
				t.Fatalf("%s: %v", kind, errs)
			}
			f, err := newFromSpec(s, env(admin, injectors.BlastRadius{}))
			if err != nil {
				t.Fatal(err)
			}
			f.Schedule(injectors.Schedule{Duration: 20 * time.Second, RevertTimeout: 10 * time.Second})
			pl, plan, err := f.makePlan(ctx)
			if err != nil {
				t.Fatalf("%s: %v", kind, err)
			}
			if len(plan.Targets) != 1 || plan.Matched != 4 {
				t.Fatalf("%s: plan %+v, want 1 of 4 pods", kind, plan)
			}
			u, err := toUnstructured(pl.obj)
			if err != nil {
				t.Fatal(err)
			}
			_, err = admin.Dynamic.Resource(f.kind.gvr()).Namespace("shop").Create(ctx, u, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
			if err != nil {
				t.Fatalf("%s: the API server refuses the object Faultline builds: %v", kind, err)
			}
			if d := durationOf(pl.obj); d != nil && (*d == nil || **d != "30s") {
				t.Fatalf("%s: Chaos Mesh duration %v, want 30s (fault duration + revertTimeout)", kind, *d)
			}
		}
	})

	t.Run("the plan pins the chosen pods", func(t *testing.T) {
		n, err := NewNetwork(Network{Key: "networkLatency", Pods: podtarget.Pods{Namespaces: []string{"shop"}, LabelSelector: "app=web", Mode: "fixed", Value: 3},
			Action: ActionDelay, Latency: 100 * time.Millisecond}, env(admin, injectors.BlastRadius{}))
		if err != nil {
			t.Fatal(err)
		}
		f := n.(*fault)
		pl, plan, err := f.makePlan(ctx)
		if err != nil {
			t.Fatal(err)
		}
		nc := pl.obj.(*v1alpha1.NetworkChaos)
		if nc.Spec.Mode != v1alpha1.AllMode || len(nc.Spec.Selector.Pods["shop"]) != 3 || len(plan.Targets) != 3 {
			t.Fatalf("selector not pinned to the 3 planned pods: %+v, targets %v", nc.Spec.PodSelector, plan.Targets)
		}
		for i, p := range nc.Spec.Selector.Pods["shop"] {
			if plan.Targets[i].Name != p {
				t.Fatalf("pinned %v, planned %v", nc.Spec.Selector.Pods, plan.Targets)
			}
		}
		if nc.Labels[LabelRunID] != "20261130t080000-abcdef" || nc.Annotations[AnnotationSource] != "labels app=web in shop" {
			t.Fatalf("labels %v annotations %v", nc.Labels, nc.Annotations)
		}
	})

	t.Run("blast radius and matched nothing, before anything is created", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			pods podtarget.Pods
			br   injectors.BlastRadius
			want error
			msg  string
		}{
			{"maxPods", podtarget.Pods{Namespaces: []string{"shop"}, LabelSelector: "app=web", Mode: "all"}, injectors.BlastRadius{MaxPods: 2}, ErrBlastRadius, "would hit 4 pods, more than maxPods 2"},
			{"maxPercent", podtarget.Pods{Namespaces: []string{"shop"}, LabelSelector: "app=web", Mode: "fixed", Value: 3}, injectors.BlastRadius{MaxPercent: 50}, ErrBlastRadius, "3 of 4 matched pods (75%)"},
			{"protected", podtarget.Pods{Namespaces: []string{"kube-system"}, LabelSelector: "app=web"}, injectors.BlastRadius{}, ErrBlastRadius, "namespace kube-system is protected"},
			{"empty selector", podtarget.Pods{Namespaces: []string{"shop"}}, injectors.BlastRadius{}, ErrBlastRadius, "set blastRadius.allowAll"},
			{"matched nothing", podtarget.Pods{Namespaces: []string{"shop"}, LabelSelector: "app=nope"}, injectors.BlastRadius{}, injectors.ErrNoTargets, "pods matching labels app=nope in shop"},
		} {
			n, err := NewNetwork(Network{Key: "networkLoss", Pods: tc.pods, Action: ActionLoss, Percent: 10}, env(admin, tc.br))
			if err != nil {
				t.Fatal(err)
			}
			_, err = n.Plan(ctx)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("%s: %v, want %v with %q", tc.name, err, tc.want, tc.msg)
			}
		}
	})

	t.Run("RBAC: a ServiceAccount without chaos-mesh.org permissions is refused by name", func(t *testing.T) {
		if err := controlplane.CreateNamespace(ctx, admin.Clientset, "chaos"); err != nil {
			t.Fatal(err)
		}
		cs := admin.Clientset
		if _, err := cs.CoreV1().ServiceAccounts("chaos").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "faultline"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := cs.RbacV1().Roles("shop").Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "pods"},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list"}}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := cs.RbacV1().RoleBindings("shop").Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "pods"},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "pods"},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "faultline", Namespace: "chaos"}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		tr, err := cs.CoreV1().ServiceAccounts("chaos").CreateToken(ctx, "faultline", &authenticationv1.TokenRequest{
			Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr[int64](3600)}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		rc := cp.RESTConfig()
		sa, err := kube.NewClientForConfig(&rest.Config{Host: rc.Host, BearerToken: tr.Status.Token, TLSClientConfig: rc.TLSClientConfig})
		if err != nil {
			t.Fatal(err)
		}
		f, _ := newFromSpec(podKill, env(sa, injectors.BlastRadius{}))
		_, err = f.Plan(ctx)
		if !errors.Is(err, kube.ErrMissingPermission) || !strings.Contains(err.Error(), "create podchaos.chaos-mesh.org in namespace shop") ||
			!strings.Contains(err.Error(), "system:serviceaccount:chaos:faultline") {
			t.Fatalf("plan as the ServiceAccount: %v", err)
		}
	})
}
