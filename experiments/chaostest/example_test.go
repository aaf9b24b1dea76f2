package chaostest_test

import (
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/faultline-dev/faultline/experiments"
	"github.com/faultline-dev/faultline/experiments/chaostest"
	"github.com/faultline-dev/faultline/steadystate/httpprobe"
)

// An experiment as a Ginkgo spec: the spec's context cancels the run, the matchers
// judge its result. (examples/gotest is a complete, running suite.)
func Example_ginkgo() {
	_ = Describe("checkout", func() {
		It("survives a payments outage", func(ctx SpecContext) {
			res := chaostest.Run(ctx, chaostest.File("payments-outage.yaml"),
				chaostest.WithOverride(func(e *experiments.Experiment) {
					chaostest.ProbeSpec[*httpprobe.Spec](e, "checkout").URL = "http://127.0.0.1:8080/checkout"
				}))
			Expect(res).To(chaostest.Pass())
			Expect(res).To(chaostest.OpenCircuitWithin(time.Second))
			Expect(res).To(chaostest.RecoverWithin(10 * time.Second))
		}, NodeTimeout(2*time.Minute))
	})
}

// The same from a plain test function.
func ExampleRunT() {
	_ = func(t *testing.T) {
		res := chaostest.RunT(t, chaostest.File("payments-outage.yaml"))
		NewWithT(t).Expect(res).To(chaostest.Pass())
	}
}

// Asserting that a fragile build IS caught, and by what.
func ExampleHaveVerdict() {
	_ = It("catches the build without a breaker", func(ctx SpecContext) {
		res := chaostest.Run(ctx, chaostest.File("payments-outage.yaml"))
		Expect(res).To(chaostest.HoldSteadyState()) // the baseline held: the fault did it
		Expect(res).To(chaostest.HaveVerdict("failed"))
		Expect(res).NotTo(chaostest.HoldSLO("checkout"))
		Expect(res).To(chaostest.HaveCheck("circuitBreaker", HaveField("Measured", "never opened")))
	})
}
