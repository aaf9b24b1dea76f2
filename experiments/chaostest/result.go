package chaostest

import (
	"fmt"
	"strings"

	"github.com/faultline-dev/faultline/experiments"
	"github.com/faultline-dev/faultline/reports"
)

// Result is one run of an experiment inside a test. The whole reports.Result is
// embedded (res.Verdict, res.Checks, res.Probes, ...) for custom assertions.
type Result struct {
	*reports.Result
	// Definition is the experiment as it was run (after overrides and defaults).
	Definition *experiments.Experiment
	// ReportDir holds report.json, report.md and junit.xml of this run.
	ReportDir string
	// ReportFiles are the paths written into ReportDir.
	ReportFiles []string
	// ReportsKept is false when ReportDir is a temporary directory that is removed
	// after the spec or test if it passed (no WithReportDir, no $CHAOS_REPORT_DIR).
	ReportsKept bool
	// Err is the error the runner returned with the result, if any (the verdict is
	// then usually "errored"; its reason says more).
	Err error
}

// Summary is what Run attaches to the Ginkgo report (AddReportEntry, so that
// `ginkgo --junit-report` and `--json-report` carry it as a property) and logs from
// RunT. It is JSON-encoded as is; String is the console form.
type Summary struct {
	Experiment string         `json:"experiment"`
	Source     string         `json:"source,omitempty"`
	RunID      string         `json:"runID"`
	Verdict    string         `json:"verdict"`
	Reason     string         `json:"reason"`
	Checks     []CheckSummary `json:"checks"`
	Errors     []string       `json:"errors,omitempty"`
	ReportDir  string         `json:"reportDir,omitempty"`
	Reports    []string       `json:"reports,omitempty"`
	// ReportsKept: see Result.ReportsKept.
	ReportsKept bool `json:"reportsKept"`
}

// CheckSummary is one check in a Summary.
type CheckSummary struct {
	Name     string `json:"name"`
	Status   string `json:"status"`
	Expected string `json:"expected"`
	Measured string `json:"measured"`
	Reason   string `json:"reason,omitempty"`
}

// Summary condenses r for reports.
func (r *Result) Summary() Summary {
	s := Summary{ReportDir: r.ReportDir, Reports: r.ReportFiles, ReportsKept: r.ReportsKept}
	if r.Result == nil {
		return s
	}
	s.Experiment, s.Source, s.RunID = r.Experiment, r.Source, r.RunID
	s.Verdict, s.Reason, s.Errors = r.Verdict, r.Reason, r.Errors
	for _, c := range r.Checks {
		s.Checks = append(s.Checks, CheckSummary{Name: c.Name, Status: c.Status,
			Expected: c.Expected, Measured: c.Measured, Reason: c.Reason})
	}
	return s
}

// String is the console form of the summary: verdict, one line per check, reports.
func (s Summary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "experiment %s (run %s): %s", s.Experiment, s.RunID, s.Verdict)
	if s.Reason != "" {
		fmt.Fprintf(&b, ": %s", s.Reason)
	}
	for _, c := range s.Checks {
		fmt.Fprintf(&b, "\n  %s %s: expected %s, measured %s", statusMark(c.Status), c.Name, c.Expected, c.Measured)
		if c.Reason != "" && c.Status != reports.CheckPassed {
			fmt.Fprintf(&b, " (%s)", c.Reason)
		}
	}
	for _, e := range s.Errors {
		fmt.Fprintf(&b, "\n  run error: %s", e)
	}
	if s.ReportDir != "" {
		fmt.Fprintf(&b, "\n  reports: %s", s.ReportDir)
		if !s.ReportsKept {
			fmt.Fprintf(&b, " (removed if the test passes; set %s to keep them)", ReportDirEnv)
		}
	}
	return b.String()
}

// report implements reporter, so the matchers accept a *Result.
func (r *Result) report() *reports.Result {
	if r == nil {
		return nil
	}
	return r.Result
}

func (r *Result) reportDir() string {
	if r == nil {
		return ""
	}
	return r.ReportDir
}
