package chaosmesh

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Kinds are the Chaos Mesh kinds a chaosMesh fault may create: those that act on
// pods chosen by a pod selector.
var Kinds = []string{
	v1alpha1.KindDNSChaos, v1alpha1.KindHTTPChaos, v1alpha1.KindIOChaos, v1alpha1.KindJVMChaos,
	v1alpha1.KindNetworkChaos, v1alpha1.KindPodChaos, v1alpha1.KindStressChaos, v1alpha1.KindTimeChaos,
}

// Object is a Chaos Mesh chaos object with pod selectors.
type Object = v1alpha1.InnerObjectWithSelector

// kindInfo is what Faultline needs to know about one Chaos Mesh kind.
type kindInfo struct {
	name     string
	resource string // plural, lower case: "networkchaos"
	proto    *v1alpha1.ChaosKind
	specType reflect.Type // v1alpha1.NetworkChaosSpec
}

var kinds = func() map[string]*kindInfo {
	all := v1alpha1.AllKinds()
	out := map[string]*kindInfo{}
	for _, k := range Kinds {
		ck, ok := all[k]
		if !ok {
			panic("chaosmesh: the api module lacks kind " + k)
		}
		f, ok := reflect.TypeOf(ck.SpawnObject()).Elem().FieldByName("Spec")
		if !ok {
			panic("chaosmesh: " + k + " has no Spec")
		}
		out[k] = &kindInfo{name: k, resource: strings.ToLower(k), proto: ck, specType: f.Type}
	}
	return out
}()

func lookupKind(name string) (*kindInfo, bool) {
	k, ok := kinds[name]
	return k, ok
}

// gvr is the resource of the kind.
func (k *kindInfo) gvr() schema.GroupVersionResource {
	return v1alpha1.SchemeGroupVersion.WithResource(k.resource)
}

// newSpec returns a pointer to a new zero spec of the kind.
func (k *kindInfo) newSpec() any { return reflect.New(k.specType).Interface() }

// newObject builds an object of the kind holding a deep copy of spec (a pointer
// to the kind's spec type), with its type meta set.
func (k *kindInfo) newObject(spec any, namespace, name string) (Object, error) {
	obj, ok := k.proto.SpawnObject().(Object)
	if !ok {
		return nil, fmt.Errorf("chaosmesh: %s has no pod selector", k.name)
	}
	sv := reflect.ValueOf(spec)
	if sv.Kind() != reflect.Pointer || sv.Elem().Type() != k.specType {
		return nil, fmt.Errorf("chaosmesh: %s wants a *%s, got %T", k.name, k.specType.Name(), spec)
	}
	cp := sv.MethodByName("DeepCopy").Call(nil)[0] // generated deep copy
	reflect.ValueOf(obj).Elem().FieldByName("Spec").Set(cp.Elem())
	obj.GetObjectKind().SetGroupVersionKind(v1alpha1.SchemeGroupVersion.WithKind(k.name))
	obj.SetNamespace(namespace)
	obj.SetName(name)
	return obj, nil
}

// specOf returns a pointer to obj's spec.
func specOf(obj Object) any {
	return reflect.ValueOf(obj).Elem().FieldByName("Spec").Addr().Interface()
}

// durationOf returns a pointer to the spec's Duration field (*string), if it has one.
func durationOf(obj Object) **string {
	f := reflect.ValueOf(obj).Elem().FieldByName("Spec").FieldByName("Duration")
	if !f.IsValid() || f.Type() != reflect.TypeFor[*string]() {
		return nil
	}
	return f.Addr().Interface().(**string)
}

// podSelectors returns the pod selectors of obj, by Chaos Mesh's selector key ("."
// for the pods the chaos acts on, ".Target" for NetworkChaos' other side), sorted.
func podSelectors(obj Object) ([]string, map[string]*v1alpha1.PodSelector) {
	out := map[string]*v1alpha1.PodSelector{}
	for key, s := range obj.GetSelectorSpecs() {
		switch sel := s.(type) {
		case *v1alpha1.PodSelector:
			out[key] = sel
		case *v1alpha1.ContainerSelector:
			out[key] = &sel.PodSelector
		}
	}
	keys := make([]string, 0, len(out))
	for k := range out {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys, out
}

// oneShot reports whether the chaos acts once and has nothing to recover (pod-kill,
// container-kill).
func oneShot(obj Object) bool { return obj.IsOneShot() }
