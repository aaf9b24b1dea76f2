package chaosmesh_test

import (
	"os"
	"strings"
	"testing"
)

// Every experiment snippet of the README's "Chaos Mesh" section decodes and
// validates as written.
func TestReadmeExamplesDecode(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(b), "\n## Chaos Mesh\n")
	if !ok {
		t.Fatal("README has no Chaos Mesh section")
	}
	sec, _, _ = strings.Cut(sec, "\n## ")
	blocks := 0
	for _, part := range strings.Split(sec, "```yaml\n")[1:] {
		block, _, _ := strings.Cut(part, "```")
		if !strings.HasPrefix(block, "faults:") {
			continue
		}
		blocks++
		doc := `apiVersion: faultline.dev/v1alpha1
kind: Experiment
metadata: {name: readme}
spec:
  target: {kubernetes: {}}
  steadyState:
    probes: [{name: up, tcp: {address: "127.0.0.1:1"}}]
` + indent(block, "  ")
		if _, err := decode(t, doc); err != nil {
			t.Errorf("README block %d:\n%s\n%v", blocks, block, err)
		}
	}
	if blocks < 2 {
		t.Fatalf("found %d experiment blocks in the Chaos Mesh section, want 2", blocks)
	}
}

func indent(s, pre string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = pre + l
	}
	return strings.Join(lines, "\n") + "\n"
}
