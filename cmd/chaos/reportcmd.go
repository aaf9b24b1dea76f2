package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/faultline-dev/faultline/reports"
)

func newReportCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "report FILE.json|DIR [FILE.json|DIR]",
		Short: "Render report.html from a run's report.json; two runs side by side",
		Long: `Report renders the HTML report of a run from its report.json (a report
directory or the file itself), so old runs and runs from CI artifacts can be looked
at. With two arguments it renders both runs on one page: their timelines on one time
scale aligned at each run's start, and the checks' measured values side by side
(before and after a resilience fix).

The default output is report.html in the run's directory (for one run) or
compare.html in the current directory (for two). The page needs no network.`,
		Example: `  chaos report chaos-reports/checkout-survives-payments-outage-20261123-070754/
  chaos report before/report.json after/report.json --out compare.html`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return renderReport(cmd.OutOrStdout(), args, out)
		},
	}
	cmd.Flags().StringVarP(&out, "out", "o", "", "write the HTML here (default: report.html next to the report.json; compare.html for two runs)")
	return cmd
}

func renderReport(stdout io.Writer, args []string, out string) error {
	var runs []*reports.Result
	var paths []string
	for _, a := range args {
		p, r, err := readReport(a)
		if err != nil {
			return &exitError{code: 2, msg: err.Error()}
		}
		runs, paths = append(runs, r), append(paths, p)
	}
	var buf bytes.Buffer
	var err error
	if len(runs) == 1 {
		if out == "" {
			out = filepath.Join(filepath.Dir(paths[0]), reports.HTMLFile)
		}
		err = reports.WriteHTML(&buf, runs[0])
	} else {
		if out == "" {
			out = "compare.html"
		}
		err = reports.WriteHTMLCompare(&buf, runs[0], runs[1])
	}
	if err != nil {
		return err
	}
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", out, err)
	}
	fmt.Fprintln(stdout, out)
	return nil
}

// readReport reads report.json from a file or a report directory.
func readReport(arg string) (string, *reports.Result, error) {
	p := arg
	if fi, err := os.Stat(arg); err == nil && fi.IsDir() {
		p = filepath.Join(arg, reports.JSONFile)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return p, nil, fmt.Errorf("reading report: %w", err)
	}
	var r reports.Result
	if err := json.Unmarshal(b, &r); err != nil {
		return p, nil, fmt.Errorf("%s: not a Faultline report.json: %w", p, err)
	}
	if r.RunID == "" && r.Experiment == "" {
		return p, nil, fmt.Errorf("%s: not a Faultline report.json (no runID or experiment)", p)
	}
	// Keep the spec as written (its keys in the order of the experiment format,
	// not sorted as a decoded map would print them).
	var spec struct {
		Spec json.RawMessage `json:"spec"`
	}
	if err := json.Unmarshal(b, &spec); err == nil && len(spec.Spec) > 0 {
		r.Spec = spec.Spec
	}
	return p, &r, nil
}
