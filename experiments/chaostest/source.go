package chaostest

import (
	"fmt"
	"path/filepath"
	"runtime"

	"github.com/faultline-dev/faultline/experiments"
)

// Source is where an experiment comes from: File, YAML or Experiment.
type Source interface {
	// load returns the experiment, decoded and validated against reg.
	load(reg experiments.Registries) (*experiments.Experiment, error)
	String() string
}

// File reads the experiment from a YAML file (relative paths are relative to the
// test's working directory, i.e. the package directory under `go test`).
func File(path string) Source { return fileSource(path) }

type fileSource string

func (f fileSource) load(reg experiments.Registries) (*experiments.Experiment, error) {
	return experiments.Load(string(f), reg)
}

func (f fileSource) String() string { return string(f) }

// YAML reads the experiment from a YAML document written in the test. Validation
// problems are reported against the caller's file and line, e.g.
// "suite_test.go:42[yaml]:7:9: spec.faults[0].after: ...", where 7:9 is the line and
// column inside the document.
func YAML(doc string) Source {
	name := "yaml"
	if _, file, line, ok := runtime.Caller(1); ok {
		name = fmt.Sprintf("%s:%d[yaml]", filepath.Base(file), line)
	}
	return yamlSource{doc: doc, name: name}
}

type yamlSource struct{ doc, name string }

func (y yamlSource) load(reg experiments.Registries) (*experiments.Experiment, error) {
	return experiments.Decode([]byte(y.doc), y.name, reg)
}

func (y yamlSource) String() string { return y.name }

// Experiment runs an experiment built in Go with the types of package experiments.
// It is validated with the same rules and messages as a YAML file (field paths, no
// line numbers). Overrides and defaults are applied to e itself.
func Experiment(e *experiments.Experiment) Source { return goSource{e: e} }

type goSource struct{ e *experiments.Experiment }

func (g goSource) load(experiments.Registries) (*experiments.Experiment, error) {
	if g.e == nil {
		return nil, fmt.Errorf("chaostest: Experiment(nil)")
	}
	return g.e, nil // validated by Run after the overrides, as every source is
}

func (g goSource) String() string {
	if g.e == nil {
		return "<nil experiment>"
	}
	if g.e.Source != "" {
		return g.e.Source
	}
	return "experiment " + g.e.Metadata.Name + " (Go)"
}
