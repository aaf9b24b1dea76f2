package chaosmesh

import (
	"os"
	"strings"
	"testing"
)

// The cached binary's version must be what build/ccm builds, with the api module
// the product is built with: a stale constant would reuse a wrong cache entry.
func TestVersionsMatchTheBuildModules(t *testing.T) {
	ccm, err := os.ReadFile("build/ccm/go.mod")
	if err != nil {
		t.Fatal(err)
	}
	main, err := os.ReadFile("../../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []struct{ file, text string }{
		{string(ccm), "require github.com/chaos-mesh/chaos-mesh " + Version},
		{string(ccm), "github.com/chaos-mesh/chaos-mesh/api => github.com/chaos-mesh/chaos-mesh/api " + APIVersion},
		{string(main), "github.com/chaos-mesh/chaos-mesh/api " + APIVersion},
	} {
		if !strings.Contains(want.file, want.text) {
			t.Errorf("%q not found in its go.mod", want.text)
		}
	}
}

func TestCRDsAreEmbedded(t *testing.T) {
	for _, kind := range []string{"podchaos", "networkchaos", "stresschaos", "httpchaos", "iochaos", "timechaos", "dnschaos", "jvmchaos", "workflownodes"} {
		b, err := crdFiles.ReadFile("crds/chaos-mesh.org_" + kind + ".yaml")
		if err != nil || !strings.Contains(string(b), "kind: CustomResourceDefinition") {
			t.Errorf("CRD %s: %v", kind, err)
		}
	}
}
