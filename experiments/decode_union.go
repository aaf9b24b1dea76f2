package experiments

import (
	"encoding/base64"
	"reflect"

	"go.yaml.in/yaml/v3"

	"github.com/faultline-dev/faultline/injectors"
)

var (
	unionType = reflect.TypeFor[injectors.Union]()
	bytesType = reflect.TypeFor[[]byte]()
)

// unionOf returns v as an injectors.Union when its pointer implements it.
func unionOf(v reflect.Value) (injectors.Union, bool) {
	if v.Kind() != reflect.Struct || !v.CanAddr() || !reflect.PointerTo(v.Type()).Implements(unionType) {
		return nil, false
	}
	return v.Addr().Interface().(injectors.Union), true
}

// union decodes a {discriminator, variant} mapping: the struct's own fields first,
// then the variant key strictly into the type the discriminator names. An unknown
// or missing discriminator is left to the spec's Validate (its path points here).
func (d *decoder) union(n *yaml.Node, v reflect.Value, path string, u injectors.Union) {
	disc, variant := u.UnionKeys()
	var vn *yaml.Node
	unknown := d.structFields(n, v, path, func(k, val *yaml.Node) bool {
		if k.Value != variant {
			return false
		}
		vn = val
		return true
	})
	names := append(append([]string(nil), structInfoOf(v.Type()).names...), variant)
	for _, k := range unknown {
		d.unknownField(k, path, names, "")
	}
	if vn == nil || isNull(vn) {
		return
	}
	d.pos[join(path, variant)] = vn
	f, ok := structInfoOf(v.Type()).byName[disc]
	if !ok {
		return
	}
	dv, ok := fieldValue(v, f.index)
	if !ok || dv.Kind() != reflect.String {
		return
	}
	ptr := u.NewVariant(dv.String())
	if ptr == nil {
		return
	}
	d.value(vn, reflect.ValueOf(ptr).Elem(), join(path, variant))
	u.SetVariant(ptr)
}

// bytes decodes a []byte from a base64 string, as Kubernetes' JSON does.
func (d *decoder) bytes(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode {
		d.typeErr(n, path, "must be a base64 string, got %s", describe(n))
		return
	}
	b, err := base64.StdEncoding.DecodeString(n.Value)
	if err != nil {
		d.typeErr(n, path, "must be base64: %v", err)
		return
	}
	v.SetBytes(b)
}

// unionSchema is the schema of a Union struct: its own fields, the discriminator as
// an enum, and the variant's schema chosen by the discriminator (if/then).
func (g *schemaGen) unionSchema(t reflect.Type, depth int) map[string]any {
	s, props := g.object(t, depth)
	u := reflect.New(t).Interface().(injectors.Union)
	disc, variant := u.UnionKeys()
	kinds := u.Variants()
	if p, ok := props[disc].(map[string]any); ok {
		p["enum"] = kinds
	}
	props[variant] = map[string]any{"type": "object"}
	req, _ := s["required"].([]string)
	s["required"] = append(req, variant)
	var all []any
	for _, k := range kinds {
		vt := reflect.TypeOf(u.NewVariant(k))
		if vt == nil {
			continue
		}
		all = append(all, map[string]any{
			"if":   map[string]any{"properties": map[string]any{disc: map[string]any{"const": k}}, "required": []string{disc}},
			"then": map[string]any{"properties": map[string]any{variant: g.schema(vt, depth+1)}},
		})
	}
	if len(all) > 0 {
		s["allOf"] = all
	}
	return s
}
