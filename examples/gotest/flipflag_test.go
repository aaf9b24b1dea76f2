package gotest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/faultline-dev/faultline/injectors"
)

// journal keeps the last recorded state, as the runner's journal does.
type journal struct{ state json.RawMessage }

func (j *journal) Record(state any) error {
	b, err := json.Marshal(state)
	j.state = b
	return err
}

func newFlag(t *testing.T, path, runID string) injectors.Injector {
	t.Helper()
	r := injectors.NewRegistry()
	if err := RegisterFlag(r); err != nil {
		t.Fatal(err)
	}
	def, _ := r.Lookup(FlagKey)
	inj, err := def.New(&FlagSpec{Path: path}, &injectors.Env{RunID: runID})
	if err != nil {
		t.Fatal(err)
	}
	return inj
}

func TestFlipFlag(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flag")
	var j journal
	in, err := newFlag(t, path, "run-1").Inject(t.Context(), &j)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); !strings.Contains(string(got), "run-1") || !strings.Contains(in.Proof, path) {
		t.Errorf("flag content %q, proof %q", got, in.Proof)
	}
	if !strings.Contains(string(j.state), path) {
		t.Errorf("journaled state %s lacks the path", j.state)
	}
	// A second flag on the same path is refused: it would not be ours to remove.
	if _, err := newFlag(t, path, "run-2").Inject(t.Context(), &journal{}); err == nil {
		t.Error("a second flipFlag on an existing file succeeded")
	}
	for range 2 { // idempotent
		if err := in.Revert(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("flag still there after revert: %v", err)
	}

	// Recover from the journaled state alone, after a runner died.
	if _, err := newFlag(t, path, "run-1").Inject(t.Context(), &journal{}); err != nil {
		t.Fatal(err)
	}
	if err := recoverFlag(t.Context(), nil, j.state); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("flag still there after recover: %v", err)
	}

	// A flag someone else set since is left alone.
	if err := os.WriteFile(path, []byte("set by an operator\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := in.Revert(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("revert removed a flag that was not its own: %v", err)
	}
}

func TestFlagSpecValidate(t *testing.T) {
	for path, want := range map[string]string{
		"":         "spec.path: Required value",
		"rel/flag": "spec.path: Invalid value",
		"/abs":     "",
	} {
		errs := (&FlagSpec{Path: path}).Validate(field.NewPath("spec"))
		if got := errs.ToAggregate(); (got == nil) != (want == "") || (got != nil && !strings.Contains(got.Error(), want)) {
			t.Errorf("Validate(%q) = %v, want %q", path, got, want)
		}
	}
}
