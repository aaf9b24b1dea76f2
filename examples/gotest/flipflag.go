// Package gotest shows Faultline experiments as Go tests: a Ginkgo suite (suite_test.go)
// and a plain `go test` function (plain_test.go) run experiments against the example
// shop and against the small flag-driven service below, assert that the resilient
// builds pass and that the fragile ones are caught, and use a fault kind written in
// Go, flipFlag, from YAML.
//
//	flipFlag ──creates──▶ flag file ◀──stat on every request── catalog service
//	                                                            ├─ resilient: serves its last good answer (200)
//	                                                            └─ fragile:   500
package gotest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/faultline-dev/faultline/injectors"
)

// FlagKey is the YAML key of the flipFlag fault.
const FlagKey = "flipFlag"

// FlagSpec is the flipFlag block of a fault:
//
//	faults:
//	  - name: catalog-broken
//	    flipFlag: {path: /run/catalog/fail}
type FlagSpec struct {
	// Path of the flag file; absolute. The fault creates it and fails if it exists.
	Path string `yaml:"path" json:"path"`
}

// Validate checks the spec without I/O.
func (s *FlagSpec) Validate(p *field.Path) field.ErrorList {
	switch {
	case s.Path == "":
		return field.ErrorList{field.Required(p.Child("path"), "the flag file's absolute path is required")}
	case !filepath.IsAbs(s.Path):
		return field.ErrorList{field.Invalid(p.Child("path"), s.Path, "must be an absolute path")}
	}
	return nil
}

// RegisterFlag adds flipFlag to r. Go users register their own kinds the same way,
// on the registries they pass to chaostest.WithRegistries.
func RegisterFlag(r *injectors.Registry) error {
	return r.Register(injectors.Definition{
		Key:     FlagKey,
		Summary: "Create a flag file that a service reads to start failing; revert removes it.",
		NewSpec: func() any { return &FlagSpec{} },
		New: func(spec any, env *injectors.Env) (injectors.Injector, error) {
			return &flag{path: spec.(*FlagSpec).Path, env: env}, nil
		},
		Recover: recoverFlag,
	})
}

var _ injectors.Injector = (*flag)(nil)

type flag struct {
	path string
	env  *injectors.Env
}

// flagState is journaled before the file is created: enough for Recover.
type flagState struct {
	Path  string `json:"path"`
	RunID string `json:"runID"`
}

func (f *flag) Plan(context.Context) (injectors.Plan, error) {
	return injectors.Plan{
		Targets: []injectors.Target{{Kind: "file", Name: f.path}},
		Action:  "create flag file " + f.path,
		Revert:  "remove " + f.path + " if it still carries this run's ID",
	}, nil
}

// Inject creates the flag file, tagged with the run ID, and proves it by reading it back.
func (f *flag) Inject(ctx context.Context, j injectors.Journal) (injectors.Injection, error) {
	if err := ctx.Err(); err != nil {
		return injectors.Injection{}, err
	}
	if err := j.Record(flagState{Path: f.path, RunID: f.env.RunID}); err != nil {
		return injectors.Injection{}, err
	}
	// O_EXCL: a flag someone else set is not ours to remove later.
	file, err := os.OpenFile(f.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return injectors.Injection{}, fmt.Errorf("injecting flipFlag into %s: %w", f.path, err)
	}
	_, werr := fmt.Fprintf(file, "faultline run %s\n", f.env.RunID)
	if err := errors.Join(werr, file.Close()); err != nil {
		_ = os.Remove(f.path)
		return injectors.Injection{}, fmt.Errorf("injecting flipFlag into %s: %w", f.path, err)
	}
	got, err := os.ReadFile(f.path)
	if err != nil || !strings.Contains(string(got), f.env.RunID) {
		_ = removeFlag(f.path, f.env.RunID)
		return injectors.Injection{}, fmt.Errorf("proving flipFlag %s: read back %q: %v", f.path, got, err)
	}
	revert := func(context.Context) error { return removeFlag(f.path, f.env.RunID) }
	return injectors.Injection{Revert: revert, Proof: fmt.Sprintf("flag file %s present (%d bytes)", f.path, len(got))}, nil
}

// removeFlag removes path if it is this run's flag; a missing file is success.
func removeFlag(path, runID string) error {
	got, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reverting flipFlag %s: %w", path, err)
	}
	if !strings.Contains(string(got), runID) {
		return nil // replaced by someone else since: not ours
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("reverting flipFlag %s: %w", path, err)
	}
	return nil
}

func recoverFlag(_ context.Context, _ *injectors.Env, state json.RawMessage) error {
	var s flagState
	if err := json.Unmarshal(state, &s); err != nil {
		return fmt.Errorf("recovering flipFlag: %w", err)
	}
	return removeFlag(s.Path, s.RunID)
}
