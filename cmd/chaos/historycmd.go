package main

import (
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/faultline-dev/faultline/experiments/cluster"
	"github.com/faultline-dev/faultline/reports"
)

// historyEntry is one run in `chaos history`, from an ExperimentRun or a report.json.
type historyEntry struct {
	Experiment, RunID, Verdict string
	Started                    time.Time
	Duration                   time.Duration
	Score                      *int
	Key                        []string // key measured numbers
}

func newHistoryCmd() *cobra.Command {
	var f clusterFlags
	var experiment, dir, since string
	cmd := &cobra.Command{
		Use:   "history",
		Short: "List past runs with verdicts, key numbers, resilience scores and trends",
		Long: `History lists runs, oldest first, from the cluster's ExperimentRuns (default) or
from a directory of report.json files (--dir, searched recursively): start, experiment,
verdict, resilience score, duration and the key measured numbers (time to recover, time
for the breaker to open). Then, per experiment: runs, verdict counts, the experiment's
score (mean of its last five scored runs) and the trend of the latest score against
the ones before it (up, down, flat within 5 points).

Score of a run (0-100): passed and failed runs score 100 x passed checks / judged
checks; a run stopped by an abort condition or maxDuration scores 0; runs that judged
nothing (not-steady, errored, halted, skipped, interrupted) have no score.`,
		Example: `  chaos history
  chaos history --experiment web-self-heals --since 30d
  chaos history --dir chaos-reports/`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var cutoff time.Time
			if since != "" {
				d, err := parseSince(since)
				if err != nil {
					return &exitError{code: 2, msg: "--since: " + err.Error()}
				}
				cutoff = time.Now().Add(-d)
			}
			var entries []historyEntry
			var err error
			if dir != "" {
				entries, err = historyFromDir(dir)
			} else {
				entries, err = historyFromCluster(cmd, &f)
			}
			if err != nil {
				return err
			}
			var kept []historyEntry
			for _, e := range entries {
				if (experiment == "" || e.Experiment == experiment) && !e.Started.Before(cutoff) {
					kept = append(kept, e)
				}
			}
			sort.SliceStable(kept, func(i, j int) bool { return kept[i].Started.Before(kept[j].Started) })
			printHistory(cmd.OutOrStdout(), kept)
			return nil
		},
	}
	f.add(cmd.Flags())
	fl := cmd.Flags()
	fl.StringVar(&experiment, "experiment", "", "only runs of this experiment (metadata.name)")
	fl.StringVar(&dir, "dir", "", "read report.json files under this directory instead of the cluster")
	fl.StringVar(&since, "since", "", "only runs started within this long (e.g. 30d, 12h, 90m)")
	return cmd
}

// parseSince accepts Go durations and a number of days ("30d").
func parseSince(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 {
			return 0, fmt.Errorf("%q is not a number of days", s)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a duration (30d, 12h, 90m)", s)
	}
	return d, nil
}

func historyFromCluster(cmd *cobra.Command, f *clusterFlags) ([]historyEntry, error) {
	c, err := f.client()
	if err != nil {
		return nil, err
	}
	runs, err := cluster.List(cmd.Context(), c, f.ns(), "")
	if err != nil {
		return nil, err
	}
	var out []historyEntry
	for _, r := range runs {
		e := historyEntry{Experiment: r.Spec.Experiment, RunID: r.Spec.RunID, Verdict: r.Status.Verdict}
		if r.Status.Phase == cluster.PhaseRunning {
			e.Verdict = "running"
		}
		if r.Status.StartTime != nil {
			e.Started = r.Status.StartTime.Time
			if r.Status.EndTime != nil {
				e.Duration = r.Status.EndTime.Sub(e.Started)
			}
		}
		if r.Status.Score != nil {
			s := int(*r.Status.Score)
			e.Score = &s
		}
		for _, c := range r.Status.Checks {
			e.Key = appendKey(e.Key, c.Kind, c.Measured)
		}
		out = append(out, e)
	}
	return out, nil
}

func historyFromDir(dir string) ([]historyEntry, error) {
	var out []historyEntry
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || d.Name() != reports.JSONFile {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var res reports.Result
		if err := json.Unmarshal(b, &res); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		e := historyEntry{Experiment: res.Experiment, RunID: res.RunID, Verdict: res.Verdict, Started: res.Started, Duration: res.Ended.Sub(res.Started)}
		if s, ok := reports.Score(&res); ok {
			e.Score = &s
		}
		for _, c := range res.Checks {
			e.Key = appendKey(e.Key, c.Kind, c.Measured)
		}
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading reports under %s: %w", dir, err)
	}
	return out, nil
}

// appendKey keeps the measured numbers that say most about resilience: time to
// recover (selfHealing) and the breaker's timings (circuitBreaker).
func appendKey(key []string, kind, measured string) []string {
	switch kind {
	case "selfHealing", "circuitBreaker":
		if measured != "" {
			return append(key, kind+": "+measured)
		}
	}
	return key
}

func printHistory(w io.Writer, entries []historyEntry) {
	if len(entries) == 0 {
		fmt.Fprintln(w, "no runs found")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STARTED\tEXPERIMENT\tRUN\tVERDICT\tSCORE\tDURATION\tKEY NUMBERS")
	type agg struct {
		runs     int
		verdicts map[string]int
		scores   []int
	}
	per := map[string]*agg{}
	var names []string
	for _, e := range entries {
		score := "-"
		if e.Score != nil {
			score = strconv.Itoa(*e.Score)
		}
		dur := "-"
		if e.Duration > 0 {
			dur = e.Duration.Round(10 * time.Millisecond).String()
		}
		key := strings.Join(e.Key, "; ")
		if key == "" {
			key = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Started.Local().Format("2006-01-02 15:04:05"), e.Experiment, e.RunID, e.Verdict, score, dur, key)
		a := per[e.Experiment]
		if a == nil {
			a = &agg{verdicts: map[string]int{}}
			per[e.Experiment] = a
			names = append(names, e.Experiment)
		}
		a.runs++
		a.verdicts[e.Verdict]++
		if e.Score != nil {
			a.scores = append(a.scores, *e.Score)
		}
	}
	tw.Flush()
	sort.Strings(names)
	fmt.Fprintln(w)
	for _, n := range names {
		a := per[n]
		var vs []string
		for v, k := range a.verdicts {
			vs = append(vs, fmt.Sprintf("%d %s", k, v))
		}
		sort.Strings(vs)
		line := fmt.Sprintf("%s: %d runs (%s)", n, a.runs, strings.Join(vs, ", "))
		if mean, trend := reports.ExperimentScore(a.scores); len(a.scores) > 0 {
			line += fmt.Sprintf(", score %d", mean)
			if trend != "" {
				line += ", trend " + trend
			}
		}
		fmt.Fprintln(w, line)
	}
}
