package experiments

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// wantProblems reads the "# want: ..." header lines of a corpus file.
func wantProblems(t *testing.T, data []byte) []string {
	t.Helper()
	var want []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "#") {
			break
		}
		if w, ok := strings.CutPrefix(line, "# want: "); ok {
			want = append(want, w)
		}
	}
	if len(want) == 0 {
		t.Fatal("no '# want: ' header")
	}
	return want
}

// problemsOf renders the problems of err without the file name.
func problemsOf(t *testing.T, err error) []string {
	t.Helper()
	var verr *ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("error is %T, want *ValidationError: %v", err, err)
	}
	var got []string
	for _, p := range verr.Problems {
		p.File = ""
		got = append(got, p.String())
	}
	return got
}

func corpus(t testing.TB, pattern string) []string {
	files, err := filepath.Glob(filepath.Join("testdata", pattern))
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata/%s: %v", pattern, err)
	}
	return files
}

// TestBadExperiments decodes every testdata/*.bad.yaml and compares ALL problems,
// with line:col, field and message, to the file's header.
func TestBadExperiments(t *testing.T) {
	testBadCorpus(t, corpus(t, "*.bad.yaml"), testRegistries(t))
}

// TestBuiltinCorpus runs testdata/builtin/*.{bad,good}.yaml, written against the
// built-in faults, probes and assertions, with DefaultRegistries.
func TestBuiltinCorpus(t *testing.T) {
	bad, _ := filepath.Glob("testdata/builtin/*.bad.yaml")
	good, _ := filepath.Glob("testdata/builtin/*.good.yaml")
	if len(bad)+len(good) == 0 {
		t.Skip("no testdata/builtin/*.yaml files yet")
	}
	reg, err := DefaultRegistries()
	if err != nil {
		t.Fatal(err)
	}
	testBadCorpus(t, bad, reg)
	for _, file := range good {
		t.Run(filepath.Base(file), func(t *testing.T) {
			if _, err := Load(file, reg); err != nil {
				t.Error(err)
			}
		})
	}
}

func testBadCorpus(t *testing.T, files []string, reg Registries) {
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			want := wantProblems(t, data)
			exp, err := Decode(data, file, reg)
			if err == nil {
				t.Fatalf("decoded without error: %+v", exp)
			}
			if exp != nil {
				t.Error("returned an experiment along with the error")
			}
			got := problemsOf(t, err)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("problems differ\n got:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
			}
			// Every line of Error() names the file.
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, file+":") {
					t.Errorf("error line without file name: %q", line)
				}
			}
		})
	}
}

func TestGoodExperimentsRoundTrip(t *testing.T) {
	reg := testRegistries(t)
	for _, file := range corpus(t, "*.good.yaml") {
		t.Run(filepath.Base(file), func(t *testing.T) {
			exp, err := Load(file, reg)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if exp.Source != file {
				t.Errorf("Source = %q, want %q", exp.Source, file)
			}
			if err := exp.Validate(reg); err != nil {
				t.Errorf("Validate after Decode: %v", err)
			}
			js, err := json.Marshal(exp)
			if err != nil {
				t.Fatalf("MarshalJSON: %v", err)
			}
			ym, err := yaml.Marshal(exp)
			if err != nil {
				t.Fatalf("MarshalYAML: %v", err)
			}
			for name, data := range map[string][]byte{"json": js, "yaml": ym} {
				back, err := Decode(data, file, reg)
				if err != nil {
					t.Fatalf("decoding the %s form: %v\n%s", name, err, data)
				}
				if !reflect.DeepEqual(back, exp) {
					t.Errorf("%s round trip differs:\n%s\n got: %#v\nwant: %#v", name, data, back, exp)
				}
			}
		})
	}
}

func TestMarshalJSONForm(t *testing.T) {
	reg := testRegistries(t)
	exp, err := Load("testdata/full.good.yaml", reg)
	if err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(exp.Spec.Faults[1])
	if err != nil {
		t.Fatal(err)
	}
	want := `{"name":"kill-workers","after":"5s","duration":"1m30s","testKill":{"count":2,"signal":"KILL","match":{"command":"worker","labels":{"app":"payments"}}}}`
	if string(js) != want {
		t.Errorf("fault JSON\n got %s\nwant %s", js, want)
	}
	js, err = json.Marshal(exp.Spec.SteadyState.Probes[0].SLO)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"successRatio":0.99,"latencyP99":"250ms","duringFaults":false}`; string(js) != want {
		t.Errorf("SLO JSON\n got %s\nwant %s", js, want)
	}
	ym, err := yaml.Marshal(exp.Spec.Verify[0])
	if err != nil {
		t.Fatal(err)
	}
	if want := "testHeal:\n    probe: checkout\n    recoversWithin: 15s\n"; string(ym) != want {
		t.Errorf("assertion YAML\n got %q\nwant %q", ym, want)
	}
}

func TestDecodeSetsDefaults(t *testing.T) {
	exp, err := Load("testdata/minimal.good.yaml", testRegistries(t))
	if err != nil {
		t.Fatal(err)
	}
	s := exp.Spec
	for name, c := range map[string][2]time.Duration{
		"probe.every":    {s.SteadyState.Probes[0].Every, time.Second},
		"fault.duration": {s.Faults[0].Duration, 10 * time.Second},
		"baseline":       {s.SteadyState.Baseline, 2 * time.Second},
		"recovery":       {s.SteadyState.Recovery, 30 * time.Second},
		"maxDuration":    {s.Safety.MaxDuration, 10 * time.Minute},
		"revertTimeout":  {s.Safety.RevertTimeout, 30 * time.Second},
	} {
		if c[0] != c[1] {
			t.Errorf("%s = %v, want %v", name, c[0], c[1])
		}
	}
	if s.Faults[0].Kind != "testKill" || s.Faults[0].Spec.(*testKillSpec).Count != 1 {
		t.Errorf("fault = %+v", s.Faults[0])
	}
}

// TestHostileInputs covers input that is easier to build than to store.
func TestHostileInputs(t *testing.T) {
	reg := testRegistries(t)
	deep := "a: " + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + "\n"
	var wide strings.Builder
	wide.WriteString("a: [")
	for i := 0; i < maxNodes+10; i++ {
		wide.WriteString("1,")
	}
	wide.WriteString("1]\n")
	for _, tc := range []struct {
		name, data string
		want       []string
	}{
		{"zero bytes", "", []string{"empty document"}},
		{"only whitespace", " \n\n   \n", []string{"empty document"}},
		{"null document", "~\n", []string{"1:1: empty document"}},
		{"top-level list", "- a\n- b\n", []string{"1:1: top level must be a mapping (apiVersion, kind, metadata, spec), got a list"}},
		{"top-level string", "hello\n", []string{`1:1: top level must be a mapping (apiVersion, kind, metadata, spec), got "hello"`}},
		{"deep nesting", deep, []string{"1:67: nested deeper than 64 levels"}},
		{"too many nodes", wide.String(), []string{"document too large: more than 100000 nodes"}},
		{"too large", strings.Repeat("#", maxFileSize+1), []string{"file too large: more than 1048576 bytes"}},
		{"syntax", "a: [1, 2\nb: 3\n", []string{"2: invalid YAML: did not find expected ',' or ']'"}},
		{"control character", "a: \x01\n", []string{"not a YAML document: control characters are not allowed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode([]byte(tc.data), "x.yaml", reg)
			if err == nil {
				t.Fatal("no error")
			}
			if got := problemsOf(t, err); strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"), testRegistries(t))
	var verr *ValidationError
	if err == nil || errors.As(err, &verr) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v, want a wrapped not-exist error", err)
	}
}

func TestDecodeWithoutRegistries(t *testing.T) {
	_, err := Decode([]byte(mustRead(t, "testdata/minimal.good.yaml")), "m.yaml", Registries{})
	got := problemsOf(t, err)
	want := []string{
		`8:20: spec.steadyState.probes[0]: unknown field "testTCP" (probe keys: none registered)`,
		`10:20: spec.faults[0]: unknown field "testKill" (injector keys: none registered)`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

func mustRead(t testing.TB, path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestProblemString(t *testing.T) {
	for _, tc := range []struct {
		p    Problem
		want string
	}{
		{Problem{File: "e.yaml", Line: 7, Col: 9, Field: "spec.faults[0].processKill.count", Message: "must be >= 1"},
			"e.yaml:7:9: spec.faults[0].processKill.count: must be >= 1"},
		{Problem{File: "e.yaml", Field: "metadata.name", Message: "required"}, "e.yaml: metadata.name: required"},
		{Problem{File: "e.yaml", Message: "empty document"}, "e.yaml: empty document"},
		{Problem{File: "e.yaml", Line: 3, Message: "invalid YAML: x"}, "e.yaml:3: invalid YAML: x"},
		{Problem{Field: "kind", Message: "required"}, "kind: required"},
	} {
		if got := tc.p.String(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
	e := &ValidationError{Problems: []Problem{{Message: "a"}, {Message: "b"}}}
	if e.Error() != "a\nb" {
		t.Errorf("Error() = %q", e.Error())
	}
}

func TestParentPath(t *testing.T) {
	for in, want := range map[string]string{
		"spec.faults[1].testKill.count": "spec.faults[1].testKill",
		"spec.faults[1]":                "spec.faults",
		"spec":                          "",
		"metadata.labels[app.io/name]":  "metadata.labels",
	} {
		if got := parentPath(in); got != want {
			t.Errorf("parentPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSuggest(t *testing.T) {
	names := []string{"duration", "after", "name", "testKill"}
	for in, want := range map[string]string{"duraton": "duration", "Name": "name", "testkil": "testKill", "zzz": "", "aftr": "after"} {
		if got := suggest(in, names); got != want {
			t.Errorf("suggest(%q) = %q, want %q", in, got, want)
		}
	}
}

// BenchmarkDecodeHostile measures the worst inputs: they must be refused about as
// fast as they are read.
func BenchmarkDecodeHostile(b *testing.B) {
	reg := testRegistries(b)
	var unknown strings.Builder
	for i := 0; unknown.Len() < maxFileSize-32; i++ {
		fmt.Fprintf(&unknown, "unknownKey%d: 1\n", i)
	}
	bomb, err := os.ReadFile("testdata/alias-bomb.bad.yaml")
	if err != nil {
		b.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"alias-bomb":        bomb,
		"1MiB-unknown-keys": []byte(unknown.String()),
		"deep":              []byte("a: " + strings.Repeat("[", 9000) + strings.Repeat("]", 9000)),
	} {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := Decode(data, "x.yaml", reg); err == nil {
					b.Fatal("decoded")
				}
			}
		})
	}
}

// BenchmarkDecode decodes a realistic 60-line experiment.
func BenchmarkDecode(b *testing.B) {
	reg := testRegistries(b)
	data, err := os.ReadFile("testdata/full.good.yaml")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(data, "full.good.yaml", reg); err != nil {
			b.Fatal(err)
		}
	}
}

func TestDecodeByteOrderMarks(t *testing.T) {
	reg := testRegistries(t)
	doc := mustRead(t, "testdata/minimal.good.yaml")
	utf16le := []byte{0xFF, 0xFE}
	for _, r := range doc {
		utf16le = append(utf16le, byte(r), byte(r>>8)) // the document is ASCII
	}
	for name, data := range map[string][]byte{
		"utf-8 BOM": append([]byte{0xEF, 0xBB, 0xBF}, doc...),
		"utf-16le":  utf16le,
	} {
		exp, err := Decode(data, "bom.yaml", reg)
		if err != nil {
			t.Errorf("%s: %v", name, err)
		} else if exp.Metadata.Name != "minimal" {
			t.Errorf("%s: name = %q", name, exp.Metadata.Name)
		}
	}
}
