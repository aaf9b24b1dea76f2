package experiments

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// goExperiment is a valid experiment built in Go, without defaults.
func goExperiment() *Experiment {
	return &Experiment{
		APIVersion: APIVersion, Kind: Kind,
		Metadata: Metadata{Name: "built-in-go"},
		Spec: Spec{
			SteadyState: SteadyState{Probes: []Probe{
				{Name: "web", Kind: "testHTTP", Spec: &testHTTPSpec{URL: "http://127.0.0.1:1/"}},
			}},
			Faults: []Fault{
				{Name: "kill", Kind: "testKill", Spec: &testKillSpec{Count: 1}},
				{Name: "slow", Duration: time.Minute, Kind: "testDelay", Spec: &testDelaySpec{Proxy: "p", Latency: time.Second}},
			},
			Proxies: []ProxySpec{{Name: "p", API: "127.0.0.1:8474"}},
			Verify:  []Assertion{{Kind: "testHeal", Spec: &testHealSpec{Probe: "web", RecoversWithin: time.Second}}},
		},
	}
}

func TestValidateGoExperiment(t *testing.T) {
	reg := testRegistries(t)
	e := goExperiment()
	if err := e.Validate(reg); err != nil {
		t.Fatalf("valid experiment: %v", err)
	}
	e.SetDefaults()
	if err := e.Validate(reg); err != nil {
		t.Fatalf("after SetDefaults: %v", err)
	}
	if e.Spec.Faults[0].Duration != DefaultFaultDuration || e.Spec.Faults[1].Duration != time.Minute {
		t.Errorf("durations after SetDefaults: %v, %v", e.Spec.Faults[0].Duration, e.Spec.Faults[1].Duration)
	}
}

func TestValidateGoExperimentProblems(t *testing.T) {
	reg := testRegistries(t)
	e := goExperiment()
	e.Source = "suite_test.go"
	e.APIVersion = ""
	e.Metadata.Name = "-bad-"
	e.Spec.SteadyState.Probes[0].Every = -time.Second
	e.Spec.Faults[0].Spec = &testKillSpec{Count: 0}
	e.Spec.Faults[1].Name = "kill"
	e.Spec.Faults[1].Spec = &testDelaySpec{Proxy: "nope", Latency: time.Second}
	e.Spec.Faults = append(e.Spec.Faults,
		Fault{Name: "wrong-type", Kind: "testKill", Spec: &testHTTPSpec{}},
		Fault{Name: "unknown", Kind: "podKill", Spec: &testKillSpec{}},
		Fault{Name: "nil-spec", Kind: "testKill"},
		Fault{Name: "no-kind"},
	)
	e.Spec.Verify[0].Spec = &testHealSpec{Probe: "api", RecoversWithin: time.Second}
	e.Spec.Abort = []AbortRule{{Probe: "web", SuccessRatioBelow: 2}}

	err := e.Validate(reg)
	var verr *ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("err = %v, want *ValidationError", err)
	}
	want := []string{
		"suite_test.go: apiVersion: required (faultline.dev/v1alpha1)",
		"suite_test.go: metadata.name: must be a DNS-1123 name: at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit",
		"suite_test.go: spec.steadyState.probes[0].every: must be > 0",
		"suite_test.go: spec.faults[0].testKill.count: must be >= 1",
		`suite_test.go: spec.faults[1].name: duplicate name "kill" (first at spec.faults[0].name)`,
		`suite_test.go: spec.faults[1].testDelay.proxy: references undefined proxy "nope"`,
		"suite_test.go: spec.faults[2].testKill: spec has type *experiments.testHTTPSpec, want *experiments.testKillSpec",
		`suite_test.go: spec.faults[3]: unknown injector "podKill" (injector keys: testDelay, testKill)`,
		"suite_test.go: spec.faults[4].testKill: missing spec",
		"suite_test.go: spec.faults[5]: missing injector key: need exactly one of: testDelay, testKill",
		`suite_test.go: spec.verify[0].testHeal.probe: references undefined probe "api"`,
		"suite_test.go: spec.abort[0].successRatioBelow: must be > 0 and <= 1",
	}
	if got := err.Error(); got != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
	for _, p := range verr.Problems {
		if p.Line != 0 || p.Col != 0 {
			t.Errorf("problem of a Go experiment has a position: %+v", p)
		}
	}
}

// A zero value in Go means "default"; written out as 0s in YAML it is an error
// (it would silently become the default).
func TestExplicitZeroDuration(t *testing.T) {
	reg := testRegistries(t)
	e := goExperiment()
	e.Spec.SteadyState.Recovery = 0
	if err := e.Validate(reg); err != nil {
		t.Fatalf("zero in Go: %v", err)
	}
	doc := strings.Replace(mustRead(t, "testdata/minimal.good.yaml"), "  steadyState:\n", "  steadyState:\n    recovery: 0s\n", 1)
	_, err := Decode([]byte(doc), "m.yaml", reg)
	got := problemsOf(t, err)
	if want := "7:15: spec.steadyState.recovery: must be > 0"; len(got) != 1 || got[0] != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestFieldMessage(t *testing.T) {
	reg := testRegistries(t)
	e := goExperiment()
	e.Spec.Faults[0].Spec = &testKillSpec{Count: 1, Signal: "HUP"}
	e.Spec.Faults[1].Spec = &testDelaySpec{Latency: time.Second}
	err := e.Validate(reg)
	want := `spec.faults[0].testKill.signal: unsupported value "HUP": supported values: "KILL", "TERM", "STOP"` + "\n" +
		`spec.faults[1].testDelay.proxy: required`
	if err == nil || err.Error() != want {
		t.Errorf("got:\n%v\nwant:\n%s", err, want)
	}
}

func TestValidateLabels(t *testing.T) {
	e := goExperiment()
	e.Metadata.Labels = map[string]string{"team": "checkout", "bad key": "x", "tier": "not ok!"}
	err := e.Validate(testRegistries(t))
	if err == nil {
		t.Fatal("no error")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], `metadata.labels: invalid label key "bad key": name part must consist of`) ||
		!strings.HasPrefix(lines[1], "metadata.labels[tier]: invalid label value: a valid label must be") {
		t.Errorf("got:\n%v", err)
	}
}
