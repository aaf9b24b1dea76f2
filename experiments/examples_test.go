package experiments

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestExamplesAreValid decodes every experiment shipped under examples/ with the
// built-in registries, so a renamed field cannot silently break the documentation.
func TestExamplesAreValid(t *testing.T) {
	reg, err := DefaultRegistries()
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	err = filepath.WalkDir("../examples", func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (filepath.Ext(p) == ".yaml" || filepath.Ext(p) == ".yml") {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if !bytes.Contains(b, []byte("kind: Experiment")) {
			continue // Kubernetes manifests and other YAML
		}
		if filepath.Base(filepath.Dir(filepath.Dir(f))) == "gotest" {
			continue // uses kinds its Go suite registers; validated by that suite
		}
		n++
		t.Run(f, func(t *testing.T) {
			if _, err := Decode(b, f, reg); err != nil {
				t.Fatal(err)
			}
		})
	}
	if n == 0 {
		t.Fatal("no example experiments found")
	}
}
