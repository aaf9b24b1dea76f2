package chaosmesh

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/chaos-mesh/chaos-mesh/api/genericwebhook"
	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/faultline-dev/faultline/injectors"
)

// Spec is the YAML of chaosMesh: {kind: StressChaos, namespace: shop, spec: {...}}.
type Spec struct {
	// Kind is the Chaos Mesh kind: one of Kinds.
	Kind string `yaml:"kind" json:"kind"`
	// Namespace the object is created in; default: the first namespace of its
	// selector, else "default". The selector's namespaces default to it, as in
	// Chaos Mesh.
	Namespace string `yaml:"namespace,omitempty" json:"namespace,omitempty"`
	// Spec is the kind's spec, a pointer to the api module's type
	// (*v1alpha1.StressChaosSpec, ...), decoded strictly.
	Spec any `yaml:"-" json:"spec"`
}

var _ injectors.Union = (*Spec)(nil)

// UnionKeys implements injectors.Union.
func (s *Spec) UnionKeys() (string, string) { return "kind", "spec" }

// Variants implements injectors.Union.
func (s *Spec) Variants() []string { return Kinds }

// NewVariant implements injectors.Union.
func (s *Spec) NewVariant(kind string) any {
	k, ok := lookupKind(kind)
	if !ok {
		return nil
	}
	return k.newSpec()
}

// SetVariant implements injectors.Union.
func (s *Spec) SetVariant(v any) { s.Spec = v }

// MarshalJSON writes {kind, namespace, spec} with the spec as Chaos Mesh writes it.
func (s Spec) MarshalJSON() ([]byte, error) {
	type plain Spec
	return json.Marshal(plain(s))
}

// Validate checks the kind, the namespace, Faultline's rules (a selector mode,
// no remote cluster) and Chaos Mesh's own webhook validation of the spec.
func (s *Spec) Validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	k, ok := lookupKind(s.Kind)
	if !ok {
		return field.ErrorList{field.NotSupported(p.Child("kind"), s.Kind, Kinds)}
	}
	if s.Namespace != "" {
		for _, msg := range validation.IsDNS1123Label(s.Namespace) {
			errs = append(errs, field.Invalid(p.Child("namespace"), s.Namespace, msg))
		}
	}
	sp := p.Child("spec")
	if s.Spec == nil {
		return append(errs, field.Required(sp, "the "+s.Kind+" spec"))
	}
	obj, err := k.newObject(s.Spec, s.namespaceOr("default"), "validate")
	if err != nil {
		return append(errs, field.Invalid(sp, s.Kind, err.Error()))
	}
	keys, sels := podSelectors(obj)
	for _, key := range keys {
		sel := sels[key]
		path := sp
		if key != "." {
			path = sp.Child(strings.ToLower(strings.TrimPrefix(key, ".")))
		}
		errs = append(errs, validateMode(path, sel)...)
	}
	if rc := reflect.ValueOf(s.Spec).Elem().FieldByName("RemoteCluster"); rc.IsValid() && rc.String() != "" {
		errs = append(errs, field.Forbidden(sp.Child("remoteCluster"), "Faultline selects the pods in the target cluster itself; remote clusters are not supported"))
	}
	if d := durationOf(obj); d != nil && *d != nil {
		if v, err := time.ParseDuration(**d); err != nil || v <= 0 {
			errs = append(errs, field.Invalid(sp.Child("duration"), **d, "must be a positive duration such as \"30s\""))
		}
	}
	// Chaos Mesh's admission webhook: default, then validate, as the API server would.
	genericwebhook.Default(obj)
	for _, fe := range genericwebhook.Validate(obj) {
		fe.Field = mapPath(sp, reflect.TypeOf(obj).Elem(), fe.Field)
		errs = append(errs, fe)
	}
	return errs
}

func (s *Spec) namespaceOr(def string) string {
	if s.Namespace != "" {
		return s.Namespace
	}
	return def
}

var selectorModes = []string{string(v1alpha1.OneMode), string(v1alpha1.AllMode), string(v1alpha1.FixedMode),
	string(v1alpha1.FixedPercentMode), string(v1alpha1.RandomMaxPercentMode)}

// validateMode requires one of Chaos Mesh's modes (its CRD does; its webhook
// checks the value).
func validateMode(p *field.Path, sel *v1alpha1.PodSelector) field.ErrorList {
	switch sel.Mode {
	case v1alpha1.OneMode, v1alpha1.AllMode, v1alpha1.FixedMode, v1alpha1.FixedPercentMode, v1alpha1.RandomMaxPercentMode:
		return nil
	case "":
		return field.ErrorList{field.Required(p.Child("mode"), "one of "+strings.Join(selectorModes, ", "))}
	}
	return field.ErrorList{field.NotSupported(p.Child("mode"), string(sel.Mode), selectorModes)}
}

// mapPath turns a path of Chaos Mesh's webhook ("Spec.PodSelector.Selector.value",
// Go field names mixed with JSON ones, inlined structs named) into the YAML path
// under sp ("spec.selector.value"): inlined fields vanish, Go names become keys.
func mapPath(sp *field.Path, t reflect.Type, goPath string) string {
	out := sp.String()
	segs := strings.Split(goPath, ".")
	if len(segs) > 0 && strings.HasPrefix(segs[0], "Spec") {
		if f, ok := t.FieldByName("Spec"); ok {
			t = f.Type
		}
		segs[0] = strings.TrimPrefix(segs[0], "Spec")
		if segs[0] == "" {
			segs = segs[1:]
		} else {
			out += segs[0] // an index: Spec[0]
			segs = segs[1:]
		}
	}
	for _, seg := range segs {
		name, idx, _ := strings.Cut(seg, "[")
		if idx != "" {
			idx = "[" + idx
		}
		key, next, inline := fieldKey(t, name)
		t = next
		if !inline {
			out += "." + key
		}
		out += idx
		if t != nil && idx != "" && (t.Kind() == reflect.Slice || t.Kind() == reflect.Map || t.Kind() == reflect.Array) {
			t = elem(t.Elem())
		}
	}
	return out
}

// fieldKey finds the field of struct t with Go name or JSON name n.
func fieldKey(t reflect.Type, n string) (key string, next reflect.Type, inline bool) {
	t = elem(t)
	if t == nil || t.Kind() != reflect.Struct {
		return n, nil, false
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Name != n && tag != n {
			continue
		}
		if tag == "" && strings.Contains(f.Tag.Get("json"), "inline") {
			return "", elem(f.Type), true
		}
		if tag == "" {
			tag = f.Name
		}
		return tag, elem(f.Type), false
	}
	return n, nil, false
}

func elem(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// selectorValue parses a Chaos Mesh selector value ("2", "50").
func selectorValue(v string) int {
	n, _ := strconv.Atoi(v)
	return n
}
