package experiments

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// FuzzDecode: Decode never panics (it turns a panic into an "internal error"
// problem, which fails here), every problem is placed, and whatever decodes
// survives a JSON round trip unchanged.
//
//	go test -run='^$' -fuzz=FuzzDecode -fuzztime=20s ./experiments/
func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yaml")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{"", "a: b", "[1, 2]", "spec: {faults: [{testKill: {count: 1}}]}", "&a [*a]", "!!binary aGVsbG8="} {
		f.Add([]byte(s))
	}
	reg := testRegistries(f)
	unplaced := map[string]bool{"empty document": true}
	f.Fuzz(func(t *testing.T, data []byte) {
		exp, err := Decode(data, "fuzz.yaml", reg)
		if err != nil {
			var verr *ValidationError
			if !errors.As(err, &verr) || len(verr.Problems) == 0 {
				t.Fatalf("error %T without problems: %v", err, err)
			}
			for _, p := range verr.Problems {
				if strings.HasPrefix(p.Message, "internal error") {
					t.Fatalf("%s", p)
				}
				if p.File != "fuzz.yaml" {
					t.Errorf("problem without file: %s", p)
				}
				if p.Line == 0 && !unplaced[p.Message] && !strings.HasPrefix(p.Message, "not a YAML document") &&
					!strings.HasPrefix(p.Message, "invalid YAML") && !strings.Contains(p.Message, "too large") {
					t.Errorf("problem without line: %s", p)
				}
			}
			return
		}
		if err := exp.Validate(reg); err != nil {
			t.Fatalf("decoded, but Validate fails: %v", err)
		}
		js, err := json.Marshal(exp)
		if err != nil {
			t.Fatalf("MarshalJSON: %v", err)
		}
		back, err := Decode(js, "fuzz.yaml", reg)
		if err != nil {
			t.Fatalf("decoding %s: %v", js, err)
		}
		if !reflect.DeepEqual(back, exp) {
			t.Fatalf("JSON round trip differs:\n%s\n got %#v\nwant %#v", js, back, exp)
		}
	})
}
