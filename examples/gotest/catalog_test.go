package gotest_test

import (
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/faultline-dev/faultline/examples/gotest"
	"github.com/faultline-dev/faultline/experiments"
	"github.com/faultline-dev/faultline/experiments/chaostest"
	"github.com/faultline-dev/faultline/reports"
)

// The catalog experiment uses a fault and a probe written in Go (flipFlag,
// catalogItems), registered on the registries the specs run with.
var _ = Describe("catalog while its store is down", func() {
	var (
		reg  experiments.Registries
		flag string
	)
	BeforeEach(func() {
		reg = registries()
		flag = filepath.Join(GinkgoT().TempDir(), "store-down")
	})

	// start starts a catalog and returns the options that point the experiment at it.
	start := func(ctx SpecContext, resilient bool) []chaostest.Option {
		catalog, err := gotest.StartCatalog(ctx, gotest.CatalogConfig{FlagPath: flag, Resilient: resilient})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(catalog.Close)
		return []chaostest.Option{
			chaostest.WithRegistries(reg),
			chaostest.WithOverride(func(e *experiments.Experiment) {
				chaostest.ProbeSpec[*gotest.ItemsSpec](e, "catalog").URL = catalog.URL + "/items"
				chaostest.FaultSpec[*gotest.FlagSpec](e, "store-down").Path = flag
			}),
		}
	}

	It("keeps listing its items from its last good copy (resilient build)", func(ctx SpecContext) {
		res := chaostest.Run(ctx, chaostest.File("experiments/catalog-store-down.yaml"), start(ctx, true)...)

		Expect(res).To(chaostest.Pass())
		Expect(res).To(chaostest.HoldSLO("catalog"))
		Expect(res).To(chaostest.RecoverWithin(time.Second))
		// The fault really happened: the probe saw answers served from the cache.
		Expect(res.Injections).To(ConsistOf(HaveField("Proof", ContainSubstring(flag))))
		Expect(servedFrom(res, "catalog")).To(HaveKey("cache"))
		Expect(flag).NotTo(BeAnExistingFile(), "the fault was reverted")
	}, NodeTimeout(time.Minute))

	It("is caught when it has no fallback (fragile build)", func(ctx SpecContext) {
		res := chaostest.Run(ctx, chaostest.File("experiments/catalog-store-down.yaml"), start(ctx, false)...)

		Expect(res).To(chaostest.HoldSteadyState(), "the baseline held: what failed is the fault's doing")
		Expect(res).To(chaostest.HaveVerdict(reports.VerdictFailed))
		Expect(res).NotTo(chaostest.Pass())
		Expect(res).NotTo(chaostest.HoldSLO("catalog"))

		// What a developer sees when a build without fallback meets Expect(res).To(Pass()).
		failure := InterceptGomegaFailure(func() { Expect(res).To(chaostest.Pass()) })
		Expect(failure).To(MatchError(SatisfyAll(
			ContainSubstring(`experiment "catalog-survives-store-outage"`),
			ContainSubstring("did not pass: verdict failed"),
			MatchRegexp(`✗ slo\(catalog\)\.successRatio .*: expected >= 0\.99, measured 0(\.\d+)? \(\d+ ok / \d+\)`),
			ContainSubstring("samples around the first failure"),
			MatchRegexp(`▶ t\+\d+\.\d{3}s\s+faults\s+failed\s+\S+\s+500`),
			ContainSubstring("reports: "+res.ReportDir),
		)))
		Expect(flag).NotTo(BeAnExistingFile(), "the fault was reverted")
	}, NodeTimeout(time.Minute))
})

// servedFrom counts the probe's answers by their X-Served-From header.
func servedFrom(res *chaostest.Result, probe string) map[string]int {
	counts := map[string]int{}
	for _, p := range res.Probes {
		if p.Name != probe {
			continue
		}
		for _, o := range p.Observations {
			if s := o.Values["servedFrom"]; s != "" {
				counts[s]++
			}
		}
	}
	return counts
}
