package main

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/faultline-dev/faultline/internal/kube"
	"github.com/faultline-dev/faultline/internal/testenv/controlplane"
)

// startCluster starts a real control plane (etcd, kube-apiserver, controller-manager,
// scheduler, kwok) and a 6-replica Deployment shop/web, as examples/kubernetes/web.yaml.
func startCluster(t *testing.T) (*controlplane.ControlPlane, *kube.Client) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: skipping the tests that start a Kubernetes control plane")
	}
	ctx := context.Background()
	cp, err := controlplane.Start(ctx, controlplane.Options{Nodes: 2, PodReadyDelay: 300 * time.Millisecond, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cp.Stop(context.Background()) })
	c, err := cp.Client()
	if err != nil {
		t.Fatal(err)
	}
	cs := c.Clientset
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{"app": "web"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](6),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx"}}},
			},
		},
	}
	if _, err := cs.AppsV1().Deployments("shop").Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, func() bool { return availableReplicas(t, c) == 6 }, "6 available web pods")
	return cp, c
}

func availableReplicas(t *testing.T, c *kube.Client) int32 {
	d, err := c.Clientset.AppsV1().Deployments("shop").Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d.Status.AvailableReplicas
}

func specReplicas(t *testing.T, c *kube.Client) int32 {
	d, err := c.Clientset.AppsV1().Deployments("shop").Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return *d.Spec.Replicas
}

// TestKubernetesExampleAndCrashRecover runs the shipped example experiment on a real
// control plane through the CLI, then kills a runner with SIGKILL while it holds a
// Deployment at 0 replicas and checks `chaos recover` restores them.
func TestKubernetesExampleAndCrashRecover(t *testing.T) {
	cp, c := startCluster(t)

	t.Run("example pod kill self-heals", func(t *testing.T) {
		code, out, errOut := runCLI(t, "run", "--kubeconfig", cp.Kubeconfig, "--journal", t.TempDir(),
			"--report-dir", t.TempDir(), "--progress", "plain", "../../examples/kubernetes/web-pod-kill.yaml")
		if code != 0 {
			t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
		}
		if !strings.Contains(errOut, "target pod shop/web-") || !strings.Contains(out, "PASSED") {
			t.Fatalf("output lacks the killed pods or the verdict:\n%s\n%s", out, errOut)
		}
	})

	t.Run("kill -9 during deploymentScale then recover", func(t *testing.T) {
		journal := t.TempDir()
		exp := writeFile(t, "scale.yaml", `apiVersion: faultline.dev/v1alpha1
kind: Experiment
metadata: {name: web-outage}
spec:
  target: {kubernetes: {}}
  steadyState:
    baseline: 500ms
    probes:
      - name: web
        kubernetes: {namespace: shop, selector: app=web, readyAtLeast: 1}
        every: 200ms
  faults:
    - name: web-to-zero
      deploymentScale: {namespace: shop, kind: Deployment, name: web, replicas: 0}
      duration: 5m
`)
		cmd := exec.Command(chaosBin, "run", "--kubeconfig", cp.Kubeconfig, "--journal", journal,
			"--report-dir", t.TempDir(), "--progress", "none", exp)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
		waitFor(t, 60*time.Second, func() bool { return specReplicas(t, c) == 0 }, "web scaled to 0")
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if r := specReplicas(t, c); r != 0 {
			t.Fatalf("replicas %d right after kill -9, want still 0", r)
		}
		code, out, errOut := runCLI(t, "recover", "--journal", journal)
		if code != 0 || !strings.Contains(out, "web-to-zero (deploymentScale): reverted") {
			t.Fatalf("recover: exit %d\n%s\n%s", code, out, errOut)
		}
		if r := specReplicas(t, c); r != 6 {
			t.Fatalf("replicas after recover = %d, want 6", r)
		}
		waitFor(t, 60*time.Second, func() bool { return availableReplicas(t, c) == 6 }, "6 available again")
		code, out, _ = runCLI(t, "recover", "--journal", journal)
		if code != 0 || !strings.Contains(out, "nothing to recover") {
			t.Fatalf("second recover: exit %d\n%s", code, out)
		}
	})
}
