package chaostest

import (
	"fmt"
	"io"
	"testing"

	"github.com/onsi/ginkgo/v2"
)

// ginkgoHarness runs inside the current Ginkgo spec.
type ginkgoHarness struct{}

func (ginkgoHarness) Fatalf(format string, args ...any) {
	ginkgo.GinkgoHelper()
	ginkgo.Fail(fmt.Sprintf(format, args...))
}

// Errorf fails the spec; Ginkgo has no non-fatal failure, so it also ends the
// current node (a cleanup's remaining work is skipped, which is why callers use it last).
func (ginkgoHarness) Errorf(format string, args ...any) {
	ginkgo.GinkgoHelper()
	ginkgo.Fail(fmt.Sprintf(format, args...))
}

func (ginkgoHarness) Logf(format string, args ...any) {
	fmt.Fprintf(ginkgo.GinkgoWriter, format+"\n", args...)
}

func (ginkgoHarness) Cleanup(f func()) {
	ginkgo.GinkgoHelper() // the cleanup is located at the spec's call of Run
	ginkgo.DeferCleanup(f)
}

func (ginkgoHarness) Failed() bool { return ginkgo.CurrentSpecReport().Failed() }

// Attach adds the summary as a report entry named "faultline <experiment>": printed
// when the spec fails or with -v, and JSON-encoded into the JUnit and JSON reports.
func (ginkgoHarness) Attach(s Summary) {
	ginkgo.GinkgoHelper() // the entry's location is the spec's call of Run
	ginkgo.AddReportEntry("faultline "+s.Experiment, s, ginkgo.ReportEntryVisibilityFailureOrVerbose)
}

func (ginkgoHarness) Progress() io.Writer { return ginkgo.GinkgoWriter }

// testHarness runs inside a plain testing.T (or B, F).
type testHarness struct{ t testing.TB }

func (h testHarness) Fatalf(format string, args ...any) { h.t.Helper(); h.t.Fatalf(format, args...) }
func (h testHarness) Errorf(format string, args ...any) { h.t.Helper(); h.t.Errorf(format, args...) }
func (h testHarness) Logf(format string, args ...any)   { h.t.Helper(); h.t.Logf(format, args...) }
func (h testHarness) Cleanup(f func())                  { h.t.Cleanup(f) }
func (h testHarness) Failed() bool                      { return h.t.Failed() }
func (h testHarness) Attach(s Summary)                  { h.t.Helper(); h.t.Log(s.String()) }
func (h testHarness) Progress() io.Writer               { return h.t.Output() }
