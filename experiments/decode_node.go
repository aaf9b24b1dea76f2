package experiments

import (
	"encoding"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"
)

// decoder fills Go values from yaml.Nodes by reflection, strictly: unknown keys at
// any depth, duplicate keys and values of the wrong type are problems, all of them
// collected with their line:col. It never panics on input.
type decoder struct {
	source   string
	reg      Registries
	problems []Problem
	// pos maps field paths ("spec.faults[1].processKill.count") to the value nodes,
	// so validation problems can be placed.
	pos map[string]*yaml.Node
	// badTree: paths whose value had the wrong type; validation problems at or
	// below them repeat the decoding problem. badExact: the path alone.
	badTree, badExact map[string]bool
	// misspelt maps the path of a field to an unknown key that was probably meant
	// as it ("spec.faults" → "Faults"): what is missing then is a consequence.
	misspelt map[string]*yaml.Node
}

func newDecoder(source string, reg Registries) *decoder {
	return &decoder{source: source, reg: reg, pos: make(map[string]*yaml.Node, 256),
		badTree: map[string]bool{}, badExact: map[string]bool{}, misspelt: map[string]*yaml.Node{}}
}

func (d *decoder) fail(n *yaml.Node, path, format string, args ...any) {
	d.problems = append(d.problems, Problem{File: d.source, Line: n.Line, Col: n.Column, Field: path,
		Message: fmt.Sprintf(format, args...)})
}

func (d *decoder) typeErr(n *yaml.Node, path, format string, args ...any) {
	d.fail(n, path, format, args...)
	d.badTree[path] = true
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	yamlUnmType  = reflect.TypeFor[yaml.Unmarshaler]()
	textUnmType  = reflect.TypeFor[encoding.TextUnmarshaler]()
	jsonUnmType  = reflect.TypeFor[json.Unmarshaler]()
)

// value decodes n into v (settable) at path.
func (d *decoder) value(n *yaml.Node, v reflect.Value, path string) {
	d.pos[path] = n
	if n.Kind == yaml.AliasNode { // refused by walkLimits already; never follow one
		d.typeErr(n, path, "YAML aliases are not supported")
		return
	}
	if isNull(n) {
		return // absent: the zero value (defaults come later)
	}
	t := v.Type()
	if fam := inlineFamilies[t]; fam != nil {
		d.inline(n, v, path, fam)
		return
	}
	if t == durationType {
		d.duration(n, v, path)
		return
	}
	if u := unmarshalerOf(t); u != noUnmarshaler && d.unmarshaler(u, n, v, path) {
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		p := reflect.New(t.Elem())
		d.value(n, p.Elem(), path)
		v.Set(p)
	case reflect.Struct:
		unknown := d.structFields(n, v, path, nil)
		for _, k := range unknown {
			d.unknownField(k, path, structInfoOf(t).names, "")
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.typeErr(n, path, "must be a list, got %s", describe(n))
			return
		}
		s := reflect.MakeSlice(t, len(n.Content), len(n.Content))
		for i, c := range n.Content {
			d.value(c, s.Index(i), path+"["+strconv.Itoa(i)+"]")
		}
		v.Set(s)
	case reflect.Map:
		d.mapValue(n, v, path)
	case reflect.Interface:
		if t.NumMethod() != 0 {
			d.typeErr(n, path, "cannot decode into %s", t)
			return
		}
		var x any
		if err := n.Decode(&x); err != nil {
			d.typeErr(n, path, "%v", err)
		} else if x != nil {
			v.Set(reflect.ValueOf(x))
		}
	default:
		d.scalar(n, v, path)
	}
}

// ownPackage reports whether t is one of this package's model types; their
// MarshalJSON methods are not decoding hooks.
func ownPackage(t reflect.Type) bool {
	return t.PkgPath() == reflect.TypeFor[Experiment]().PkgPath()
}

type unmarshalerKind uint8

const (
	noUnmarshaler unmarshalerKind = iota + 1
	yamlUnmarshaler
	textUnmarshaler
	jsonUnmarshaler
)

var unmarshalers sync.Map // reflect.Type → unmarshalerKind

// unmarshalerOf says how values of t decode themselves, if they do. This package's
// own types are decoded here, whatever methods they have.
func unmarshalerOf(t reflect.Type) unmarshalerKind {
	if u, ok := unmarshalers.Load(t); ok {
		return u.(unmarshalerKind)
	}
	u := noUnmarshaler
	pt := reflect.PointerTo(t)
	switch {
	case t.Kind() == reflect.Pointer || t.Kind() == reflect.Interface || ownPackage(t):
	case pt.Implements(yamlUnmType):
		u = yamlUnmarshaler
	case pt.Implements(textUnmType):
		u = textUnmarshaler
	case pt.Implements(jsonUnmType):
		u = jsonUnmarshaler
	}
	unmarshalers.Store(t, u)
	return u
}

// unmarshaler lets types that decode themselves do so (yaml.Unmarshaler, and for
// scalars encoding.TextUnmarshaler, then json.Unmarshaler).
func (d *decoder) unmarshaler(u unmarshalerKind, n *yaml.Node, v reflect.Value, path string) bool {
	if !v.CanAddr() {
		return false
	}
	var err error
	switch {
	case u == yamlUnmarshaler:
		err = v.Addr().Interface().(yaml.Unmarshaler).UnmarshalYAML(n)
	case u == textUnmarshaler:
		if n.Kind != yaml.ScalarNode {
			d.typeErr(n, path, "must be a string, got %s", describe(n))
			return true
		}
		err = v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(n.Value))
	case u == jsonUnmarshaler:
		var b []byte
		if b, err = nodeJSON(n); err == nil {
			err = v.Addr().Interface().(json.Unmarshaler).UnmarshalJSON(b)
		}
	default:
		return false
	}
	if err != nil {
		d.typeErr(n, path, "%v", err)
	}
	return true
}

// structFields decodes the keys of mapping n that are fields of struct v. Keys that
// are not fields are offered to extra (if not nil); those it declines are returned.
func (d *decoder) structFields(n *yaml.Node, v reflect.Value, path string,
	extra func(k, val *yaml.Node) bool) (unknown []*yaml.Node) {
	if n.Kind != yaml.MappingNode {
		d.typeErr(n, path, "must be a mapping, got %s", describe(n))
		return nil
	}
	si := structInfoOf(v.Type())
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if !d.key(n, i, path) {
			continue
		}
		if f, ok := si.byName[k.Value]; ok {
			d.value(val, fieldOf(v, f.index), join(path, k.Value))
			continue
		}
		if extra != nil && extra(k, val) {
			continue
		}
		unknown = append(unknown, k)
	}
	return unknown
}

// key checks the i-th key of mapping n: a scalar, not seen before in n.
func (d *decoder) key(n *yaml.Node, i int, path string) bool {
	k := n.Content[i]
	if k.Kind != yaml.ScalarNode {
		d.fail(k, path, "keys must be strings, got %s", describe(k))
		return false
	}
	for j := 0; j < i; j += 2 {
		if p := n.Content[j]; p.Kind == yaml.ScalarNode && p.Value == k.Value {
			d.fail(k, path, "duplicate key %q (first at line %d)", k.Value, p.Line)
			return false
		}
		if j > 64 { // long mappings: the quadratic scan is not worth it
			break
		}
	}
	return true
}

// maxSuggestions bounds the did-you-mean work on documents full of unknown keys.
const maxSuggestions = 100

// unknownField reports key k of the mapping at path, suggesting the closest of
// candidates; hint is appended when there is no suggestion.
func (d *decoder) unknownField(k *yaml.Node, path string, candidates []string, hint string) {
	if len(d.problems) > maxSuggestions {
		candidates = nil // hostile input: keep it linear
	}
	if s := suggest(k.Value, candidates); s != "" {
		d.fail(k, path, "unknown field %q (did you mean %q?)", k.Value, s)
		d.misspelt[join(path, s)] = k
		return
	}
	d.fail(k, path, "unknown field %q%s", k.Value, hint)
}

func (d *decoder) mapValue(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.typeErr(n, path, "must be a mapping, got %s", describe(n))
		return
	}
	t := v.Type()
	m := reflect.MakeMapWithSize(t, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if !d.key(n, i, path) {
			continue
		}
		kv := reflect.New(t.Key()).Elem()
		if kv.Kind() == reflect.String {
			kv.SetString(k.Value)
		} else {
			before := len(d.problems)
			d.value(k, kv, path)
			d.pos[path] = n
			if len(d.problems) > before {
				continue
			}
		}
		ev := reflect.New(t.Elem()).Elem()
		d.value(val, ev, path+"["+k.Value+"]")
		m.SetMapIndex(kv, ev)
	}
	v.Set(m)
}

func (d *decoder) duration(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode {
		d.typeErr(n, path, "must be a duration such as \"100ms\" or \"1m30s\", got %s", describe(n))
		return
	}
	dur, err := time.ParseDuration(n.Value)
	if err != nil {
		why := `want a number and a unit (ns, us, ms, s, m, h), e.g. "100ms", "1m30s"`
		if _, nerr := strconv.ParseFloat(n.Value, 64); nerr == nil {
			why = fmt.Sprintf("missing unit, e.g. \"%ss\"", n.Value)
		}
		d.typeErr(n, path, "invalid duration %q: %s", n.Value, why)
		return
	}
	v.SetInt(int64(dur))
}

func (d *decoder) scalar(n *yaml.Node, v reflect.Value, path string) {
	t := v.Type()
	want := "an integer"
	switch t.Kind() {
	case reflect.String:
		want = "a string"
	case reflect.Bool:
		want = "true or false"
	case reflect.Float32, reflect.Float64:
		want = "a number"
	}
	if n.Kind != yaml.ScalarNode {
		d.typeErr(n, path, "must be %s, got %s", want, describe(n))
		return
	}
	tag := n.ShortTag()
	bad := func() { d.typeErr(n, path, "must be %s, got %s", want, describe(n)) }
	switch t.Kind() {
	case reflect.String:
		v.SetString(n.Value)
	case reflect.Bool:
		if tag != "!!bool" {
			bad()
			return
		}
		b, _ := strconv.ParseBool(strings.ToLower(n.Value))
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i, err := strconv.ParseInt(n.Value, 0, 64)
		if tag != "!!int" {
			bad()
			return
		}
		if err != nil || v.OverflowInt(i) {
			d.typeErr(n, path, "integer %s out of range", n.Value)
			return
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		i, err := strconv.ParseUint(n.Value, 0, 64)
		if tag != "!!int" || err != nil {
			if tag == "!!int" && strings.HasPrefix(n.Value, "-") {
				d.typeErr(n, path, "must be >= 0")
				return
			} else if tag == "!!int" {
				d.typeErr(n, path, "integer %s out of range", n.Value)
				return
			}
			bad()
			return
		}
		if v.OverflowUint(i) {
			d.typeErr(n, path, "integer %s out of range", n.Value)
			return
		}
		v.SetUint(i)
	case reflect.Float32, reflect.Float64:
		var f float64
		var err error
		if tag == "!!int" {
			var i int64
			i, err = strconv.ParseInt(n.Value, 0, 64)
			f = float64(i)
		} else if tag == "!!float" {
			f, err = strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64)
		} else {
			bad()
			return
		}
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			d.typeErr(n, path, "must be a finite number, got %s", n.Value)
			return
		}
		v.SetFloat(f)
	default:
		d.typeErr(n, path, "cannot decode into %s", t)
	}
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names what a node is, for "must be X, got Y".
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		if isNull(n) {
			return "null"
		}
		v := n.Value
		if len(v) > 40 {
			v = v[:40] + "..."
		}
		return strconv.Quote(v)
	}
	return "nothing"
}
