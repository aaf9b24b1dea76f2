package experiments

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// checkInline checks the key of a fault, probe or assertion entry at p, and its
// spec: type, then the spec's own Validate.
func checkInline(c *checker, p string, fam *family, kind string, spec any) {
	if kind == "" {
		c.add(p, "missing %s key: need exactly one of: %s", fam.noun, keyList(fam.keys(c.reg)))
		return
	}
	newSpec, _, ok := fam.lookup(c.reg, kind)
	if !ok {
		c.add(p, "unknown %s %q (%s keys: %s)", fam.noun, kind, fam.noun, keyList(fam.keys(c.reg)))
		return
	}
	sp := p + "." + kind
	if spec == nil {
		c.add(sp, "missing spec")
		return
	}
	if want := reflect.TypeOf(newSpec()); reflect.TypeOf(spec) != want {
		c.add(sp, "spec has type %T, want %s", spec, want)
		return
	}
	v, ok := spec.(interface {
		Validate(*field.Path) field.ErrorList
	})
	if !ok {
		return
	}
	for _, fe := range safeValidate(v, specPath(sp)) {
		msg := fieldMessage(fe)
		if fe.Type == field.ErrorTypeInvalid && c.explicit != nil && !c.explicit(fe.Field) && zeroValue(fe.BadValue) {
			// The key is absent: it is missing, not wrong ("percent: required", not
			// "percent: must be > 0" when the block has only a misspelt "loss").
			msg = "required: " + msg
		}
		c.add(fe.Field, "%s", msg)
	}
}

// specPath builds the field.Path of "spec.faults[1].processKill".
func specPath(s string) *field.Path {
	var p *field.Path
	for _, part := range strings.Split(s, ".") {
		name, idx, _ := strings.Cut(part, "[")
		if p == nil {
			p = field.NewPath(name)
		} else {
			p = p.Child(name)
		}
		if i, err := strconv.Atoi(strings.TrimSuffix(idx, "]")); err == nil {
			p = p.Index(i)
		}
	}
	return p
}

func safeValidate(v interface {
	Validate(*field.Path) field.ErrorList
}, p *field.Path) (errs field.ErrorList) {
	defer func() {
		if r := recover(); r != nil {
			errs = field.ErrorList{field.InternalError(p, fmt.Errorf("validate panicked: %v", r))}
		}
	}()
	return v.Validate(p)
}

// fieldMessage renders a field.Error without its path, in our style: the detail
// alone when the validator wrote one ("must be >= 1").
func fieldMessage(e *field.Error) string {
	switch e.Type {
	case field.ErrorTypeRequired:
		if e.Detail != "" {
			return "required: " + e.Detail
		}
		return "required"
	case field.ErrorTypeNotSupported:
		msg := fmt.Sprintf("unsupported value %s", badValue(e.BadValue))
		if e.Detail != "" {
			msg += ": " + e.Detail
		}
		return msg
	case field.ErrorTypeDuplicate:
		return fmt.Sprintf("duplicate value %s", badValue(e.BadValue))
	case field.ErrorTypeInternal:
		return "internal error: " + e.Detail
	}
	if e.Detail != "" {
		return e.Detail
	}
	return strings.ToLower(e.ErrorBody())
}

func badValue(v any) string {
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	return fmt.Sprint(v)
}

// checkRefs checks every string field named goName (Probe, Proxy) in spec, at any
// depth, against the defined names.
func checkRefs(c *checker, p string, spec any, goName, noun string, defined map[string]string) {
	if spec == nil {
		return
	}
	walkRefs(reflect.ValueOf(spec), p, goName, 0, func(path, name string) {
		if _, ok := defined[name]; !ok && name != "" {
			c.add(path, "references undefined %s %q", noun, name)
		}
	})
}

func walkRefs(v reflect.Value, path, goName string, depth int, fn func(path, name string)) {
	if depth > 16 || !v.IsValid() {
		return
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			walkRefs(v.Elem(), path, goName, depth+1, fn)
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			walkRefs(v.Index(i), path+"["+strconv.Itoa(i)+"]", goName, depth+1, fn)
		}
	case reflect.Struct:
		for _, f := range structInfoOf(v.Type()).fields {
			fv, ok := fieldValue(v, f.index)
			if !ok {
				continue
			}
			if f.goName == goName && fv.Kind() == reflect.String {
				fn(join(path, f.name), fv.String())
				continue
			}
			walkRefs(fv, join(path, f.name), goName, depth+1, fn)
		}
	}
}

// zeroValue reports whether a field error's bad value is the zero of its type, as
// an absent key decodes.
func zeroValue(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == "" || x == "0" || x == "0s"
	case bool:
		return !x
	}
	rv := reflect.ValueOf(v)
	return rv.IsValid() && rv.IsZero()
}
