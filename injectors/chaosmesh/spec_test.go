package chaosmesh_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"

	"github.com/faultline-dev/faultline/experiments"
	"github.com/faultline-dev/faultline/injectors"
	"github.com/faultline-dev/faultline/injectors/chaosmesh"
)

func registries(t *testing.T) experiments.Registries {
	t.Helper()
	reg, err := experiments.DefaultRegistries()
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// experiment wraps one fault block (indented by 6) into a document; the fault's
// first line is line 10.
func experiment(fault string) string {
	return `apiVersion: faultline.dev/v1alpha1
kind: Experiment
metadata: {name: cm}
spec:
  target: {kubernetes: {}}
  steadyState:
    probes: [{name: up, tcp: {address: "127.0.0.1:1"}}]
  faults:
    - name: f
` + fault
}

func decode(t *testing.T, doc string) (*experiments.Experiment, error) {
	t.Helper()
	return experiments.Decode([]byte(doc), "exp.yaml", registries(t))
}

func TestDecodeStressChaosIntoTheAPITypes(t *testing.T) {
	exp, err := decode(t, experiment(`      duration: 30s
      chaosMesh:
        kind: StressChaos
        spec:
          mode: one
          selector: {namespaces: [shop], labelSelectors: {app: web}}
          stressors:
            cpu: {workers: 2, load: 80}
            memory: {workers: 1, size: 256MB}
`))
	if err != nil {
		t.Fatal(err)
	}
	s := exp.Spec.Faults[0].Spec.(*chaosmesh.Spec)
	spec, ok := s.Spec.(*v1alpha1.StressChaosSpec)
	if !ok {
		t.Fatalf("spec is %T, want *v1alpha1.StressChaosSpec", s.Spec)
	}
	if spec.Mode != v1alpha1.OneMode || spec.Selector.LabelSelectors["app"] != "web" || spec.Stressors.CPUStressor.Workers != 2 ||
		spec.Stressors.CPUStressor.Load == nil || *spec.Stressors.CPUStressor.Load != 80 || spec.Stressors.MemoryStressor.Size != "256MB" {
		t.Fatalf("decoded %+v", spec)
	}
	// The report embeds the experiment; it must read back the same.
	b, err := json.Marshal(exp)
	if err != nil {
		t.Fatal(err)
	}
	again, err := experiments.Decode(b, "report.json", registries(t))
	if err != nil {
		t.Fatalf("re-decoding the marshalled experiment: %v\n%s", err, b)
	}
	if got := again.Spec.Faults[0].Spec.(*chaosmesh.Spec).Spec.(*v1alpha1.StressChaosSpec); got.Stressors.CPUStressor.Workers != 2 {
		t.Fatalf("round trip lost the spec: %+v", got)
	}
}

func TestDecodeErrorsPointAtTheKey(t *testing.T) {
	cases := []struct {
		name, fault string
		want        []string
	}{
		{"misspelled key deep in the spec", `      chaosMesh:
        kind: StressChaos
        spec:
          mode: one
          selector: {namespaces: [shop]}
          stressors:
            cpu: {workerz: 2}
`, []string{`exp.yaml:16:19: spec.faults[0].chaosMesh.spec.stressors.cpu: unknown field "workerz" (did you mean "workers"?)`}},
		{"unknown kind", `      chaosMesh:
        kind: StressChoas
        spec: {mode: one}
`, []string{`exp.yaml:11:15: spec.faults[0].chaosMesh.kind: unsupported value "StressChoas": supported values: "DNSChaos", "HTTPChaos"`}},
		{"Chaos Mesh's own validation, at the field", `      chaosMesh:
        kind: NetworkChaos
        spec:
          action: delay
          mode: fixed
          value: "many"
          selector: {namespaces: [shop]}
          delay: {latency: 10 parsecs}
`, []string{
			`exp.yaml:15:18: spec.faults[0].chaosMesh.spec.value: `,
			`exp.yaml:17:28: spec.faults[0].chaosMesh.spec.delay.latency: `,
		}},
		{"mode is required", `      chaosMesh:
        kind: PodChaos
        spec: {action: pod-kill, selector: {namespaces: [shop]}}
`, []string{`spec.faults[0].chaosMesh.spec.mode: required: one of one, all, fixed, fixed-percent, random-max-percent`}},
		{"a top-level typo", `      chaosMesh:
        kind: PodChaos
        namespce: shop
        spec: {action: pod-kill, mode: one}
`, []string{`exp.yaml:12:9: spec.faults[0].chaosMesh: unknown field "namespce" (did you mean "namespace"?)`}},
		{"pods target with netns", `      networkLatency:
        target: {netns: blue, pods: {namespaces: [shop], mode: sometimes}}
        delay: 100ms
`, []string{
			`spec.faults[0].networkLatency.target.netns: must not be set together with pods`,
			`spec.faults[0].networkLatency.target.pods.mode: unsupported value "sometimes"`,
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decode(t, experiment(tc.fault))
			var ve *experiments.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("want a ValidationError, got %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("missing %q in:\n%v", w, err)
				}
			}
		})
	}
}

func TestSchemaDescribesEveryKind(t *testing.T) {
	b, err := experiments.Schema(registries(t))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range append([]string{`"chaosMesh"`, `"stressors"`, `"partitionBehavior"`, `"containerNames"`, `"timeOffset"`}, quoteAll(chaosmesh.Kinds)...) {
		if !strings.Contains(s, want) {
			t.Errorf("schema lacks %s", want)
		}
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
}

func quoteAll(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = `"` + v + `"`
	}
	return out
}

// A pods target goes to Chaos Mesh: planning needs a cluster, and never touches the
// runner's own network namespace.
func TestPodsTargetIsRoutedToChaosMesh(t *testing.T) {
	exp, err := decode(t, experiment(`      networkLoss: {target: {pods: {namespaces: [shop], labelSelector: app=web}}, percent: 20}
`))
	if err != nil {
		t.Fatal(err)
	}
	def, _ := registries(t).Injectors.Lookup("networkLoss")
	inj, err := def.New(exp.Spec.Faults[0].Spec, &injectors.Env{RunID: "r1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := inj.(injectors.Scheduled); !ok {
		t.Fatalf("%T is not the Chaos Mesh engine", inj)
	}
	_, err = inj.Plan(t.Context())
	if err == nil || !strings.Contains(err.Error(), "no kubernetes target") {
		t.Fatalf("plan without a cluster: %v", err)
	}
	// A Chaos Mesh state is recovered by Chaos Mesh, whatever the key.
	st, _ := json.Marshal(chaosmesh.State{Engine: chaosmesh.EngineName, Kind: "NetworkChaos", Namespace: "shop", Name: "x"})
	if !chaosmesh.IsState(st) || chaosmesh.IsState([]byte(`{"netns":"/run/netns/x"}`)) {
		t.Fatal("IsState misreads states")
	}
	if err := def.Recover(t.Context(), &injectors.Env{}, st); err == nil || !strings.Contains(err.Error(), "no kubernetes target") {
		t.Fatalf("recover of a Chaos Mesh state went elsewhere: %v", err)
	}
}
