package gotest_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/onsi/gomega"

	"github.com/faultline-dev/faultline/examples/gotest"
	"github.com/faultline-dev/faultline/experiments"
	"github.com/faultline-dev/faultline/experiments/chaostest"
)

// The same experiment from a plain `go test` function: RunT cancels the run with
// t.Context(), recovers in t.Cleanup, logs the summary with t.Log, and the Gomega
// matchers work through gomega.NewWithT.
func TestCatalogSurvivesStoreOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs a 3 s experiment against a real service")
	}
	g := gomega.NewWithT(t)
	reg, err := experiments.DefaultRegistries()
	g.Expect(err).NotTo(gomega.HaveOccurred())
	g.Expect(gotest.RegisterFlag(reg.Injectors)).To(gomega.Succeed())
	g.Expect(gotest.RegisterItems(reg.Probes)).To(gomega.Succeed())

	flag := filepath.Join(t.TempDir(), "store-down")
	catalog, err := gotest.StartCatalog(t.Context(), gotest.CatalogConfig{FlagPath: flag, Resilient: true})
	g.Expect(err).NotTo(gomega.HaveOccurred())
	t.Cleanup(func() { _ = catalog.Close() })

	res := chaostest.RunT(t, chaostest.File("experiments/catalog-store-down.yaml"),
		chaostest.WithRegistries(reg),
		chaostest.WithOverride(func(e *experiments.Experiment) {
			chaostest.ProbeSpec[*gotest.ItemsSpec](e, "catalog").URL = catalog.URL + "/items"
			chaostest.FaultSpec[*gotest.FlagSpec](e, "store-down").Path = flag
		}))

	g.Expect(res).To(chaostest.Pass())
	g.Expect(res).To(chaostest.RecoverWithin(time.Second))
	g.Expect(flag).NotTo(gomega.BeAnExistingFile())
}
