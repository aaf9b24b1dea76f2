package experiments

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/faultline-dev/faultline/injectors"
)

// shapeSpec has the Go shapes a spec author may reach for: an inlined struct, a
// TextUnmarshaler (time.Time), a json.Unmarshaler (intstr.IntOrString), free-form
// values, unsigned and small ints, float32, pointers to scalars, json-only tags.
type shapeSpec struct {
	shapeCommon `yaml:",inline"`
	At          time.Time          `yaml:"at,omitempty"`
	MaxUnavail  intstr.IntOrString `yaml:"maxUnavailable,omitempty"`
	Extra       any                `yaml:"extra,omitempty"`
	Limit       uint8              `yaml:"limit,omitempty"`
	Ratio       float32            `yaml:"ratio,omitempty"`
	Enabled     *bool              `yaml:"enabled,omitempty"`
	JSONOnly    string             `json:"jsonOnly,omitempty"`
	Ignored     string             `yaml:"-"`
}

type shapeCommon struct {
	Namespace string `yaml:"namespace,omitempty"`
}

const shapesDoc = `apiVersion: faultline.dev/v1alpha1
kind: Experiment
metadata: {name: shapes}
spec:
  steadyState:
    probes: [{name: web, testTCP: {address: "x:1"}}]
  faults:
    - name: shapes
      shape:
        namespace: default
        at: 2026-11-23T06:00:00Z
        maxUnavailable: 25%
        extra: {a: [1, two, {b: true}]}
        limit: 200
        ratio: 0.25
        enabled: false
        jsonOnly: yes
`

func shapeRegistries(t *testing.T) Registries {
	reg := testRegistries(t)
	err := reg.Injectors.Register(injectors.Definition{Key: "shape", NewSpec: func() any { return &shapeSpec{} },
		New: func(any, *injectors.Env) (injectors.Injector, error) { return nil, errTestOnly }})
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func TestDecodeSpecShapes(t *testing.T) {
	reg := shapeRegistries(t)
	exp, err := Decode([]byte(shapesDoc), "shapes.yaml", reg)
	if err != nil {
		t.Fatal(err)
	}
	no := false
	want := &shapeSpec{
		shapeCommon: shapeCommon{Namespace: "default"},
		At:          time.Date(2026, 11, 23, 6, 0, 0, 0, time.UTC),
		MaxUnavail:  intstr.FromString("25%"),
		Extra:       map[string]any{"a": []any{1, "two", map[string]any{"b": true}}},
		Limit:       200, Ratio: 0.25, Enabled: &no, JSONOnly: "yes",
	}
	if got := exp.Spec.Faults[0].Spec; !reflect.DeepEqual(got, want) {
		t.Errorf("got  %#v\nwant %#v", got, want)
	}
	js, err := json.Marshal(exp)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Decode(js, "shapes.yaml", reg)
	if err != nil {
		t.Fatalf("%v\n%s", err, js)
	}
	if !reflect.DeepEqual(back, exp) {
		t.Errorf("round trip differs:\n%s", js)
	}
	if _, err := Schema(reg); err != nil {
		t.Errorf("Schema: %v", err)
	}
}

func TestDecodeSpecShapeErrors(t *testing.T) {
	reg := shapeRegistries(t)
	doc := strings.NewReplacer(
		"namespace: default", "namespace: default\n        Ignored: x",
		"2026-11-23T06:00:00Z", "yesterday",
		"limit: 200", "limit: 300",
		"enabled: false", "enabled: [x]",
	).Replace(shapesDoc)
	_, err := Decode([]byte(doc), "shapes.yaml", reg)
	want := []string{
		`11:9: spec.faults[0].shape: unknown field "Ignored"`,
		`12:13: spec.faults[0].shape.at: parsing time "yesterday" as "2006-01-02T15:04:05Z07:00": cannot parse "yesterday" as "2006"`,
		`15:16: spec.faults[0].shape.limit: integer 300 out of range`,
		`17:18: spec.faults[0].shape.enabled: must be true or false, got a list`,
	}
	if got := problemsOf(t, err); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
