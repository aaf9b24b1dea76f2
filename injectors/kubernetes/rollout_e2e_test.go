package kubernetes_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/faultline-dev/faultline/injectors"
	k8sfaults "github.com/faultline-dev/faultline/injectors/kubernetes"
	"github.com/faultline-dev/faultline/steadystate"
	"github.com/faultline-dev/faultline/steadystate/kubeprobe"
	"github.com/faultline-dev/faultline/steadystate/rollback"
)

var _ = Describe("badRollout and the rollback assertion", Ordered, func() {
	const ns, name = "rollout", "api"
	var probe *kubeprobe.Probe
	var good steadystate.Observation

	BeforeAll(func(ctx SpecContext) {
		newNamespace(ctx, ns)
		createDeployment(ctx, admin.Clientset, ns, name, 4)
		probe = kubeprobe.New(kubeprobe.Spec{Namespace: ns, Workload: &kubeprobe.WorkloadSpec{Name: name}}, probeEnv(admin))
		good = eventuallyStatus(ctx, probe, steadystate.StatusOK, 30*time.Second)
		Expect(good.Values).To(HaveKey("templateHash"))
		Expect(good.Values["templateHash"]).NotTo(BeEmpty())
		Expect(good.Values).To(HaveKeyWithValue("revision", "1"))
	}, NodeTimeout(time.Minute))

	// experiment drives one bad rollout like the runner: baseline samples, inject,
	// observe while during runs, revert, and returns the timeline and the revert error.
	experiment := func(ctx context.Context, during func(ctx context.Context, s *sampler, faultStart time.Time)) (*steadystate.Timeline, injectors.Injection) {
		s := startSampler(probe, 20*time.Millisecond)
		baselineStart := time.Now()
		Eventually(ctx, s.snapshot).WithTimeout(5 * time.Second).Should(ContainElement(HaveField("Status", steadystate.StatusOK)))
		inj := newInjector("badRollout", newEnv(admin, "run-rollout", injectors.BlastRadius{}), func(sp any) {
			*sp.(*k8sfaults.BadRolloutSpec) = k8sfaults.BadRolloutSpec{Namespace: ns, Name: name}
		})
		j := &memJournal{}
		injectStart := time.Now()
		in, err := inj.Inject(ctx, j)
		Expect(err).NotTo(HaveOccurred())
		faultStart := time.Now()
		GinkgoWriter.Println("proof:", in.Proof)
		Expect(string(j.last())).To(ContainSubstring(`"originalTemplate"`))
		d, err := admin.Clientset.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		Expect(err).NotTo(HaveOccurred())
		Expect(d.Spec.Template.Spec.Containers[0].Image).To(Equal(k8sfaults.DefaultBadImage))
		Expect(d.Annotations).To(HaveKey(k8sfaults.AnnotationOriginalTemplate))

		during(ctx, s, faultStart)

		revertStart := time.Now()
		Expect(in.Revert(ctx)).To(Succeed())
		revertEnd := time.Now()
		obs := s.stop()
		return &steadystate.Timeline{
			Phases: []steadystate.Window{
				{Name: "baseline", Start: baselineStart, End: injectStart},
				{Name: "inject", Start: injectStart, End: faultStart},
				{Name: "revert", Start: revertStart, End: revertEnd},
			},
			Faults:       []steadystate.Window{{Name: "bad-rollout", Start: faultStart, End: revertEnd}},
			Observations: map[string][]steadystate.Observation{"api": obs},
		}, in
	}

	It("passes when the platform rolls back (a watcher doing `rollout undo`); revert then leaves it alone", func(ctx SpecContext) {
		tl, _ := experiment(ctx, func(ctx context.Context, s *sampler, faultStart time.Time) {
			// The bad rollout is really not becoming ready (kwok: ImagePullBackOff).
			o := eventuallyStatus(ctx, probe, steadystate.StatusFailed, 10*time.Second)
			Expect(o.Values["templateHash"]).NotTo(Equal(good.Values["templateHash"]))
			// The platform's automated rollback, played by a watcher.
			undone := make(chan error, 1)
			go func() { undone <- rolloutUndoWhenStuck(ctx, admin.Clientset, ns, name, 500*time.Millisecond) }()
			Eventually(ctx, undone).WithTimeout(20 * time.Second).Should(Receive(Not(HaveOccurred())))
			o = eventuallyStatus(ctx, probe, steadystate.StatusOK, 20*time.Second)
			Expect(o.Values["templateHash"]).To(Equal(good.Values["templateHash"]))
			// The fault lasts until the sampled series has seen the recovery too.
			Eventually(ctx, s.snapshot).WithTimeout(5 * time.Second).Should(ContainElement(And(
				HaveField("Status", steadystate.StatusOK), HaveField("Time", BeTemporally(">", faultStart)))))
		})
		d, err := admin.Clientset.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		Expect(err).NotTo(HaveOccurred())
		Expect(d.Annotations).NotTo(HaveKey(k8sfaults.AnnotationRunID))
		Expect(d.Annotations).NotTo(HaveKey(k8sfaults.AnnotationOriginalTemplate))
		Expect(d.Spec.Template.Spec.Containers[0].Image).NotTo(Equal(k8sfaults.DefaultBadImage))

		c := (&rollback.Assertion{Spec: rollback.Spec{Probe: "api", Within: 20 * time.Second}}).Check(tl)
		GinkgoWriter.Printf("check: %+v\n", c)
		Expect(c.Status).To(Equal(steadystate.CheckPassed), c.Reason)
		Expect(c.Measured).To(ContainSubstring("rolled back after"))
		Expect(c.Details["revisions seen"]).To(MatchRegexp(`revision 1 \(\w+\) at .*; revision 2 \(\w+\) at .*; revision 3 \(\w+\) at `))
		AddReportEntry("rollback", c.Measured)
	}, NodeTimeout(2*time.Minute))

	It("fails when nothing rolls back; revert restores the original template", func(ctx SpecContext) {
		good = eventuallyStatus(ctx, probe, steadystate.StatusOK, 30*time.Second)
		tl, _ := experiment(ctx, func(ctx context.Context, _ *sampler, faultStart time.Time) {
			Consistently(ctx, func() steadystate.Status { return probe.Probe(ctx).Status }).
				WithTimeout(2500 * time.Millisecond).WithPolling(100 * time.Millisecond).Should(Equal(steadystate.StatusFailed))
		})
		c := (&rollback.Assertion{Spec: rollback.Spec{Probe: "api", Within: 2 * time.Second}}).Check(tl)
		GinkgoWriter.Printf("check: %+v\n", c)
		Expect(c.Status).To(Equal(steadystate.CheckFailed), c.Measured)
		Expect(c.Reason).To(ContainSubstring("not back on the known-good templateHash " + good.Values["templateHash"]))
		// Our revert put the known-good template back.
		o := eventuallyStatus(ctx, probe, steadystate.StatusOK, 30*time.Second)
		Expect(o.Values["templateHash"]).To(Equal(good.Values["templateHash"]))
		d, err := admin.Clientset.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		Expect(err).NotTo(HaveOccurred())
		Expect(d.Annotations).NotTo(HaveKey(k8sfaults.AnnotationRunID))
	}, NodeTimeout(2*time.Minute))

	It("Recover restores the template from the journal alone", func(ctx SpecContext) {
		inj := newInjector("badRollout", newEnv(admin, "run-crashed", injectors.BlastRadius{}), func(sp any) {
			*sp.(*k8sfaults.BadRolloutSpec) = k8sfaults.BadRolloutSpec{Namespace: ns, Name: name, Image: "registry.invalid/broken:1", Command: []string{"/bin/false"}}
		})
		j := &memJournal{}
		_, err := inj.Inject(ctx, j) // the Revert is dropped, as by a killed runner
		Expect(err).NotTo(HaveOccurred())
		eventuallyStatus(ctx, probe, steadystate.StatusFailed, 10*time.Second)
		Expect(definition("badRollout").Recover(ctx, newEnv(admin, "recover", injectors.BlastRadius{}), j.last())).To(Succeed())
		d, err := admin.Clientset.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		Expect(err).NotTo(HaveOccurred())
		Expect(d.Spec.Template.Spec.Containers[0].Command).To(BeEmpty())
		Expect(d.Spec.Template.Spec.Containers[0].Image).To(Equal("registry.k8s.io/pause:3.10"))
		Expect(d.Annotations).NotTo(HaveKey(k8sfaults.AnnotationRunID))
	}, NodeTimeout(time.Minute))
})

// rolloutUndoWhenStuck plays the platform's automated rollback: it watches the
// Deployment and, once its rollout has had unavailable updated pods for stuckFor,
// does what `kubectl rollout undo` does: patch the template of the previous
// revision's ReplicaSet (minus its pod-template-hash label) back into the Deployment.
func rolloutUndoWhenStuck(ctx context.Context, cs kubernetes.Interface, ns, name string, stuckFor time.Duration) error {
	var since time.Time
	for {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		want := *d.Spec.Replicas
		stuck := d.Status.ObservedGeneration >= d.Generation &&
			(d.Status.UpdatedReplicas < want || d.Status.AvailableReplicas < want || d.Status.Replicas > want)
		switch {
		case !stuck:
			since = time.Time{}
		case since.IsZero():
			since = time.Now()
		case time.Since(since) >= stuckFor:
			return rolloutUndo(ctx, cs, d)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func rolloutUndo(ctx context.Context, cs kubernetes.Interface, d *appsv1.Deployment) error {
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return err
	}
	list, err := cs.AppsV1().ReplicaSets(d.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return err
	}
	cur, _ := strconv.Atoi(d.Annotations["deployment.kubernetes.io/revision"])
	var prev *appsv1.ReplicaSet
	best := 0
	for i := range list.Items {
		rs := &list.Items[i]
		rev, _ := strconv.Atoi(rs.Annotations["deployment.kubernetes.io/revision"])
		if metav1.IsControlledBy(rs, d) && rev < cur && rev > best {
			prev, best = rs, rev
		}
	}
	if prev == nil {
		return fmt.Errorf("no previous revision of deployment %s/%s", d.Namespace, d.Name)
	}
	tmpl := prev.Spec.Template.DeepCopy()
	delete(tmpl.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	patch, _ := json.Marshal([]map[string]any{{"op": "replace", "path": "/spec/template", "value": tmpl}})
	_, err = cs.AppsV1().Deployments(d.Namespace).Patch(ctx, d.Name, types.JSONPatchType, patch, metav1.PatchOptions{})
	return err
}
