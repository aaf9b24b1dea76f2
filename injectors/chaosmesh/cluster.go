package chaosmesh

import (
	"context"
	"fmt"
	"sort"

	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/faultline-dev/faultline/internal/kube"
)

// Group is Chaos Mesh's API group.
const Group = "chaos-mesh.org"

// InstallHint says how to get Chaos Mesh.
const InstallHint = "install it (helm install chaos-mesh chaos-mesh/chaos-mesh -n chaos-mesh --create-namespace; https://chaos-mesh.org/docs/production-installation-using-helm/)"

// checkInstalled asks the API server's discovery whether the kind's CRD is served.
func checkInstalled(ctx context.Context, c *kube.Client, k *kindInfo) error {
	gv := v1alpha1.SchemeGroupVersion.String()
	list, err := c.Clientset.Discovery().ServerResourcesForGroupVersion(gv)
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("%w in this cluster (the API %s is not served): %s", ErrNotInstalled, gv, InstallHint)
	}
	if err != nil {
		return fmt.Errorf("asking the cluster whether Chaos Mesh is installed: %w", err)
	}
	for _, r := range list.APIResources {
		if r.Name == k.resource {
			return nil
		}
	}
	return fmt.Errorf("%w: the cluster serves %s but not %s (the %s CRD is missing): %s", ErrNotInstalled, gv, k.resource, k.name, InstallHint)
}

// chaosPermissions are what a fault of kind k in namespace ns needs on Chaos Mesh's objects.
func chaosPermissions(k *kindInfo, ns string) []kube.Permission {
	var perms []kube.Permission
	for _, verb := range []string{"create", "get", "delete"} {
		perms = append(perms, kube.Permission{Verb: verb, Group: Group, Resource: k.resource, Namespace: ns})
	}
	return perms
}

// toUnstructured converts a typed object for the dynamic client.
func toUnstructured(obj Object) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, fmt.Errorf("converting %s: %w", obj.GetObjectKind().GroupVersionKind().Kind, err)
	}
	return &unstructured.Unstructured{Object: m}, nil
}

// get reads the object of kind k as its typed form.
func get(ctx context.Context, c *kube.Client, k *kindInfo, ns, name string) (Object, error) {
	u, err := c.Dynamic.Resource(k.gvr()).Namespace(ns).Get(ctx, name, metav1GetOptions)
	if err != nil {
		return nil, err
	}
	obj, ok := k.proto.SpawnObject().(Object)
	if !ok {
		return nil, fmt.Errorf("chaosmesh: %s has no pod selector", k.name)
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, obj); err != nil {
		return nil, fmt.Errorf("reading %s %s/%s: %w", k.name, ns, name, err)
	}
	return obj, nil
}

func sortStrings(s []string) []string {
	sort.Strings(s)
	return s
}
