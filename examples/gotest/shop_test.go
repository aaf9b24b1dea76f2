package gotest_test

import (
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/faultline-dev/faultline/examples/shop"
	"github.com/faultline-dev/faultline/experiments"
	"github.com/faultline-dev/faultline/experiments/chaostest"
	"github.com/faultline-dev/faultline/reports"
	"github.com/faultline-dev/faultline/steadystate/circuitbreaker"
	"github.com/faultline-dev/faultline/steadystate/httpprobe"
)

// The shop's own experiment files, run against the shop started in-process on free
// ports: checkout ──▶ fault proxy "payments" (owned by the experiment) ──▶ payments.
var _ = Describe("checkout when payments fails", func() {
	// startShop starts payments and checkout (with or without its circuit breaker) and
	// returns the options that point an experiment's probes and proxy at them.
	startShop := func(ctx SpecContext, breaker bool) []chaostest.Option {
		payments, err := shop.StartPayments(ctx, shop.PaymentsConfig{})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(payments.Close)
		proxyAddr := freeAddr()
		checkout, err := shop.StartCheckout(ctx, shop.CheckoutConfig{PaymentsURL: "http://" + proxyAddr, Breaker: breaker})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(checkout.Close)

		// The files name checkout at its fixed demo address; move every probe to ours.
		rebase := func(url *string) { *url = strings.Replace(*url, "127.0.0.1:18080", checkout.Addr, 1) }
		return []chaostest.Option{chaostest.WithOverride(func(e *experiments.Experiment) {
			for _, p := range e.Spec.SteadyState.Probes {
				switch s := p.Spec.(type) {
				case *httpprobe.Spec:
					rebase(&s.URL)
				case *circuitbreaker.ProbeSpec:
					if s.Metric != nil {
						rebase(&s.Metric.URL)
					}
					if s.HTTP != nil {
						rebase(&s.HTTP.URL)
					}
				}
			}
			p := chaostest.Proxy(e, "payments")
			p.Listen, p.Upstream = proxyAddr, payments.Addr
		})}
	}

	It("keeps answering, fast, with its circuit breaker (resilient build)", func(ctx SpecContext) {
		res := chaostest.Run(ctx, chaostest.File("../shop/experiments/payments-outage.yaml"), startShop(ctx, true)...)

		Expect(res).To(chaostest.Pass())
		Expect(res).To(chaostest.HoldSLO("checkout"))
		Expect(res).To(chaostest.OpenCircuitWithin(time.Second))
		Expect(res).To(chaostest.CloseCircuitWithin(5 * time.Second))
		Expect(res).To(chaostest.RecoverWithin(5 * time.Second))
	}, NodeTimeout(time.Minute))

	It("is caught failing during an outage without a breaker (fragile build)", func(ctx SpecContext) {
		res := chaostest.Run(ctx, chaostest.File("../shop/experiments/payments-outage.yaml"), startShop(ctx, false)...)

		Expect(res).To(chaostest.HoldSteadyState(), "the baseline held: what failed is the fault's doing")
		Expect(res).To(chaostest.HaveVerdict(reports.VerdictFailed))
		Expect(res).NotTo(chaostest.Pass())
		Expect(res).NotTo(chaostest.HoldSLO("checkout"))

		failure := InterceptGomegaFailure(func() { Expect(res).To(chaostest.Pass()) })
		Expect(failure).To(MatchError(SatisfyAll(
			ContainSubstring("did not pass: verdict failed"),
			MatchRegexp(`✗ slo\(checkout\)\.successRatio .*: expected >= 0\.99, measured 0(\.\d+)? \(\d+ ok / \d+\)`),
			MatchRegexp(`▶ t\+\d+\.\d{3}s\s+faults\s+failed\s+\S+\s+502`),
		)))
		failure = InterceptGomegaFailure(func() { Expect(res).To(chaostest.OpenCircuitWithin(time.Second)) })
		Expect(failure).To(MatchError(ContainSubstring("circuitBreaker(checkout): never opened (bound 1s)")))
	}, NodeTimeout(time.Minute))

	It("is caught slow during a slowdown without a breaker (fragile build)", func(ctx SpecContext) {
		res := chaostest.Run(ctx, chaostest.File("../shop/experiments/payments-slowdown.yaml"), startShop(ctx, false)...)

		Expect(res).To(chaostest.HaveVerdict(reports.VerdictFailed))
		failure := InterceptGomegaFailure(func() { Expect(res).To(chaostest.HoldSLO("checkout")) })
		Expect(failure).To(MatchError(SatisfyAll(
			MatchRegexp(`✗ slo\(checkout\)\.latencyP99 .*: expected <= 250ms, measured p99 2(\.\d+)?s`),
			ContainSubstring("samples around the slowest answer"),
			MatchRegexp(`▶ t\+\d+\.\d{3}s\s+faults\s+ok\s+2(\.\d+)?s\s+200`),
		)))
	}, NodeTimeout(time.Minute))
})
