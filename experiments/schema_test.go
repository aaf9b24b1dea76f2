package experiments

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func testSchema(t *testing.T) map[string]any {
	t.Helper()
	data, err := Schema(testRegistries(t))
	if err != nil {
		t.Fatalf("Schema: %v", err)
	}
	var s map[string]any
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatalf("schema is not valid JSON: %v", err)
	}
	return s
}

// at walks a schema by property names; "[]" steps into items.
func at(t *testing.T, s map[string]any, path ...string) map[string]any {
	t.Helper()
	for _, p := range path {
		var next any
		if p == "[]" {
			next = s["items"]
		} else {
			props, _ := s["properties"].(map[string]any)
			next = props[p]
		}
		m, ok := next.(map[string]any)
		if !ok {
			t.Fatalf("schema has no %s (at %s)", strings.Join(path, "."), p)
		}
		s = m
	}
	return s
}

func strs(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, x := range list {
		out = append(out, fmt.Sprint(x))
	}
	return out
}

func TestSchemaShape(t *testing.T) {
	s := testSchema(t)
	if s["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
		t.Errorf("$schema = %v", s["$schema"])
	}
	if got := strs(s["required"]); !slices.Equal(got, []string{"apiVersion", "kind", "metadata", "spec"}) {
		t.Errorf("required = %v", got)
	}
	if c := at(t, s, "apiVersion")["const"]; c != APIVersion {
		t.Errorf("apiVersion const = %v", c)
	}
	for _, tc := range []struct {
		path []string
		keys []string
	}{
		{[]string{"spec", "faults", "[]"}, []string{"testDelay", "testKill"}},
		{[]string{"spec", "steadyState", "probes", "[]"}, []string{"testHTTP", "testTCP"}},
		{[]string{"spec", "verify", "[]"}, []string{"testHeal"}},
	} {
		entry := at(t, s, tc.path...)
		var oneOf []string
		for _, o := range entry["oneOf"].([]any) {
			oneOf = append(oneOf, strs(o.(map[string]any)["required"])...)
		}
		if !slices.Equal(oneOf, tc.keys) {
			t.Errorf("%v oneOf = %v, want %v", tc.path, oneOf, tc.keys)
		}
		for _, k := range tc.keys {
			if at(t, entry, k)["additionalProperties"] != false {
				t.Errorf("%v.%s is not closed", tc.path, k)
			}
		}
		if entry["additionalProperties"] != false {
			t.Errorf("%v is not closed", tc.path)
		}
	}
	if got := strs(at(t, s, "spec", "faults", "[]")["required"]); !slices.Equal(got, []string{"name"}) {
		t.Errorf("fault required = %v", got)
	}
	if got := strs(at(t, s, "spec")["required"]); !slices.Equal(got, []string{"steadyState", "faults"}) {
		t.Errorf("spec required = %v", got)
	}
	// Nested spec blocks are generated from the NewSpec types.
	tls := at(t, s, "spec", "steadyState", "probes", "[]", "testHTTP", "tls", "insecureSkipVerify")
	if tls["type"] != "boolean" {
		t.Errorf("testHTTP.tls.insecureSkipVerify = %v", tls)
	}
	if d := at(t, s, "spec", "faults", "[]", "testKill")["description"]; d != "kills test processes" {
		t.Errorf("testKill description = %v", d)
	}
	for _, path := range [][]string{
		{"spec", "faults", "[]", "duration"},
		{"spec", "steadyState", "baseline"},
		{"spec", "steadyState", "probes", "[]", "testHTTP", "timeout"},
		{"spec", "verify", "[]", "testHeal", "recoversWithin"},
	} {
		d := at(t, s, path...)
		if d["type"] != "string" || d["pattern"] != DurationPattern {
			t.Errorf("%v = %v, want a string with the duration pattern", path, d)
		}
	}
}

// TestDurationPattern: the schema's pattern accepts what time.ParseDuration does.
func TestDurationPattern(t *testing.T) {
	re := regexp.MustCompile(DurationPattern)
	for _, s := range []string{"100ms", "1m30s", "0", "1.5h", "-2s", "+3us", "1h2m3s4ms5us6ns", ".5s", "5.s", "2µs",
		"", "5", "abc", "1 minute", "1.2.3s", "s", "1d", "--1s", "1sm", "0s"} {
		_, err := time.ParseDuration(s)
		if got, want := re.MatchString(s), err == nil; got != want {
			t.Errorf("pattern matches %q: %v, ParseDuration accepts it: %v", s, got, want)
		}
	}
}

// TestGoodFilesMatchSchema checks every good file against the schema with a small
// validator (properties, closed objects, required, types, patterns, const, oneOf),
// and that the schema rejects some bad files the decoder rejects for their keys.
func TestGoodFilesMatchSchema(t *testing.T) {
	s := testSchema(t)
	check := func(file string) []string {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var doc yaml.Node
		if err := yaml.Unmarshal(data, &doc); err != nil {
			t.Fatal(err)
		}
		var errs []string
		schemaCheck(s, doc.Content[0], "", &errs)
		return errs
	}
	for _, file := range corpus(t, "*.good.yaml") {
		if errs := check(file); len(errs) > 0 {
			t.Errorf("%s does not match the schema:\n  %s", file, strings.Join(errs, "\n  "))
		}
	}
	for _, name := range []string{"unknown-keys", "unknown-keys-more", "inline-keys", "wrong-types", "missing-sections"} {
		file := filepath.Join("testdata", name+".bad.yaml")
		if errs := check(file); len(errs) == 0 {
			t.Errorf("%s matches the schema", file)
		}
	}
}

func schemaCheck(s map[string]any, n *yaml.Node, path string, errs *[]string) {
	fail := func(format string, args ...any) { *errs = append(*errs, path+": "+fmt.Sprintf(format, args...)) }
	if c, ok := s["const"]; ok && (n.Kind != yaml.ScalarNode || n.Value != c) {
		fail("want %v", c)
	}
	tag := n.ShortTag()
	switch s["type"] {
	case "object":
		if n.Kind != yaml.MappingNode {
			fail("want an object")
			return
		}
		props, _ := s["properties"].(map[string]any)
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i].Value, n.Content[i+1]
			seen[k] = true
			if ps, ok := props[k].(map[string]any); ok {
				schemaCheck(ps, v, path+"."+k, errs)
			} else if ap, ok := s["additionalProperties"].(map[string]any); ok {
				schemaCheck(ap, v, path+"["+k+"]", errs)
			} else if s["additionalProperties"] == false {
				fail("unknown property %q", k)
			}
		}
		for _, r := range strs(s["required"]) {
			if !seen[r] {
				fail("missing required %q", r)
			}
		}
		if oneOf, ok := s["oneOf"].([]any); ok {
			matched := 0
			for _, o := range oneOf {
				if r := strs(o.(map[string]any)["required"]); len(r) == 1 && seen[r[0]] {
					matched++
				}
			}
			if matched != 1 {
				fail("matches %d of oneOf, want 1", matched)
			}
		}
	case "array":
		if n.Kind != yaml.SequenceNode {
			fail("want an array")
			return
		}
		for i, c := range n.Content {
			schemaCheck(s["items"].(map[string]any), c, fmt.Sprintf("%s[%d]", path, i), errs)
		}
	case "string":
		if n.Kind != yaml.ScalarNode {
			fail("want a string")
		} else if p, ok := s["pattern"].(string); ok && !regexp.MustCompile(p).MatchString(n.Value) {
			fail("%q does not match %s", n.Value, p)
		}
	case "integer":
		if tag != "!!int" {
			fail("want an integer")
		}
	case "number":
		if tag != "!!int" && tag != "!!float" {
			fail("want a number")
		}
	case "boolean":
		if tag != "!!bool" {
			fail("want a boolean")
		}
	}
}
