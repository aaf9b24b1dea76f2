package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/restmapper"
	"k8s.io/utils/ptr"

	"github.com/faultline-dev/faultline/experiments/cluster"
	"github.com/faultline-dev/faultline/internal/kube"
	"github.com/faultline-dev/faultline/internal/testenv/controlplane"
)

// startGameCluster starts a control plane with shop/web (6 replicas, from
// startCluster), shop/api (3 replicas), the ExperimentRun CRD from deploy/crds and
// the namespace chaos.
func startGameCluster(t *testing.T) (*controlplane.ControlPlane, *kube.Client) {
	t.Helper()
	cp, c := startCluster(t)
	crd, err := os.ReadFile("../../deploy/crds/faultline.dev_experimentruns.yaml")
	if err != nil {
		t.Fatal(err)
	}
	applyYAML(t, c, "", crd, nil...)
	waitFor(t, 30*time.Second, func() bool { ok, _ := cluster.Installed(c); return ok }, "ExperimentRun CRD served")
	ctx := context.Background()
	if _, err := c.Clientset.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "chaos"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	createDeployment(t, c, "api", 3)
	return cp, c
}

func createDeployment(t *testing.T, c *kube.Client, name string, replicas int32) {
	t.Helper()
	labels := map[string]string{"app": name}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: name, Image: "nginx"}}},
			},
		},
	}
	if _, err := c.Clientset.AppsV1().Deployments("shop").Create(context.Background(), dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, func() bool { return deployment(t, c, name).Status.AvailableReplicas == replicas }, name+" available")
}

func deployment(t *testing.T, c *kube.Client, name string) *appsv1.Deployment {
	t.Helper()
	d, err := c.Clientset.AppsV1().Deployments("shop").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// applyYAML creates every object of a multi-document YAML stream, as
// `kubectl create -f` does (namespace ns for namespaced objects without one).
func applyYAML(t *testing.T, c *kube.Client, ns string, data []byte, mutate ...func(*unstructured.Unstructured)) []*unstructured.Unstructured {
	t.Helper()
	ctx := context.Background()
	groups, err := restmapper.GetAPIGroupResources(c.Clientset.Discovery())
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDiscoveryRESTMapper(groups)
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objs []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if len(m) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		for _, f := range mutate {
			f(u)
		}
		gvk := u.GroupVersionKind()
		mapping, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			t.Fatalf("mapping %s: %v", gvk, err)
		}
		r := c.Dynamic.Resource(mapping.Resource)
		var out *unstructured.Unstructured
		if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
			if u.GetNamespace() == "" {
				u.SetNamespace(ns)
			}
			out, err = r.Namespace(u.GetNamespace()).Create(ctx, u, metav1.CreateOptions{})
		} else {
			out, err = r.Create(ctx, u, metav1.CreateOptions{})
		}
		if apierrors.IsAlreadyExists(err) {
			continue
		}
		if err != nil {
			t.Fatalf("creating %s %s: %v", gvk.Kind, u.GetName(), err)
		}
		objs = append(objs, out)
	}
	return objs
}

func experimentRuns(t *testing.T, c *kube.Client, experiment string) []cluster.ExperimentRun {
	t.Helper()
	runs, err := cluster.List(context.Background(), c, "chaos", experiment)
	if err != nil {
		t.Fatal(err)
	}
	return runs
}
