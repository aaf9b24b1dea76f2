package experiments

// Encoding is the decoder's mirror: one reflective pass builds a yaml.Node tree
// (inline fault/probe/assertion keys, durations as "1m30s", omitempty honoured),
// written out as YAML by yaml.v3 or as JSON by nodeJSON. Whatever Decode reads,
// these write back, so report.json can embed an experiment that Decode reads again.

import (
	"bytes"
	"encoding"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"time"

	"go.yaml.in/yaml/v3"
)

// MarshalJSON writes the experiment as Decode reads it (durations as strings).
func (e Experiment) MarshalJSON() ([]byte, error) { return marshalJSON(e) }

// MarshalJSON writes durations as strings ("2s").
func (s Spec) MarshalJSON() ([]byte, error) { return marshalJSON(s) }

// MarshalJSON writes durations as strings ("2s").
func (s SteadyState) MarshalJSON() ([]byte, error) { return marshalJSON(s) }

// MarshalJSON writes the probe with its inline key: {"name":..,"http":{..}}.
func (p Probe) MarshalJSON() ([]byte, error) { return marshalJSON(p) }

// MarshalJSON writes durations as strings ("250ms").
func (s SLO) MarshalJSON() ([]byte, error) { return marshalJSON(s) }

// MarshalJSON writes the fault with its inline key: {"name":..,"processKill":{..}}.
func (f Fault) MarshalJSON() ([]byte, error) { return marshalJSON(f) }

// MarshalJSON writes the assertion as {"<key>":{..}}.
func (a Assertion) MarshalJSON() ([]byte, error) { return marshalJSON(a) }

// MarshalJSON writes durations as strings ("5s").
func (a AbortRule) MarshalJSON() ([]byte, error) { return marshalJSON(a) }

// MarshalJSON writes durations as strings.
func (r Rollback) MarshalJSON() ([]byte, error) { return marshalJSON(r) }

// MarshalJSON writes durations as strings.
func (x ExecAction) MarshalJSON() ([]byte, error) { return marshalJSON(x) }

// MarshalJSON writes durations as strings ("10m0s").
func (s Safety) MarshalJSON() ([]byte, error) { return marshalJSON(s) }

// MarshalYAML writes the probe with its inline key.
func (p Probe) MarshalYAML() (any, error) { return encodeValue(reflect.ValueOf(p), 0) }

// MarshalYAML writes the fault with its inline key.
func (f Fault) MarshalYAML() (any, error) { return encodeValue(reflect.ValueOf(f), 0) }

// MarshalYAML writes the assertion as {<key>: {...}}.
func (a Assertion) MarshalYAML() (any, error) { return encodeValue(reflect.ValueOf(a), 0) }

func marshalJSON(v any) ([]byte, error) {
	n, err := encodeValue(reflect.ValueOf(v), 0)
	if err != nil {
		return nil, err
	}
	return nodeJSON(n)
}

var (
	textMarType = reflect.TypeFor[encoding.TextMarshaler]()
	jsonMarType = reflect.TypeFor[json.Marshaler]()
)

func scalarNode(tag, value string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: value}
}

// encodeValue builds the node of v.
func encodeValue(v reflect.Value, depth int) (*yaml.Node, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("encoding: nested deeper than %d levels (a cycle?)", maxDepth)
	}
	if !v.IsValid() {
		return scalarNode("!!null", "null"), nil
	}
	t := v.Type()
	if fam := inlineFamilies[t]; fam != nil {
		return encodeInline(v, depth)
	}
	if t == durationType {
		return scalarNode("!!str", time.Duration(v.Int()).String()), nil
	}
	if t == bytesType {
		return scalarNode("!!str", base64.StdEncoding.EncodeToString(v.Bytes())), nil
	}
	if !ownPackage(t) && t.Kind() != reflect.Pointer && t.Kind() != reflect.Interface {
		if t.Implements(textMarType) {
			b, err := v.Interface().(encoding.TextMarshaler).MarshalText()
			if err != nil {
				return nil, err
			}
			return scalarNode("!!str", string(b)), nil
		}
		if t.Implements(jsonMarType) {
			b, err := v.Interface().(json.Marshaler).MarshalJSON()
			if err != nil {
				return nil, err
			}
			var doc yaml.Node
			if err := yaml.Unmarshal(b, &doc); err != nil || len(doc.Content) != 1 {
				return nil, fmt.Errorf("encoding %s: reading its JSON: %v", t, err)
			}
			return doc.Content[0], nil
		}
	}
	switch t.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return scalarNode("!!null", "null"), nil
		}
		return encodeValue(v.Elem(), depth+1)
	case reflect.Struct:
		n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		return n, encodeFields(n, v, depth)
	case reflect.Slice, reflect.Array:
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for i := 0; i < v.Len(); i++ {
			c, err := encodeValue(v.Index(i), depth+1)
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, c)
		}
		return n, nil
	case reflect.Map:
		n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		keys := v.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return fmt.Sprint(keys[i]) < fmt.Sprint(keys[j]) })
		for _, k := range keys {
			c, err := encodeValue(v.MapIndex(k), depth+1)
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, scalarNode("!!str", fmt.Sprint(k)), c)
		}
		return n, nil
	case reflect.String:
		return scalarNode("!!str", v.String()), nil
	case reflect.Bool:
		return scalarNode("!!bool", strconv.FormatBool(v.Bool())), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return scalarNode("!!int", strconv.FormatInt(v.Int(), 10)), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return scalarNode("!!int", strconv.FormatUint(v.Uint(), 10)), nil
	case reflect.Float32, reflect.Float64:
		f := v.Float()
		if math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, fmt.Errorf("encoding: unsupported number %v", f)
		}
		s := strconv.FormatFloat(f, 'g', -1, t.Bits())
		if _, err := strconv.ParseInt(s, 10, 64); err == nil {
			return scalarNode("!!int", s), nil
		}
		return scalarNode("!!float", s), nil
	}
	return nil, fmt.Errorf("encoding: unsupported type %s", t)
}

// encodeFields appends the YAML fields of struct v to mapping n.
func encodeFields(n *yaml.Node, v reflect.Value, depth int) error {
	for _, f := range structInfoOf(v.Type()).fields {
		fv, ok := fieldValue(v, f.index)
		if !ok || f.omitEmpty && fv.IsZero() {
			continue
		}
		c, err := encodeValue(fv, depth+1)
		if err != nil {
			return err
		}
		n.Content = append(n.Content, scalarNode("!!str", f.name), c)
	}
	return nil
}

// fieldValue reads the field at index; ok is false behind a nil inlined pointer.
func fieldValue(v reflect.Value, index []int) (reflect.Value, bool) {
	for i, x := range index {
		if i > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return reflect.Value{}, false
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	return v, true
}

// encodeInline writes a Fault, Probe or Assertion: its fields, then {Kind: Spec}.
func encodeInline(v reflect.Value, depth int) (*yaml.Node, error) {
	n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	if err := encodeFields(n, v, depth); err != nil {
		return nil, err
	}
	c := reflect.New(v.Type())
	c.Elem().Set(v)
	kind, spec := kindSpec(c.Elem())
	if *kind == "" {
		return n, nil
	}
	sn := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	if *spec != nil {
		var err error
		if sn, err = encodeValue(reflect.ValueOf(*spec), depth+1); err != nil {
			return nil, fmt.Errorf("encoding %s: %w", *kind, err)
		}
	}
	n.Content = append(n.Content, scalarNode("!!str", *kind), sn)
	return n, nil
}

// nodeJSON writes a node tree as JSON. Scalars keep their YAML type: !!int, !!float
// and !!bool become numbers and booleans, !!null null, everything else a string.
func nodeJSON(n *yaml.Node) ([]byte, error) {
	var b bytes.Buffer
	if err := writeJSON(&b, n, 0); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func writeJSON(b *bytes.Buffer, n *yaml.Node, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("nested deeper than %d levels", maxDepth)
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			b.WriteString("null")
			return nil
		}
		return writeJSON(b, n.Content[0], depth+1)
	case yaml.MappingNode:
		b.WriteByte('{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSONString(b, n.Content[i].Value)
			b.WriteByte(':')
			if err := writeJSON(b, n.Content[i+1], depth+1); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	case yaml.SequenceNode:
		b.WriteByte('[')
		for i, c := range n.Content {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeJSON(b, c, depth+1); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			b.WriteString("null")
		case "!!bool":
			v, err := strconv.ParseBool(n.Value)
			if err != nil {
				v = n.Value == "True" || n.Value == "TRUE"
			}
			b.WriteString(strconv.FormatBool(v))
		case "!!int":
			if i, err := strconv.ParseInt(n.Value, 0, 64); err == nil {
				b.WriteString(strconv.FormatInt(i, 10))
			} else if u, err := strconv.ParseUint(n.Value, 0, 64); err == nil {
				b.WriteString(strconv.FormatUint(u, 10))
			} else {
				return fmt.Errorf("integer %q out of range", n.Value)
			}
		case "!!float":
			f, err := strconv.ParseFloat(n.Value, 64)
			if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
				return fmt.Errorf("number %q has no JSON form", n.Value)
			}
			b.WriteString(strconv.FormatFloat(f, 'g', -1, 64))
		default:
			writeJSONString(b, n.Value)
		}
	default:
		return fmt.Errorf("cannot write %s as JSON", describe(n))
	}
	return nil
}

func writeJSONString(b *bytes.Buffer, s string) {
	q, _ := json.Marshal(s) // never fails for a string
	b.Write(q)
}
