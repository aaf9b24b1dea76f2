package kubernetes

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/faultline-dev/faultline/injectors"
	"github.com/faultline-dev/faultline/internal/kube"
	"github.com/faultline-dev/faultline/internal/testenv/controlplane"
)

// BenchmarkPodKill300 kills 300 ready pods selected by label on a real control
// plane (4 kwok nodes x 110 pods) with podKill's own code path (plan, concurrent
// deletes with UID preconditions, UID-gone proof) and reports:
//
//	accepted-ms   until every deletion was accepted by the API server (goal <= 1000)
//	gone-ms       until none of the 300 UIDs is listed any more (the proof)
//	ready-ms      until the Deployment has 300 available pods again
//
//	go test ./injectors/kubernetes/ -run '^$' -bench PodKill300 -benchtime 5x
//
// FAULTLINE_BENCH_CONTROLLER_QPS=20 runs the controllers at Kubernetes' default
// client QPS instead of the test control plane's 500.
func BenchmarkPodKill300(b *testing.B) {
	const ns, replicas = "bench", 300
	ctx := context.Background()
	qps, _ := strconv.Atoi(os.Getenv("FAULTLINE_BENCH_CONTROLLER_QPS"))
	cp, err := controlplane.Start(ctx, controlplane.Options{Nodes: 4, PodsPerNode: 110, ControllerQPS: qps, Logf: b.Logf})
	if err != nil {
		b.Fatal(err)
	}
	defer cp.Stop(context.Background())
	c, err := cp.Client()
	if err != nil {
		b.Fatal(err)
	}
	if err := controlplane.CreateNamespace(ctx, c.Clientset, ns); err != nil {
		b.Fatal(err)
	}
	if err := createBenchDeployment(ctx, c, ns, replicas); err != nil {
		b.Fatal(err)
	}
	if _, err := waitAvailable(ctx, c, ns, replicas, 3*time.Minute); err != nil {
		b.Fatal(err)
	}
	env := &injectors.Env{RunID: "bench", Kube: func() (*kube.Client, error) { return c, nil }}
	k := &PodKill{spec: PodKillSpec{Namespaces: []string{ns}, LabelSelector: "app=web", Mode: ModeAll}, env: env}

	b.Run("kill", func(b *testing.B) {
		var accepted, gone, ready time.Duration
		for range b.N {
			b.StopTimer()
			if _, err := waitAvailable(ctx, c, ns, replicas, 3*time.Minute); err != nil {
				b.Fatal(err)
			}
			plan, err := k.Plan(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if len(plan.Targets) != replicas {
				b.Fatalf("planned %d pods, want %d", len(plan.Targets), replicas)
			}
			b.StartTimer()
			start := time.Now()
			if err := deletePods(ctx, c, k.planned, 0); err != nil {
				b.Fatal(err)
			}
			accepted += time.Since(start)
			if err := waitUIDsGone(ctx, c, k.planned, []string{ns}, time.Minute); err != nil {
				b.Fatal(err)
			}
			gone += time.Since(start)
			if _, err := waitAvailable(ctx, c, ns, replicas, 3*time.Minute); err != nil {
				b.Fatal(err)
			}
			ready += time.Since(start)
		}
		n := float64(b.N)
		b.ReportMetric(float64(accepted.Milliseconds())/n, "accepted-ms")
		b.ReportMetric(float64(gone.Milliseconds())/n, "gone-ms")
		b.ReportMetric(float64(ready.Milliseconds())/n, "ready-ms")
	})
}

func createBenchDeployment(ctx context.Context, c *kube.Client, ns string, replicas int32) error {
	labels := map[string]string{"app": "web"}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.k8s.io/pause:3.10"}}},
			},
		},
	}
	_, err := c.Clientset.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{})
	return err
}

// waitAvailable waits until the Deployment web has replicas pods, all available.
func waitAvailable(ctx context.Context, c *kube.Client, ns string, replicas int32, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		w, err := kube.GetWorkload(ctx, c.Clientset, kube.WorkloadRef{Kind: kube.KindDeployment, Namespace: ns, Name: "web"})
		if err != nil {
			return false, nil
		}
		return w.RolledOut() && w.AvailableReplicas == replicas, nil
	})
	return time.Since(start), err
}
