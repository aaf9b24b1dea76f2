package experiments

import (
	"errors"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/faultline-dev/faultline/injectors"
	"github.com/faultline-dev/faultline/steadystate"
)

// Test-only fault, probe and assertion kinds that drive the decoder. The corpus in
// testdata/ is written against them (and, later, against the built-ins).

// testKillSpec is a fault spec with a bounded count and an enumerated signal.
type testKillSpec struct {
	Count  int    `yaml:"count,omitempty" json:"count,omitempty"`
	Signal string `yaml:"signal,omitempty" json:"signal,omitempty"`
	// Match is a nested block, to check unknown keys two levels down.
	Match *testMatch `yaml:"match,omitempty" json:"match,omitempty"`
}

type testMatch struct {
	Command string            `yaml:"command,omitempty" json:"command,omitempty"`
	Labels  map[string]string `yaml:"labels,omitempty" json:"labels,omitempty"`
}

func (s *testKillSpec) Validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if s.Count < 1 {
		errs = append(errs, field.Invalid(p.Child("count"), s.Count, "must be >= 1"))
	}
	switch s.Signal {
	case "", "KILL", "TERM", "STOP":
	default:
		errs = append(errs, field.NotSupported(p.Child("signal"), s.Signal, []string{"KILL", "TERM", "STOP"}))
	}
	return errs
}

// testDelaySpec is a fault through a proxy (a reference to spec.proxies).
type testDelaySpec struct {
	Proxy   string        `yaml:"proxy,omitempty" json:"proxy,omitempty"`
	Latency time.Duration `yaml:"latency,omitempty" json:"latency,omitempty"`
	Ports   []int         `yaml:"ports,omitempty" json:"ports,omitempty"`
}

func (s *testDelaySpec) Validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if s.Proxy == "" {
		errs = append(errs, field.Required(p.Child("proxy"), ""))
	}
	if s.Latency <= 0 {
		errs = append(errs, field.Invalid(p.Child("latency"), s.Latency.String(), "must be > 0"))
	}
	for i, port := range s.Ports {
		if port < 1 || port > 65535 {
			errs = append(errs, field.Invalid(p.Child("ports").Index(i), port, "must be a port number (1-65535)"))
		}
	}
	return errs
}

// testHTTPSpec is a probe with a nested TLS block and a map.
type testHTTPSpec struct {
	URL          string            `yaml:"url,omitempty" json:"url,omitempty"`
	Timeout      time.Duration     `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	ExpectStatus []int             `yaml:"expectStatus,omitempty" json:"expectStatus,omitempty"`
	Headers      map[string]string `yaml:"headers,omitempty" json:"headers,omitempty"`
	TLS          *testTLS          `yaml:"tls,omitempty" json:"tls,omitempty"`
}

type testTLS struct {
	InsecureSkipVerify bool   `yaml:"insecureSkipVerify,omitempty" json:"insecureSkipVerify,omitempty"`
	CA                 string `yaml:"ca,omitempty" json:"ca,omitempty"`
}

func (s *testHTTPSpec) Validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if s.URL == "" {
		errs = append(errs, field.Required(p.Child("url"), ""))
	}
	if s.Timeout < 0 {
		errs = append(errs, field.Invalid(p.Child("timeout"), s.Timeout.String(), "must be >= 0"))
	}
	return errs
}

// testTCPSpec is a probe spec without Validate.
type testTCPSpec struct {
	Address string `yaml:"address,omitempty" json:"address,omitempty"`
}

// testHealSpec is an assertion referencing a probe.
type testHealSpec struct {
	Probe          string        `yaml:"probe,omitempty" json:"probe,omitempty"`
	RecoversWithin time.Duration `yaml:"recoversWithin,omitempty" json:"recoversWithin,omitempty"`
}

func (s *testHealSpec) Validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if s.Probe == "" {
		errs = append(errs, field.Required(p.Child("probe"), ""))
	}
	if s.RecoversWithin <= 0 {
		errs = append(errs, field.Invalid(p.Child("recoversWithin"), s.RecoversWithin.String(), "must be > 0"))
	}
	return errs
}

var errTestOnly = errors.New("test-only kind")

// testRegistries returns registries holding only the test kinds.
func testRegistries(tb testing.TB) Registries {
	tb.Helper()
	reg := Registries{Injectors: injectors.NewRegistry(), Probes: steadystate.NewRegistry()}
	newInjector := func(any, *injectors.Env) (injectors.Injector, error) { return nil, errTestOnly }
	newProbe := func(any, *steadystate.Env) (steadystate.Probe, error) { return nil, errTestOnly }
	newAssertion := func(any, *steadystate.Env) (steadystate.Assertion, error) { return nil, errTestOnly }
	err := errors.Join(
		reg.Injectors.Register(injectors.Definition{Key: "testKill", Summary: "kills test processes",
			NewSpec: func() any { return &testKillSpec{} }, New: newInjector}),
		reg.Injectors.Register(injectors.Definition{Key: "testDelay", Summary: "delays through a proxy",
			NewSpec: func() any { return &testDelaySpec{} }, New: newInjector}),
		reg.Probes.Register(steadystate.Definition{Key: "testHTTP", Summary: "GETs a URL",
			NewSpec: func() any { return &testHTTPSpec{} }, New: newProbe}),
		reg.Probes.Register(steadystate.Definition{Key: "testTCP", Summary: "connects",
			NewSpec: func() any { return &testTCPSpec{} }, New: newProbe}),
		reg.Probes.RegisterAssertion(steadystate.AssertionDefinition{Key: "testHeal", Summary: "recovers",
			NewSpec: func() any { return &testHealSpec{} }, New: newAssertion}),
	)
	if err != nil {
		tb.Fatal(err)
	}
	return reg
}
