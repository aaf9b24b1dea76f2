package rollbackguard_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/faultline-dev/faultline/examples/kubernetes/rollbackguard"
	"github.com/faultline-dev/faultline/internal/testenv/controlplane"
)

const (
	goodImage = "registry.k8s.io/e2e-test-images/agnhost:2.53"
	badImage  = "faultline.invalid/never:ready" // kwok's test stages keep it in ImagePullBackOff
)

// TestGuardOnRealControlPlane runs the guard against a real kube-apiserver,
// Deployment and ReplicaSet controllers and scheduler (kwok plays the kubelets).
func TestGuardOnRealControlPlane(t *testing.T) {
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

	t.Run("rolls back new pods that stay unready", func(t *testing.T) {
		ns := newNamespace(t, cs, "unready")
		deploy(t, cs, ns, nil)
		setImage(t, cs, ns, badImage)
		got := runGuard(t, &rollbackguard.Guard{Client: cs, Namespace: ns, UnreadyFor: time.Second, Poll: 100 * time.Millisecond, Logf: t.Logf}, 1)
		if got[0].From != 2 || got[0].To != 1 || got[0].Name != "web" {
			t.Fatalf("rollback = %+v, want web from revision 2 to 1", got[0])
		}
		waitRolledOut(t, cs, ns, goodImage)
	})

	t.Run("rolls back when progressDeadlineSeconds passes", func(t *testing.T) {
		ns := newNamespace(t, cs, "deadline")
		deploy(t, cs, ns, ptr.To[int32](2))
		setImage(t, cs, ns, badImage)
		// UnreadyFor 0: only the Deployment controller's own verdict counts.
		got := runGuard(t, &rollbackguard.Guard{Client: cs, Namespace: ns, Poll: 100 * time.Millisecond, Logf: t.Logf}, 1)
		if got[0].Reason == "" || got[0].From != 2 || got[0].To != 1 {
			t.Fatalf("rollback = %+v, want from revision 2 to 1 for the progress deadline", got[0])
		}
		t.Logf("reason: %s", got[0].Reason)
		waitRolledOut(t, cs, ns, goodImage)
	})

	t.Run("leaves a healthy rollout alone", func(t *testing.T) {
		ns := newNamespace(t, cs, "healthy")
		deploy(t, cs, ns, nil)
		const newer = "registry.k8s.io/e2e-test-images/agnhost:2.54"
		setImage(t, cs, ns, newer)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan rollbackguard.Rollback, 1)
		var wg sync.WaitGroup
		wg.Add(1)
		g := &rollbackguard.Guard{Client: cs, Namespace: ns, UnreadyFor: 3 * time.Second, Poll: 100 * time.Millisecond, Logf: t.Logf}
		go func() { defer wg.Done(); _ = g.Run(ctx, done) }()
		waitRolledOut(t, cs, ns, newer)
		// A little longer than UnreadyFor after the rollout completed: nothing may happen.
		time.Sleep(4 * time.Second)
		cancel()
		wg.Wait()
		select {
		case rb := <-done:
			t.Fatalf("the guard rolled back a healthy rollout: %+v", rb)
		default:
		}
		if img := image(t, cs, ns); img != newer {
			t.Fatalf("image = %s, want %s", img, newer)
		}
	})

	t.Run("a first revision has nothing to roll back to", func(t *testing.T) {
		ns := newNamespace(t, cs, "first")
		deploy(t, cs, ns, nil)
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rollbackguard.Undo(ctx, cs, d); err == nil {
			t.Fatal("Undo of revision 1 succeeded, want ErrNoPreviousRevision")
		}
	})
}

var nsSeq int

func newNamespace(t *testing.T, cs kubernetes.Interface, name string) string {
	t.Helper()
	nsSeq++
	ns := fmt.Sprintf("guard-%s-%d", name, nsSeq)
	if err := controlplane.CreateNamespace(context.Background(), cs, ns); err != nil {
		t.Fatal(err)
	}
	return ns
}

// deploy creates a 4-replica Deployment web and waits until it is available.
func deploy(t *testing.T, cs kubernetes.Interface, ns string, progressDeadline *int32) {
	t.Helper()
	labels := map[string]string{"app": "web"}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas:                ptr.To[int32](4),
			ProgressDeadlineSeconds: progressDeadline,
			Selector:                &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: goodImage}}},
			},
		},
	}
	if _, err := cs.AppsV1().Deployments(ns).Create(context.Background(), d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitRolledOut(t, cs, ns, goodImage)
}

func setImage(t *testing.T, cs kubernetes.Interface, ns, img string) {
	t.Helper()
	patch := fmt.Sprintf(`{"spec":{"template":{"spec":{"containers":[{"name":"web","image":%q}]}}}}`, img)
	if _, err := cs.AppsV1().Deployments(ns).Patch(context.Background(), "web", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

func image(t *testing.T, cs kubernetes.Interface, ns string) string {
	t.Helper()
	d, err := cs.AppsV1().Deployments(ns).Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d.Spec.Template.Spec.Containers[0].Image
}

// runGuard runs g until it has made n rollbacks (or 60 s passed) and returns them.
func runGuard(t *testing.T, g *rollbackguard.Guard, n int) []rollbackguard.Rollback {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	done := make(chan rollbackguard.Rollback, n)
	errc := make(chan error, 1)
	go func() { errc <- g.Run(ctx, done) }()
	var got []rollbackguard.Rollback
	for len(got) < n {
		select {
		case rb := <-done:
			got = append(got, rb)
		case err := <-errc:
			t.Fatalf("guard ended after %d of %d rollbacks: %v", len(got), n, err)
		}
	}
	cancel()
	<-errc
	return got
}

// waitRolledOut waits until web runs img on every replica and all are available.
func waitRolledOut(t *testing.T, cs kubernetes.Interface, ns, img string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		d, err := cs.AppsV1().Deployments(ns).Get(context.Background(), "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		want := *d.Spec.Replicas
		s := d.Status
		if d.Spec.Template.Spec.Containers[0].Image == img && s.ObservedGeneration >= d.Generation &&
			s.UpdatedReplicas == want && s.AvailableReplicas == want && s.Replicas == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("deployment %s/web not rolled out on %s: image %s, status %+v", ns, img, d.Spec.Template.Spec.Containers[0].Image, s)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
