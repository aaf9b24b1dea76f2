// Package chaostest makes a Faultline experiment a first-class part of a Go test
// suite: run it inside a Ginkgo spec (or a plain testing.T), assert its result with
// Gomega matchers, and never leave a fault behind.
//
//	var _ = Describe("checkout", func() {
//		It("survives a payments outage", func(ctx SpecContext) {
//			res := chaostest.Run(ctx, chaostest.File("payments-outage.yaml"),
//				chaostest.WithOverride(func(e *experiments.Experiment) { ... }))
//			Expect(res).To(chaostest.Pass())
//			Expect(res).To(chaostest.RecoverWithin(10 * time.Second))
//		}, NodeTimeout(2*time.Minute))
//	})
//
// What Run does, in order:
//
//	load (File | YAML | Experiment) ─▶ overrides ─▶ validate ──invalid──▶ Fail(file:line:col …), nothing runs
//	                                                   │
//	      per-run journal dir + cleanup (experiments.Recover) registered ◀─┘  (DeferCleanup / t.Cleanup)
//	                                                   │
//	      experiments.Run(ctx) ── ctx cancelled (spec interrupted, timeout) ─▶ reverts, verdict "aborted"
//	                                                   │
//	      reports written (report.json, report.md, junit.xml) ─▶ report entry attached ─▶ *Result
//
// Run does not fail the spec because of the verdict: the verdict is asserted with
// the matchers (Pass, HaveVerdict, HoldSteadyState, HoldSLO, RecoverWithin,
// OpenCircuitWithin, CloseCircuitWithin, HaveCheck), so a suite can also assert that
// a fragile system IS caught. The full reports.Result is embedded in Result for
// custom assertions.
package chaostest
