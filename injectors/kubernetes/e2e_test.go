package kubernetes_test

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/faultline-dev/faultline/injectors"
	k8sfaults "github.com/faultline-dev/faultline/injectors/kubernetes"
	"github.com/faultline-dev/faultline/internal/kube"
	"github.com/faultline-dev/faultline/internal/testenv/controlplane"
	"github.com/faultline-dev/faultline/steadystate"
	"github.com/faultline-dev/faultline/steadystate/kubeprobe"
	"github.com/faultline-dev/faultline/steadystate/selfhealing"
)

// One real control plane for the whole package: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler and kwok (3 fake nodes). Under
// `ginkgo -p` the first process starts it and the others share its kubeconfig.
var (
	cp         *controlplane.ControlPlane // only on the process that started it
	kubeconfig string
	restConfig *rest.Config
	admin      *kube.Client
)

func logf(format string, args ...any) { GinkgoWriter.Printf(format+"\n", args...) }

// TestMain doubles as the "runner" process killed with SIGKILL in the recover
// spec: with FAULTLINE_E2E_SCALE_HELPER set it injects deploymentScale and blocks.
func TestMain(m *testing.M) {
	if os.Getenv("FAULTLINE_E2E_SCALE_HELPER") != "" {
		os.Exit(scaleHelper())
	}
	os.Exit(m.Run())
}

func TestE2E(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Kubernetes faults on a real control plane")
}

var _ = SynchronizedBeforeSuite(func(ctx SpecContext) []byte {
	if testing.Short() {
		Skip("-short: skipping the specs that start a Kubernetes control plane")
	}
	var err error
	// Builds the binaries on first use (several minutes cold, cached afterwards).
	cp, err = controlplane.Start(ctx, controlplane.Options{Nodes: 3, PodReadyDelay: 300 * time.Millisecond, Logf: logf})
	Expect(err).NotTo(HaveOccurred())
	// Ginkgo runs cleanups on failures, panics, SIGINT and SIGTERM; on SIGKILL of
	// this process the components die by Pdeathsig.
	DeferCleanup(func(ctx SpecContext) { Expect(cp.Stop(ctx)).To(Succeed()) }, NodeTimeout(time.Minute))
	return []byte(cp.Kubeconfig)
}, func(ctx SpecContext, data []byte) {
	kubeconfig = string(data)
	var err error
	restConfig, err = clientcmd.BuildConfigFromFlags("", kubeconfig)
	Expect(err).NotTo(HaveOccurred())
	admin, err = kube.NewClient(kube.Target{Kubeconfig: kubeconfig})
	Expect(err).NotTo(HaveOccurred())
}, NodeTimeout(20*time.Minute))

var _ = SynchronizedAfterSuite(func() {}, func(ctx SpecContext) {
	if cp != nil {
		Expect(cp.Stop(ctx)).To(Succeed()) // idempotent with the DeferCleanup above
	}
}, NodeTimeout(time.Minute))

// newNamespace creates a namespace for one container and deletes it afterwards.
func newNamespace(ctx context.Context, name string) {
	Expect(controlplane.CreateNamespace(ctx, admin.Clientset, name)).To(Succeed())
	DeferCleanup(func(ctx SpecContext) {
		_ = admin.Clientset.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{})
	})
}

func readyProbe(ns, selector string) *kubeprobe.Probe {
	return kubeprobe.New(kubeprobe.Spec{Namespace: ns, Selector: selector, ReadyEqualsDesired: true}, probeEnv(admin))
}

var _ = Describe("podKill", Ordered, func() {
	const ns = "podkill"
	var probe *kubeprobe.Probe

	BeforeAll(func(ctx SpecContext) {
		newNamespace(ctx, ns)
		createDeployment(ctx, admin.Clientset, ns, "web", 5)
		probe = readyProbe(ns, "app=web")
		o := eventuallyStatus(ctx, probe, steadystate.StatusOK, 30*time.Second) // steady before injecting
		Expect(o.Values).To(HaveKeyWithValue("ready", "5"))
	}, NodeTimeout(time.Minute))

	It("deletes exactly the planned pods, proves their UIDs gone, and the Deployment heals", func(ctx SpecContext) {
		before := podUIDs(ctx, admin.Clientset, ns, "app=web")
		Expect(before).To(HaveLen(5))
		inj := newInjector("podKill", newEnv(admin, "run-podkill", injectors.BlastRadius{}), func(s any) {
			*s.(*k8sfaults.PodKillSpec) = k8sfaults.PodKillSpec{Namespaces: []string{ns}, LabelSelector: "app=web", Mode: k8sfaults.ModeFixed, Value: 2}
		})
		plan, err := inj.Plan(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(plan.Targets).To(HaveLen(2))
		Expect(plan.Matched).To(Equal(5))
		Expect(plan.Revert).To(ContainSubstring("nothing to revert"))

		s := startSampler(probe, 10*time.Millisecond) // pods become Ready 300 ms after scheduling
		Eventually(ctx, s.snapshot).Should(ContainElement(HaveField("Status", steadystate.StatusOK)))
		j := &memJournal{}
		start := time.Now()
		in, err := inj.Inject(ctx, j)
		Expect(err).NotTo(HaveOccurred())
		injected := time.Now() // the runner's fault window starts when Inject proved the fault
		GinkgoWriter.Println("proof:", in.Proof)

		// The journal holds the UIDs of exactly the planned pods.
		Expect(j.len()).To(Equal(1))
		for _, t := range plan.Targets {
			Expect(string(j.last())).To(ContainSubstring(strings.TrimPrefix(t.Detail, "uid ")))
		}
		// Killed pods are really gone: none of their UIDs is listed; the others remain.
		after := podUIDs(ctx, admin.Clientset, ns, "app=web")
		for _, t := range plan.Targets {
			uid := strings.TrimPrefix(t.Detail, "uid ")
			Expect(before).To(HaveKey(BeEquivalentTo(uid)))
			Expect(after).NotTo(HaveKey(BeEquivalentTo(uid)))
		}
		// The ReplicaSet controller heals: the probe sees 5/5 ready again.
		Eventually(ctx, func() steadystate.Status { return probe.Probe(ctx).Status }).
			WithTimeout(30 * time.Second).WithPolling(50 * time.Millisecond).Should(Equal(steadystate.StatusOK))
		healed := time.Since(start)
		// Let the series show the healed state for a while, as the recovery phase does.
		Eventually(ctx, func() int { return len(s.snapshot()) }).Should(BeNumerically(">=", len(s.snapshot())+5))
		Expect(in.Revert(ctx)).To(Succeed()) // nothing to revert, idempotent
		reverted := time.Now()
		obs := s.stop()
		Expect(obs).To(ContainElement(HaveField("Status", steadystate.StatusFailed)), "the probe must have seen the deficit")
		AddReportEntry("podKill 2/5: ready again after", healed.String())

		// selfHealing over the probe series, with the runner's fault window. (Without
		// the control plane's PodReadyDelay kwok heals 2 pods in tens of milliseconds,
		// often before Inject's UID-gone proof returns: no disruption would be seen.)
		tl := &steadystate.Timeline{
			Faults:       []steadystate.Window{{Name: "kill", Start: injected, End: reverted}},
			Observations: map[string][]steadystate.Observation{"web": obs},
		}
		heal := selfhealing.New(&selfhealing.Spec{Probe: "web", RecoversWithin: 30 * time.Second}).Check(tl)
		GinkgoWriter.Printf("selfHealing: %+v\n", heal)
		Expect(heal.Status).To(Equal(steadystate.CheckPassed), heal.Reason)
		Expect(heal.Details).NotTo(HaveKeyWithValue("disrupted", "false"), "the probe must see the deficit after the fault started")
		AddReportEntry("selfHealing", heal.Measured)
		tight := selfhealing.New(&selfhealing.Spec{Probe: "web", RecoversWithin: time.Millisecond}).Check(tl)
		Expect(tight.Status).To(Equal(steadystate.CheckFailed), "recoversWithin 1ms must fail: %+v", tight)
		Expect(podUIDs(ctx, admin.Clientset, ns, "app=web")).To(HaveLen(5))
	}, NodeTimeout(time.Minute))

	It("mode all hits every matching pod and only those", func(ctx SpecContext) {
		createDeployment(ctx, admin.Clientset, ns, "other", 2)
		eventuallyStatus(ctx, readyProbe(ns, "app=other"), steadystate.StatusOK, 30*time.Second)
		others := podUIDs(ctx, admin.Clientset, ns, "app=other")
		before := podUIDs(ctx, admin.Clientset, ns, "app=web")
		inj := newInjector("podKill", newEnv(admin, "run-all", injectors.BlastRadius{}), func(s any) {
			*s.(*k8sfaults.PodKillSpec) = k8sfaults.PodKillSpec{Namespaces: []string{ns}, LabelSelector: "app=web", Mode: k8sfaults.ModeAll}
		})
		_, err := inj.Inject(ctx, &memJournal{}) // no explicit Plan: Inject plans itself
		Expect(err).NotTo(HaveOccurred())
		after := podUIDs(ctx, admin.Clientset, ns, "app=web")
		for uid := range before {
			Expect(after).NotTo(HaveKey(uid))
		}
		Expect(podUIDs(ctx, admin.Clientset, ns, "app=other")).To(Equal(others))
		eventuallyStatus(ctx, probe, steadystate.StatusOK, 30*time.Second)
	}, NodeTimeout(time.Minute))

	It("refuses a selector that matches nothing, naming the selector", func(ctx SpecContext) {
		inj := newInjector("podKill", newEnv(admin, "run-none", injectors.BlastRadius{}), func(s any) {
			*s.(*k8sfaults.PodKillSpec) = k8sfaults.PodKillSpec{Namespaces: []string{ns}, LabelSelector: "app=nosuch"}
		})
		j := &memJournal{}
		_, err := inj.Inject(ctx, j)
		Expect(err).To(MatchError(injectors.ErrNoTargets))
		Expect(err.Error()).To(ContainSubstring("app=nosuch"))
		Expect(j.len()).To(BeZero())
	}, NodeTimeout(30*time.Second))

	DescribeTable("blast radius refusals, before anything is touched",
		func(ctx SpecContext, spec k8sfaults.PodKillSpec, br injectors.BlastRadius, want string) {
			before := podUIDs(ctx, admin.Clientset, ns, "app=web")
			inj := newInjector("podKill", newEnv(admin, "run-br", br), func(s any) { *s.(*k8sfaults.PodKillSpec) = spec })
			_, err := inj.Plan(ctx)
			Expect(err).To(MatchError(k8sfaults.ErrBlastRadius))
			Expect(err.Error()).To(ContainSubstring(want))
			j := &memJournal{}
			_, err = inj.Inject(ctx, j)
			Expect(err).To(MatchError(k8sfaults.ErrBlastRadius))
			Expect(j.len()).To(BeZero())
			Expect(podUIDs(ctx, admin.Clientset, ns, "app=web")).To(Equal(before))
		},
		Entry("default protected namespace", k8sfaults.PodKillSpec{Namespaces: []string{"kube-system"}, LabelSelector: "app=web"},
			injectors.BlastRadius{}, "namespace kube-system is protected"),
		Entry("configured protected namespace", k8sfaults.PodKillSpec{Namespaces: []string{ns}, LabelSelector: "app=web"},
			injectors.BlastRadius{ProtectedNamespaces: []string{ns}}, "namespace podkill is protected"),
		Entry("maxPods", k8sfaults.PodKillSpec{Namespaces: []string{ns}, LabelSelector: "app=web", Mode: k8sfaults.ModeFixed, Value: 3},
			injectors.BlastRadius{MaxPods: 2}, "would hit 3 pods, more than maxPods 2"),
		Entry("maxPercent", k8sfaults.PodKillSpec{Namespaces: []string{ns}, LabelSelector: "app=web", Mode: k8sfaults.ModeAll},
			injectors.BlastRadius{MaxPercent: 50}, "would hit 5 of 5 matched pods (100%), more than maxPercent 50%"),
		Entry("empty selector without allowAll", k8sfaults.PodKillSpec{Namespaces: []string{ns}},
			injectors.BlastRadius{}, "empty selector"),
	)

	It("allows an empty selector with allowAll (plan only)", func(ctx SpecContext) {
		inj := newInjector("podKill", newEnv(admin, "run-allowall", injectors.BlastRadius{AllowAll: true}), func(s any) {
			*s.(*k8sfaults.PodKillSpec) = k8sfaults.PodKillSpec{Namespaces: []string{ns}, Mode: k8sfaults.ModeAll}
		})
		plan, err := inj.Plan(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(plan.Targets).To(HaveLen(7)) // web 5 + other 2
	}, NodeTimeout(30*time.Second))
})

var _ = Describe("deploymentScale", Ordered, func() {
	const ns = "scale"
	var probe *kubeprobe.Probe

	BeforeAll(func(ctx SpecContext) {
		newNamespace(ctx, ns)
		createDeployment(ctx, admin.Clientset, ns, "db", 3)
		probe = kubeprobe.New(kubeprobe.Spec{Namespace: ns, Selector: "app=db", ReadyAtLeast: ptr[int32](1)}, probeEnv(admin))
		eventuallyStatus(ctx, probe, steadystate.StatusOK, 30*time.Second)
	}, NodeTimeout(time.Minute))

	It("scales to zero (an outage the probe sees) and revert restores the replicas", func(ctx SpecContext) {
		inj := newInjector("deploymentScale", newEnv(admin, "run-scale", injectors.BlastRadius{}), func(s any) {
			*s.(*k8sfaults.DeploymentScaleSpec) = k8sfaults.DeploymentScaleSpec{Namespace: ns, Name: "db"}
		})
		plan, err := inj.Plan(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(plan.Targets[0].Detail).To(Equal("replicas 3 -> 0"))
		j := &memJournal{}
		in, err := inj.Inject(ctx, j)
		Expect(err).NotTo(HaveOccurred())
		GinkgoWriter.Println("proof:", in.Proof)
		Expect(string(j.last())).To(ContainSubstring(`"originalReplicas":3`))

		d, err := admin.Clientset.AppsV1().Deployments(ns).Get(ctx, "db", metav1.GetOptions{})
		Expect(err).NotTo(HaveOccurred())
		Expect(*d.Spec.Replicas).To(BeZero())
		Expect(d.Annotations).To(HaveKeyWithValue(k8sfaults.AnnotationOriginalReplicas, "3"))
		Expect(d.Annotations).To(HaveKeyWithValue(k8sfaults.AnnotationRunID, "run-scale"))
		Expect(podUIDs(ctx, admin.Clientset, ns, "app=db")).To(BeEmpty())
		o := probe.Probe(ctx)
		Expect(o.Status).To(Equal(steadystate.StatusFailed), o.Detail)
		Expect(o.Values).To(HaveKeyWithValue("ready", "0"))

		Expect(in.Revert(ctx)).To(Succeed())
		d, err = admin.Clientset.AppsV1().Deployments(ns).Get(ctx, "db", metav1.GetOptions{})
		Expect(err).NotTo(HaveOccurred())
		Expect(*d.Spec.Replicas).To(BeEquivalentTo(3))
		Expect(d.Annotations).NotTo(HaveKey(k8sfaults.AnnotationOriginalReplicas))
		Expect(d.Annotations).NotTo(HaveKey(k8sfaults.AnnotationRunID))
		eventuallyStatus(ctx, probe, steadystate.StatusOK, 30*time.Second)
		Expect(in.Revert(ctx)).To(Succeed()) // idempotent
		d, _ = admin.Clientset.AppsV1().Deployments(ns).Get(ctx, "db", metav1.GetOptions{})
		Expect(*d.Spec.Replicas).To(BeEquivalentTo(3))
	}, NodeTimeout(time.Minute))

	It("refuses a workload that does not exist", func(ctx SpecContext) {
		inj := newInjector("deploymentScale", newEnv(admin, "run-missing", injectors.BlastRadius{}), func(s any) {
			*s.(*k8sfaults.DeploymentScaleSpec) = k8sfaults.DeploymentScaleSpec{Namespace: ns, Name: "nosuch"}
		})
		_, err := inj.Plan(ctx)
		Expect(err).To(MatchError(injectors.ErrNoTargets))
		Expect(err.Error()).To(ContainSubstring("deployment scale/nosuch"))
	}, NodeTimeout(30*time.Second))

	It("restores the replicas with Recover after the runner is killed with SIGKILL", func(ctx SpecContext) {
		dir := GinkgoT().TempDir()
		journal := filepath.Join(dir, "state.json")
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), "FAULTLINE_E2E_SCALE_HELPER=1", "HELPER_KUBECONFIG="+kubeconfig,
			"HELPER_NAMESPACE="+ns, "HELPER_NAME=db", "HELPER_JOURNAL="+journal)
		out, err := cmd.StdoutPipe()
		Expect(err).NotTo(HaveOccurred())
		cmd.Stderr = GinkgoWriter
		Expect(cmd.Start()).To(Succeed())
		DeferCleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		lines := make(chan string)
		go func() { // ends when the helper's stdout closes (it is killed below)
			defer close(lines)
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				lines <- sc.Text()
			}
		}()
		Eventually(ctx, lines).WithTimeout(45 * time.Second).Should(Receive(Equal("INJECTED")))

		Expect(syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)).To(Succeed())
		err = cmd.Wait()
		var exit *exec.ExitError
		Expect(errors.As(err, &exit)).To(BeTrue())
		Expect(exit.Sys().(syscall.WaitStatus).Signal()).To(Equal(syscall.SIGKILL))

		// The fault outlived its runner.
		d, err := admin.Clientset.AppsV1().Deployments(ns).Get(ctx, "db", metav1.GetOptions{})
		Expect(err).NotTo(HaveOccurred())
		Expect(*d.Spec.Replicas).To(BeZero())
		eventuallyStatus(ctx, probe, steadystate.StatusFailed, 30*time.Second)

		state, err := os.ReadFile(journal)
		Expect(err).NotTo(HaveOccurred())
		def := definition("deploymentScale")
		env := newEnv(admin, "run-recover", injectors.BlastRadius{})
		Expect(def.Recover(ctx, env, state)).To(Succeed())
		d, err = admin.Clientset.AppsV1().Deployments(ns).Get(ctx, "db", metav1.GetOptions{})
		Expect(err).NotTo(HaveOccurred())
		Expect(*d.Spec.Replicas).To(BeEquivalentTo(3))
		Expect(d.Annotations).NotTo(HaveKey(k8sfaults.AnnotationRunID))
		eventuallyStatus(ctx, probe, steadystate.StatusOK, 30*time.Second)
		Expect(def.Recover(ctx, env, state)).To(Succeed()) // idempotent
	}, NodeTimeout(2*time.Minute))
})

// scaleHelper is the body of the helper process: inject deploymentScale to 0 with
// a file journal, say INJECTED, and block until killed.
func scaleHelper() int {
	ctx := context.Background()
	c, err := kube.NewClient(kube.Target{Kubeconfig: os.Getenv("HELPER_KUBECONFIG")})
	if err != nil {
		os.Stderr.WriteString("helper: " + err.Error() + "\n")
		return 1
	}
	r := injectors.NewRegistry()
	if err := k8sfaults.Register(r); err != nil {
		return 1
	}
	def, _ := r.Lookup("deploymentScale")
	spec := &k8sfaults.DeploymentScaleSpec{Namespace: os.Getenv("HELPER_NAMESPACE"), Name: os.Getenv("HELPER_NAME")}
	env := &injectors.Env{RunID: "run-killed", Kube: func() (*kube.Client, error) { return c, nil }}
	inj, err := def.New(spec, env)
	if err != nil {
		return 1
	}
	if _, err := inj.Inject(ctx, fileJournal{path: os.Getenv("HELPER_JOURNAL")}); err != nil {
		os.Stderr.WriteString("helper: " + err.Error() + "\n")
		return 1
	}
	os.Stdout.WriteString("INJECTED\n")
	time.Sleep(10 * time.Minute) // until SIGKILL
	return 1
}
