package chaostest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/onsi/ginkgo/v2"

	"github.com/faultline-dev/faultline/experiments"
	"github.com/faultline-dev/faultline/reports"
)

// Run runs the experiment from src inside the current Ginkgo spec and returns its
// result for the matchers. Call it from an It (or a setup node) that takes a
// SpecContext and pass that context: when the spec times out or is interrupted, the
// run is cancelled and reverts every fault (verdict "aborted").
//
// Before anything is injected Run registers a DeferCleanup that replays the run's
// journal (experiments.Recover), so a spec that fails, panics or is abandoned never
// leaves a fault behind; the report is attached with AddReportEntry (shown on failure
// and with -v, and written into --junit-report/--json-report as a property).
//
// An experiment that does not load or validate fails the spec with every problem as
// file:line:col, and nothing is run. The verdict does not fail the spec: assert it.
func Run(ctx context.Context, src Source, opts ...Option) *Result {
	ginkgo.GinkgoHelper()
	return run(ctx, ginkgoHarness{}, src, opts)
}

// RunT is Run for a plain `go test` function: the run is cancelled with t.Context(),
// the safety-net recovery is a t.Cleanup, progress goes to t.Output() and the
// summary to t.Log. Invalid experiments end the test with t.Fatal.
func RunT(t testing.TB, src Source, opts ...Option) *Result {
	t.Helper()
	return run(t.Context(), testHarness{t}, src, opts)
}

// harness is what run needs from the test framework.
type harness interface {
	// Fatalf records a failure and ends the spec or test (it does not return).
	Fatalf(format string, args ...any)
	// Errorf records a failure; in a cleanup it may also end the cleanup.
	Errorf(format string, args ...any)
	Logf(format string, args ...any)
	// Cleanup runs f after the spec or test, also when it failed or was interrupted.
	Cleanup(f func())
	Failed() bool
	// Attach adds the run's summary to the test report.
	Attach(s Summary)
	Progress() io.Writer
}

func run(ctx context.Context, h harness, src Source, opts []Option) *Result {
	// Not through a method of h: Helper marks its direct caller.
	if th, ok := h.(testHarness); ok {
		th.t.Helper()
	}
	ginkgo.GinkgoHelper()
	c := newConfig(opts)
	var reg experiments.Registries
	if c.registries != nil {
		reg = *c.registries
	} else {
		var err error
		if reg, err = experiments.DefaultRegistries(); err != nil {
			h.Fatalf("chaostest: building the default registries: %v", err)
			return nil
		}
	}

	e, err := src.load(reg)
	if err == nil {
		err = applyOverrides(e, c.overrides)
	}
	if err == nil {
		e.SetDefaults()
		err = e.Validate(reg)
	}
	if err != nil {
		h.Fatalf("%s", invalid(src, err))
		return nil
	}

	reportDir, keepReports, err := makeReportDir(c.reportDir, e.Metadata.Name)
	if err != nil {
		h.Fatalf("chaostest: %v", err)
		return nil
	}
	if !keepReports { // registered first so it runs last, once every failure is known
		h.Cleanup(func() {
			if h.Failed() {
				h.Logf("chaostest: reports of %s kept in %s", e.Metadata.Name, reportDir)
				return
			}
			_ = os.RemoveAll(reportDir)
		})
	}
	journalDir, err := os.MkdirTemp("", "faultline-journal-")
	if err != nil {
		h.Fatalf("chaostest: creating the journal directory: %v", err)
		return nil
	}
	h.Cleanup(func() { safetyNet(h, reg, journalDir, c.recoverTimeout) })

	progress := c.progress
	if progress == nil {
		progress = h.Progress()
	}
	res, err := experiments.Run(ctx, e, experiments.Options{
		Registries: reg,
		JournalDir: journalDir,
		Progress:   progress,
		Resources:  c.resources,
		DryRun:     c.dryRun,
	})
	if res == nil {
		if err == nil {
			err = errors.New("the runner returned no result")
		}
		h.Fatalf("chaostest: running %s: %v", src, err)
		return nil
	}
	out := &Result{Result: res, Definition: e, ReportDir: reportDir, ReportsKept: keepReports, Err: err}
	if err != nil {
		h.Logf("chaostest: the runner returned an error with verdict %s: %v", res.Verdict, err)
	}
	out.ReportFiles, err = reports.WriteAll(reportDir, res) // report.json, junit.xml, report.md
	h.Attach(out.Summary())
	if err != nil { // last: under Ginkgo, Errorf ends the spec
		h.Errorf("chaostest: writing the reports of %s to %s: %v", e.Metadata.Name, reportDir, err)
	}
	return out
}

// invalid formats a load or validation error: every problem on its own line.
func invalid(src Source, err error) string {
	var ve *experiments.ValidationError
	if errors.As(err, &ve) {
		lines := make([]string, len(ve.Problems))
		for i, p := range ve.Problems {
			lines[i] = "  " + p.String()
		}
		n := fmt.Sprintf("%d problems", len(ve.Problems))
		if len(ve.Problems) == 1 {
			n = "1 problem"
		}
		return fmt.Sprintf("chaostest: experiment %s is invalid (%s), nothing was run:\n%s", src, n, strings.Join(lines, "\n"))
	}
	return fmt.Sprintf("chaostest: experiment %s cannot be used, nothing was run: %v", src, err)
}

// applyOverrides runs the overrides in order; a lookup panic of ProbeSpec, FaultSpec
// or Proxy becomes an error, any other panic propagates.
func applyOverrides(e *experiments.Experiment, overrides []func(*experiments.Experiment)) (err error) {
	i := 0
	defer func() {
		if r := recover(); r != nil {
			le, ok := r.(lookupError)
			if !ok {
				panic(r)
			}
			err = fmt.Errorf("override %d: %w", i+1, le)
		}
	}()
	for ; i < len(overrides); i++ {
		overrides[i](e)
	}
	return nil
}

// makeReportDir creates the directory of one run's reports: under base, else under
// $CHAOS_REPORT_DIR (both kept), else a temporary one (keep false).
func makeReportDir(base, experiment string) (dir string, keep bool, err error) {
	if base == "" {
		base = os.Getenv(ReportDirEnv)
	}
	pattern := fileSafe(experiment) + "-" + time.Now().UTC().Format("20060102t150405") + "-"
	if base == "" {
		dir, err = os.MkdirTemp("", "faultline-report-"+pattern)
		if err != nil {
			return "", false, fmt.Errorf("creating a report directory: %w", err)
		}
		return dir, false, nil
	}
	if err := os.MkdirAll(base, 0o755); err != nil {
		return "", false, fmt.Errorf("creating report directory %s: %w", base, err)
	}
	dir, err = os.MkdirTemp(base, pattern)
	if err != nil {
		return "", false, fmt.Errorf("creating a report directory in %s: %w", base, err)
	}
	return dir, true, nil
}

func fileSafe(s string) string {
	s = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '_'
	}, s)
	if s == "" {
		return "experiment"
	}
	return s
}

// safetyNet undoes whatever the run left in its journal: nothing after a normal run
// (the runner reverted and closed it), the faults of a run that was abandoned
// (spec timeout past its grace period) or that failed to revert. It removes the
// journal when everything is undone and keeps it, failing the spec, otherwise.
func safetyNet(h harness, reg experiments.Registries, journalDir string, timeout time.Duration) {
	if th, ok := h.(testHarness); ok {
		th.t.Helper()
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	actions, err := experiments.Recover(ctx, journalDir, reg, experiments.RecoverOptions{Force: true})
	for _, a := range actions {
		line := fmt.Sprintf("chaostest: safety net: run %s fault %q (%s): %s", a.RunID, a.Fault, a.Kind, a.Action)
		if a.Error != "" {
			line += ": " + a.Error
		}
		h.Logf("%s", line)
	}
	if err != nil {
		h.Errorf("chaostest: a fault may be left behind; its journal is kept, run `chaos recover --journal %s`: %v", journalDir, err)
		return
	}
	_ = os.RemoveAll(journalDir)
}
