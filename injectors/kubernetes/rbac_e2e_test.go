package kubernetes_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	authenticationv1 "k8s.io/api/authentication/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"

	"github.com/faultline-dev/faultline/injectors"
	k8sfaults "github.com/faultline-dev/faultline/injectors/kubernetes"
	"github.com/faultline-dev/faultline/internal/kube"
	"github.com/faultline-dev/faultline/steadystate"
	"github.com/faultline-dev/faultline/steadystate/kubeprobe"
)

// The manifests shipped in deploy/rbac, applied as they are.
var rbacDir = filepath.Join("..", "..", "deploy", "rbac")

var _ = Describe("RBAC with the shipped least-privilege manifests", Ordered, func() {
	const ns = "shop" // the namespace rolebinding-example.yaml grants
	var sa *kube.Client

	BeforeAll(func(ctx SpecContext) {
		newNamespace(ctx, ns)
		for _, f := range []string{"serviceaccount.yaml", "clusterroles.yaml", "rolebinding-example.yaml"} {
			applyManifest(ctx, filepath.Join(rbacDir, f))
		}
		createDeployment(ctx, admin.Clientset, ns, "web", 3)
		eventuallyStatus(ctx, readyProbe(ns, "app=web"), steadystate.StatusOK, 30*time.Second)

		// A token for chaos/faultline, as a CronJob pod would have.
		tr, err := admin.Clientset.CoreV1().ServiceAccounts("chaos").CreateToken(ctx, "faultline",
			&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr[int64](3600)}}, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		cfg := &rest.Config{Host: restConfig.Host, BearerToken: tr.Status.Token, TLSClientConfig: restConfig.TLSClientConfig, QPS: 50, Burst: 100}
		sa, err = kube.NewClientForConfig(cfg)
		Expect(err).NotTo(HaveOccurred())
		Expect(kube.WhoAmI(ctx, sa.Clientset)).To(Equal("system:serviceaccount:chaos:faultline"))
	}, NodeTimeout(time.Minute))

	It("lets the ServiceAccount kill pods where it is bound", func(ctx SpecContext) {
		before := podUIDs(ctx, admin.Clientset, ns, "app=web")
		inj := newInjector("podKill", newEnv(sa, "run-rbac", injectors.BlastRadius{}), func(s any) {
			*s.(*k8sfaults.PodKillSpec) = k8sfaults.PodKillSpec{Namespaces: []string{ns}, LabelSelector: "app=web"}
		})
		in, err := inj.Inject(ctx, &memJournal{})
		Expect(err).NotTo(HaveOccurred())
		Expect(in.Proof).To(ContainSubstring("1 pod UIDs gone"))
		after := podUIDs(ctx, admin.Clientset, ns, "app=web")
		gone := 0
		for uid := range before {
			if _, ok := after[uid]; !ok {
				gone++
			}
		}
		Expect(gone).To(Equal(1))
	}, NodeTimeout(30*time.Second))

	It("lets it observe: the workload probe answers ok", func(ctx SpecContext) {
		p := kubeprobe.New(kubeprobe.Spec{Namespace: ns, Workload: &kubeprobe.WorkloadSpec{Name: "web"}}, probeEnv(sa))
		eventuallyStatus(ctx, p, steadystate.StatusOK, 30*time.Second)
	}, NodeTimeout(time.Minute))

	It("refuses a fault whose verb the role lacks, naming it, before anything is journaled or changed", func(ctx SpecContext) {
		inj := newInjector("deploymentScale", newEnv(sa, "run-rbac", injectors.BlastRadius{}), func(s any) {
			*s.(*k8sfaults.DeploymentScaleSpec) = k8sfaults.DeploymentScaleSpec{Namespace: ns, Name: "web"}
		})
		j := &memJournal{}
		_, err := inj.Inject(ctx, j)
		Expect(err).To(MatchError(kube.ErrMissingPermission))
		Expect(err.Error()).To(ContainSubstring(
			"missing permission: patch deployments.apps in namespace shop (as system:serviceaccount:chaos:faultline)"))
		Expect(j.len()).To(BeZero())
		d, err := admin.Clientset.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		Expect(err).NotTo(HaveOccurred())
		Expect(*d.Spec.Replicas).To(BeEquivalentTo(3))
		Expect(d.Annotations).NotTo(HaveKey(k8sfaults.AnnotationRunID))
	}, NodeTimeout(30*time.Second))

	It("refuses pod kills in a namespace it is not bound in", func(ctx SpecContext) {
		inj := newInjector("podKill", newEnv(sa, "run-rbac", injectors.BlastRadius{}), func(s any) {
			*s.(*k8sfaults.PodKillSpec) = k8sfaults.PodKillSpec{Namespaces: []string{"default"}, LabelSelector: "app=web"}
		})
		_, err := inj.Plan(ctx)
		Expect(err).To(MatchError(kube.ErrMissingPermission))
		Expect(err.Error()).To(ContainSubstring("missing permissions: list pods in namespace default; delete pods in namespace default"))
	}, NodeTimeout(30*time.Second))

	It("reports a probe it cannot ask as errored, not failed", func(ctx SpecContext) {
		p := kubeprobe.New(kubeprobe.Spec{Namespace: "default", Selector: "app=web", ReadyAtLeast: ptr[int32](1)}, probeEnv(sa))
		o := p.Probe(ctx)
		Expect(o.Status).To(Equal(steadystate.StatusErrored), o.Detail)
		Expect(o.Detail).To(ContainSubstring("forbidden"))
	}, NodeTimeout(30*time.Second))

	It("works for deploymentScale once faultline-workload-chaos is bound too", func(ctx SpecContext) {
		rb := &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "faultline-workload-chaos", Namespace: ns},
			RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "faultline-workload-chaos"},
			Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "faultline", Namespace: "chaos"}},
		}
		_, err := admin.Clientset.RbacV1().RoleBindings(ns).Create(ctx, rb, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		inj := newInjector("deploymentScale", newEnv(sa, "run-rbac2", injectors.BlastRadius{}), func(s any) {
			*s.(*k8sfaults.DeploymentScaleSpec) = k8sfaults.DeploymentScaleSpec{Namespace: ns, Name: "web", Replicas: 1}
		})
		// The API server's RBAC authorizer learns of a new binding through its informer:
		// wait until the plan's permission check sees it, as a user re-running would.
		Eventually(ctx, func() error { _, err := inj.Plan(ctx); return err }).WithTimeout(10 * time.Second).Should(Succeed())
		in, err := inj.Inject(ctx, &memJournal{})
		Expect(err).NotTo(HaveOccurred())
		Expect(in.Revert(ctx)).To(Succeed())
		d, err := admin.Clientset.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		Expect(err).NotTo(HaveOccurred())
		Expect(*d.Spec.Replicas).To(BeEquivalentTo(3))
	}, NodeTimeout(time.Minute))
})

var _ = Describe("the kubernetes probe", func() {
	It("compares an object's field by JSONPath and fails on a missing object", func(ctx SpecContext) {
		ok := kubeprobe.New(kubeprobe.Spec{Object: &kubeprobe.ObjectSpec{APIVersion: "v1", Kind: "Namespace", Name: "default",
			JSONPath: ".status.phase", Equals: "Active"}}, probeEnv(admin))
		o := ok.Probe(ctx)
		Expect(o.Status).To(Equal(steadystate.StatusOK), o.Detail)
		Expect(o.Values).To(HaveKeyWithValue("value", "Active"))

		wrong := kubeprobe.New(kubeprobe.Spec{Object: &kubeprobe.ObjectSpec{APIVersion: "v1", Kind: "Namespace", Name: "default",
			JSONPath: "{.status.phase}", Equals: "Terminating"}}, probeEnv(admin))
		Expect(wrong.Probe(ctx).Status).To(Equal(steadystate.StatusFailed))

		missing := kubeprobe.New(kubeprobe.Spec{Namespace: "default", Workload: &kubeprobe.WorkloadSpec{Name: "nosuch"}}, probeEnv(admin))
		o = missing.Probe(ctx)
		Expect(o.Status).To(Equal(steadystate.StatusFailed), o.Detail)
		Expect(o.Detail).To(ContainSubstring("not found"))
	}, NodeTimeout(30*time.Second))

	It("is errored when the API server cannot be reached", func(ctx SpecContext) {
		dead, err := kube.NewClientForConfig(&rest.Config{Host: "https://127.0.0.1:1", TLSClientConfig: rest.TLSClientConfig{Insecure: true}})
		Expect(err).NotTo(HaveOccurred())
		p := kubeprobe.New(kubeprobe.Spec{Selector: "app=web", ReadyAtLeast: ptr[int32](1), Timeout: time.Second}, probeEnv(dead))
		o := p.Probe(ctx)
		Expect(o.Status).To(Equal(steadystate.StatusErrored), o.Detail)
		Expect(o.Time).NotTo(BeZero())
	}, NodeTimeout(30*time.Second))
})

// applyManifest creates every object of a multi-document YAML file (already
// existing is fine), for the kinds the shipped manifests use.
func applyManifest(ctx context.Context, path string) {
	b, err := os.ReadFile(path)
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	resources := map[string]schema.GroupVersionResource{
		"Namespace":      {Version: "v1", Resource: "namespaces"},
		"ServiceAccount": {Version: "v1", Resource: "serviceaccounts"},
		"ClusterRole":    {Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterroles"},
		"RoleBinding":    {Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "rolebindings"},
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	for {
		var obj unstructured.Unstructured
		if err := dec.Decode(&obj.Object); errors.Is(err, io.EOF) {
			return
		} else {
			ExpectWithOffset(1, err).NotTo(HaveOccurred())
		}
		if len(obj.Object) == 0 {
			continue
		}
		gvr, ok := resources[obj.GetKind()]
		ExpectWithOffset(1, ok).To(BeTrue(), "kind %s in %s", obj.GetKind(), path)
		var err error
		if obj.GetNamespace() != "" {
			_, err = admin.Dynamic.Resource(gvr).Namespace(obj.GetNamespace()).Create(ctx, &obj, metav1.CreateOptions{})
		} else {
			_, err = admin.Dynamic.Resource(gvr).Create(ctx, &obj, metav1.CreateOptions{})
		}
		if !apierrors.IsAlreadyExists(err) {
			ExpectWithOffset(1, err).NotTo(HaveOccurred(), "%s %s", obj.GetKind(), obj.GetName())
		}
	}
}
