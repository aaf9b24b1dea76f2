package experiments

import (
	"fmt"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// A family is one registry of inline keys: a fault entry carries exactly one
// injector key, a probe entry one probe key, a verify entry one assertion key.
type family struct {
	noun   string // "injector", "probe", "assertion"
	keys   func(Registries) []string
	lookup func(Registries, string) (newSpec func() any, summary string, ok bool)
}

var (
	injectorFamily = &family{noun: "injector",
		keys: func(r Registries) []string {
			if r.Injectors == nil {
				return nil
			}
			return r.Injectors.Keys()
		},
		lookup: func(r Registries, k string) (func() any, string, bool) {
			if r.Injectors == nil {
				return nil, "", false
			}
			d, ok := r.Injectors.Lookup(k)
			return d.NewSpec, d.Summary, ok
		}}
	probeFamily = &family{noun: "probe",
		keys: func(r Registries) []string {
			if r.Probes == nil {
				return nil
			}
			return r.Probes.ProbeKeys()
		},
		lookup: func(r Registries, k string) (func() any, string, bool) {
			if r.Probes == nil {
				return nil, "", false
			}
			d, ok := r.Probes.Probe(k)
			return d.NewSpec, d.Summary, ok
		}}
	assertionFamily = &family{noun: "assertion",
		keys: func(r Registries) []string {
			if r.Probes == nil {
				return nil
			}
			return r.Probes.AssertionKeys()
		},
		lookup: func(r Registries, k string) (func() any, string, bool) {
			if r.Probes == nil {
				return nil, "", false
			}
			d, ok := r.Probes.Assertion(k)
			return d.NewSpec, d.Summary, ok
		}}
)

// inlineFamilies are the model types whose entries carry one inline key.
var inlineFamilies = map[reflect.Type]*family{
	reflect.TypeFor[Fault]():     injectorFamily,
	reflect.TypeFor[Probe]():     probeFamily,
	reflect.TypeFor[Assertion](): assertionFamily,
}

// kindSpec returns the Kind and Spec fields of a Fault, Probe or Assertion value.
func kindSpec(v reflect.Value) (kind *string, spec *any) {
	switch x := v.Addr().Interface().(type) {
	case *Fault:
		return &x.Kind, &x.Spec
	case *Probe:
		return &x.Kind, &x.Spec
	case *Assertion:
		return &x.Kind, &x.Spec
	}
	panic(fmt.Sprintf("experiments: %s has no inline key", v.Type()))
}

// inline decodes an entry of fam: its own fields, and exactly one registered key
// whose block is decoded into the definition's NewSpec().
func (d *decoder) inline(n *yaml.Node, v reflect.Value, path string, fam *family) {
	kind, spec := kindSpec(v)
	var first *yaml.Node
	unknown := d.structFields(n, v, path, func(k, val *yaml.Node) bool {
		newSpec, _, ok := fam.lookup(d.reg, k.Value)
		if !ok {
			return false
		}
		if first != nil {
			d.fail(k, path, "only one %s key allowed, found %q (line %d) and %q",
				fam.noun, first.Value, first.Line, k.Value)
			return true
		}
		first = k
		s := newSpec()
		rv := reflect.ValueOf(s)
		if !rv.IsValid() || rv.Kind() != reflect.Pointer || rv.IsNil() {
			d.fail(k, join(path, k.Value), "internal error: %s %q: NewSpec returned %T, want a pointer",
				fam.noun, k.Value, s)
			return true
		}
		d.value(val, rv.Elem(), join(path, k.Value))
		*kind, *spec = k.Value, s
		return true
	})
	if len(unknown) == 0 {
		return
	}
	hint := ""
	if first == nil {
		// The entry has no key of fam: the unknown key is most likely a misspelled one,
		// so say which exist here rather than "missing key" as well.
		d.badExact[path] = true
		hint = fmt.Sprintf(" (%s keys: %s)", fam.noun, keyList(fam.keys(d.reg)))
	}
	own := structInfoOf(v.Type()).names
	candidates := append(append(make([]string, 0, len(own)+8), own...), fam.keys(d.reg)...)
	for _, k := range unknown {
		d.unknownField(k, path, candidates, hint)
	}
}

func keyList(keys []string) string {
	if len(keys) == 0 {
		return "none registered"
	}
	return strings.Join(keys, ", ")
}
