// Package ginkgosuite is a fixture: a Ginkgo suite that TestGinkgoSuite (in
// ../../ginkgo_test.go) runs with `go test` to check what chaostest does inside
// real Ginkgo specs that time out or leave a fault behind. It is not run by
// `go test ./...` (testdata is skipped) and fails on purpose.
package ginkgosuite_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/faultline-dev/faultline/experiments"
	"github.com/faultline-dev/faultline/experiments/chaostest"
	"github.com/faultline-dev/faultline/injectors"
	"github.com/faultline-dev/faultline/steadystate/httpprobe"
)

func TestFixture(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "chaostest fixture")
}

type flagSpec struct {
	Path         string `yaml:"path" json:"path"`
	BrokenRevert bool   `yaml:"brokenRevert,omitempty" json:"brokenRevert,omitempty"`
}

type flagInjector struct{ spec flagSpec }

func (f flagInjector) Plan(context.Context) (injectors.Plan, error) {
	return injectors.Plan{Targets: []injectors.Target{{Kind: "file", Name: f.spec.Path}}, Action: "create", Revert: "remove"}, nil
}

func (f flagInjector) Inject(_ context.Context, j injectors.Journal) (injectors.Injection, error) {
	if err := j.Record(f.spec.Path); err != nil {
		return injectors.Injection{}, err
	}
	if err := os.WriteFile(f.spec.Path, []byte("on"), 0o644); err != nil {
		return injectors.Injection{}, err
	}
	return injectors.Injection{Proof: "written", Revert: func(context.Context) error {
		if f.spec.BrokenRevert {
			return errors.New("revert broken on purpose")
		}
		return remove(f.spec.Path)
	}}, nil
}

func remove(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

func registries() experiments.Registries {
	reg, err := experiments.DefaultRegistries()
	Expect(err).NotTo(HaveOccurred())
	Expect(reg.Injectors.Register(injectors.Definition{
		Key: "fixtureFlag", NewSpec: func() any { return &flagSpec{} },
		New: func(spec any, _ *injectors.Env) (injectors.Injector, error) {
			return flagInjector{spec: *spec.(*flagSpec)}, nil
		},
		Recover: func(_ context.Context, _ *injectors.Env, state json.RawMessage) error {
			var path string
			if err := json.Unmarshal(state, &path); err != nil {
				return err
			}
			fmt.Fprintf(GinkgoWriter, "fixture: recovering %s\n", path)
			return remove(path)
		},
	})).To(Succeed())
	return reg
}

const doc = `apiVersion: faultline.dev/v1alpha1
kind: Experiment
metadata: {name: fixture}
spec:
  steadyState:
    baseline: 200ms
    recovery: 1s
    probes:
      - {name: web, every: 50ms, http: {url: "http://127.0.0.1:1/"}}
  faults:
    - {name: flag-on, fixtureFlag: {path: /set/below}, duration: 1m}
`

func run(ctx SpecContext, flag string, broken bool) *chaostest.Result {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") }))
	DeferCleanup(srv.Close)
	return chaostest.Run(ctx, chaostest.YAML(doc), chaostest.WithRegistries(registries()),
		chaostest.WithOverride(func(e *experiments.Experiment) {
			chaostest.ProbeSpec[*httpprobe.Spec](e, "web").URL = srv.URL
			s := chaostest.FaultSpec[*flagSpec](e, "flag-on")
			s.Path, s.BrokenRevert = flag, broken
			if broken {
				e.Spec.Faults[0].Duration = 300 * time.Millisecond
			}
		}))
}

var _ = Describe("fixture", func() {
	// Times out during its 1-minute fault: the run is cancelled and reverts.
	It("times out", func(ctx SpecContext) {
		run(ctx, os.Getenv("FIXTURE_FLAG_TIMEOUT"), false)
	}, NodeTimeout(1500*time.Millisecond))

	// Its revert fails: the safety net must remove the flag after the spec.
	It("leaves a fault behind", func(ctx SpecContext) {
		res := run(ctx, os.Getenv("FIXTURE_FLAG_BROKEN"), true)
		Expect(res).To(chaostest.HaveVerdict("errored"))
		Expect(os.Getenv("FIXTURE_FLAG_BROKEN")).To(BeAnExistingFile(), "left behind until the cleanup")
	}, NodeTimeout(time.Minute))

	// Invalid: fails with the problem, runs nothing.
	It("is invalid", func(ctx SpecContext) {
		chaostest.Run(ctx, chaostest.YAML("apiVersion: faultline.dev/v1alpha1\nkind: Experiment\nmetadata: {name: Bad_Name}\n"),
			chaostest.WithRegistries(registries()))
	})
})
