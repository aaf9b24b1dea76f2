package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/faultline-dev/faultline/injectors/chaosmesh"
	"github.com/faultline-dev/faultline/internal/kube"
	testenvcm "github.com/faultline-dev/faultline/internal/testenv/chaosmesh"
	"github.com/faultline-dev/faultline/internal/testenv/controlplane"
)

// startChaosMesh starts the control plane with shop/web (6 pods), installs the
// Chaos Mesh CRDs and runs Chaos Mesh's real chaos-controller-manager against it.
func startChaosMesh(t *testing.T) (*controlplane.ControlPlane, *kube.Client) {
	t.Helper()
	cp, c := startCluster(t)
	ctx := context.Background()
	if err := testenvcm.InstallCRDs(ctx, cp.RESTConfig()); err != nil {
		t.Fatal(err)
	}
	if err := controlplane.CreateNamespace(ctx, c.Clientset, "chaos-mesh"); err != nil {
		t.Fatal(err)
	}
	ctrl, err := testenvcm.StartController(ctx, cp.Kubeconfig, t.TempDir(), t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("chaos-controller-manager log:\n%s", ctrl.Tail(40))
		}
		ctrl.Stop()
	})
	return cp, c
}

var (
	podChaosGVR     = schema.GroupVersionResource{Group: "chaos-mesh.org", Version: "v1alpha1", Resource: "podchaos"}
	networkChaosGVR = schema.GroupVersionResource{Group: "chaos-mesh.org", Version: "v1alpha1", Resource: "networkchaos"}
)

// chaosObjects lists the Chaos Mesh objects of a kind in shop.
func chaosObjects(t *testing.T, c *kube.Client, gvr schema.GroupVersionResource) []string {
	t.Helper()
	list, err := c.Dynamic.Resource(gvr).Namespace("shop").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, it := range list.Items {
		names = append(names, it.GetName())
	}
	return names
}

func webUIDs(t *testing.T, c *kube.Client) map[types.UID]bool {
	t.Helper()
	list, err := c.Clientset.CoreV1().Pods("shop").List(context.Background(), metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		t.Fatal(err)
	}
	out := map[types.UID]bool{}
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning {
			out[p.UID] = true
		}
	}
	return out
}

const chaosMeshPrologue = `apiVersion: faultline.dev/v1alpha1
kind: Experiment
metadata: {name: %s}
spec:
  target: {kubernetes: {}}
  steadyState:
    baseline: 1s
    recovery: 30s
    probes:
      - name: web-ready
        kubernetes: {namespace: shop, selector: app=web, readyEqualsDesired: true}
        every: 100ms
`

// TestChaosMeshEndToEnd drives Chaos Mesh's own controller through the CLI: a
// PodChaos pod-kill passes with measured self-healing; a pods-targeted
// networkLatency (kwok nodes have no chaos-daemon) ends errored with Chaos Mesh's
// message, its stuck deletion is reported within revertTimeout and `chaos recover`
// finishes it; a runner killed with SIGKILL leaves an object `chaos recover` deletes.
func TestChaosMeshEndToEnd(t *testing.T) {
	cp, c := startChaosMesh(t)

	t.Run("PodChaos pod-kill passes and the Deployment heals", func(t *testing.T) {
		before := webUIDs(t, c)
		exp := writeFile(t, "podchaos.yaml", strings.Replace(chaosMeshPrologue, "%s", "web-pod-chaos", 1)+`  faults:
    - name: kill-one
      chaosMesh:
        kind: PodChaos
        spec: {action: pod-kill, mode: one, selector: {namespaces: [shop], labelSelectors: {app: web}}}
      duration: 3s
  verify:
    - selfHealing: {probe: web-ready, recoversWithin: 30s}
  safety: {blastRadius: {maxPods: 1}}
`)
		reports := t.TempDir()
		code, out, errOut := runCLI(t, "run", "--kubeconfig", cp.Kubeconfig, "--journal", t.TempDir(),
			"--report-dir", reports, "--progress", "plain", exp)
		if code != 0 || !strings.Contains(out, "PASSED") {
			t.Fatalf("exit %d, want 0 and PASSED\n%s\n%s", code, out, errOut)
		}
		if !strings.Contains(out+errOut, "1 pod UIDs gone") || !strings.Contains(out+errOut, "AllInjected=True") {
			t.Fatalf("no proof from Chaos Mesh's status and the pod UIDs:\n%s\n%s", out, errOut)
		}
		after := webUIDs(t, c)
		gone := 0
		for uid := range before {
			if !after[uid] {
				gone++
			}
		}
		if gone != 1 {
			t.Fatalf("%d of the original pods are gone, want exactly 1 (Chaos Mesh must hit the planned pod only)", gone)
		}
		if left := chaosObjects(t, c, podChaosGVR); len(left) != 0 {
			t.Fatalf("PodChaos objects left after the run: %v", left)
		}
		report := readChaosReport(t, reports)
		if !strings.Contains(report, `"selfHealing"`) || !strings.Contains(report, `"passed"`) {
			t.Fatalf("report lacks the measured selfHealing: %.2000s", report)
		}
	})

	latency := strings.Replace(chaosMeshPrologue, "%s", "web-slow", 1) + `  faults:
    - name: slow-web
      networkLatency:
        target: {pods: {namespaces: [shop], labelSelector: app=web, mode: fixed, value: 2}}
        delay: 100ms
      duration: %s
  safety: {revertTimeout: 6s}
`

	t.Run("pods-targeted networkLatency errors with Chaos Mesh's message; its stuck deletion is reported, recover finishes it", func(t *testing.T) {
		journal := t.TempDir()
		exp := writeFile(t, "latency.yaml", strings.Replace(latency, "%s", "20s", 1))
		start := time.Now()
		code, out, errOut := runCLI(t, "run", "--kubeconfig", cp.Kubeconfig, "--journal", journal,
			"--report-dir", t.TempDir(), "--progress", "plain", exp)
		took := time.Since(start)
		all := out + errOut
		if code != 3 || !strings.Contains(all, "ERRORED") || strings.Contains(all, "PASSED") {
			t.Fatalf("exit %d, want 3 and ERRORED\n%s", code, all)
		}
		if !strings.Contains(all, "cannot find daemonIP on node") {
			t.Fatalf("Chaos Mesh's own message is missing:\n%s", all)
		}
		names := chaosObjects(t, c, networkChaosGVR)
		if len(names) != 1 {
			t.Fatalf("NetworkChaos objects: %v, want the one whose deletion is stuck", names)
		}
		for _, w := range []string{"shop/" + names[0] + " is still there", chaosmesh.Finalizer,
			"kubectl patch networkchaos -n shop " + names[0] + ` --type=merge -p '{"metadata":{"finalizers":null}}'`, "chaos recover"} {
			if !strings.Contains(all, w) {
				t.Fatalf("the stuck deletion is not explained (%q missing):\n%s", w, all)
			}
		}
		// baseline 1s + proof + one revertTimeout (6s) + the recover phase; not 2x6s.
		if took > 45*time.Second {
			t.Fatalf("the run took %s: the stuck deletion was not bounded by revertTimeout", took)
		}
		code, out, _ = runCLI(t, "recover", "--journal", journal, "--timeout", "3s")
		if code != 3 || !strings.Contains(out, "is still there") {
			t.Fatalf("recover before the finalizer is dealt with: exit %d, want 3 and the stuck object\n%s", code, out)
		}
		// The user follows the advice.
		patch := []byte(`{"metadata":{"finalizers":null}}`)
		if _, err := c.Dynamic.Resource(networkChaosGVR).Namespace("shop").Patch(context.Background(), names[0], types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		code, out, errOut = runCLI(t, "recover", "--journal", journal, "--timeout", "30s")
		if code != 0 || !strings.Contains(out, "slow-web (networkLatency): reverted") {
			t.Fatalf("recover: exit %d\n%s\n%s", code, out, errOut)
		}
		if _, err := c.Dynamic.Resource(networkChaosGVR).Namespace("shop").Get(context.Background(), names[0], metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("NetworkChaos %s still there after recover: %v", names[0], err)
		}
	})

	t.Run("kill -9 after the object was created, chaos recover deletes it", func(t *testing.T) {
		journal := t.TempDir()
		exp := writeFile(t, "podchaos-long.yaml", strings.Replace(chaosMeshPrologue, "%s", "web-pod-failure", 1)+`  faults:
    - name: fail-web
      chaosMesh:
        kind: PodChaos
        spec: {action: pod-failure, mode: one, selector: {namespaces: [shop], labelSelectors: {app: web}}}
      duration: 5m
`)
		cmd := exec.Command(chaosBin, "run", "--kubeconfig", cp.Kubeconfig, "--journal", journal,
			"--report-dir", t.TempDir(), "--progress", "none", exp)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
		waitFor(t, 60*time.Second, func() bool { return len(chaosObjects(t, c, podChaosGVR)) == 1 }, "the PodChaos to exist")
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		name := chaosObjects(t, c, podChaosGVR)[0]
		obj, err := c.Dynamic.Resource(podChaosGVR).Namespace("shop").Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if obj.GetLabels()[chaosmesh.LabelRunID] == "" {
			t.Fatalf("the object is not labelled with its run: %v", obj.GetLabels())
		}
		if d, _, _ := unstructuredString(obj.Object, "spec", "duration"); d == "" {
			t.Fatal("no Chaos Mesh duration (dead-man's switch) on the object")
		}
		code, out, errOut := runCLI(t, "recover", "--journal", journal)
		if code != 0 || !strings.Contains(out, "fail-web (chaosMesh): reverted") {
			t.Fatalf("recover: exit %d\n%s\n%s", code, out, errOut)
		}
		if left := chaosObjects(t, c, podChaosGVR); len(left) != 0 {
			t.Fatalf("PodChaos left after recover: %v", left)
		}
	})
}

func unstructuredString(obj map[string]any, path ...string) (string, bool, error) {
	cur := any(obj)
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return "", false, nil
		}
		cur = m[p]
	}
	s, ok := cur.(string)
	return s, ok, nil
}

func readChaosReport(t *testing.T, dir string) string {
	t.Helper()
	var found string
	_ = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && filepath.Base(p) == "report.json" {
			found = p
		}
		return nil
	})
	if found == "" {
		t.Fatalf("no report.json under %s", dir)
	}
	b, err := os.ReadFile(found)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("report.json: %v", err)
	}
	return string(b)
}
