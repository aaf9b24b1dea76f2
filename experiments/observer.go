package experiments

import (
	"context"
	"errors"
	"time"

	"github.com/faultline-dev/faultline/reports"
)

// Verdicts a run gets from its observers or its safety windows, beside reports'.
const (
	// VerdictHalted: the cluster's halt switch was on (`chaos halt`); nothing was touched.
	VerdictHalted = "halted"
	// VerdictSkipped: the run was outside safety.windows; nothing was touched.
	VerdictSkipped = "skipped"
)

// ErrHalted is wrapped by an Observer's Start error when runs must not start.
var ErrHalted = errors.New("halted")

// Observer follows one run. The runner calls Start once before anything is touched
// (not for dry runs), Phase at each lifecycle phase, Journal for every journal line
// after it is on local disk and BEFORE the change it describes is made, and Finish
// once with the finished result. Calls come from the runner's goroutines, one at a
// time for Start and Finish; Phase and Journal may come from several goroutines.
type Observer interface {
	// Start may refuse the run: an error wrapping ErrHalted ends it as "halted", any
	// other as "errored", before plan. stop ends a started run early as "aborted"
	// with the reason given; every fault is reverted first.
	Start(ctx context.Context, info RunInfo, stop func(reason string)) error
	Phase(ctx context.Context, name string)
	// Journal errors stop the change the line describes (the run ends "errored").
	Journal(ctx context.Context, e JournalEntry) error
	Finish(ctx context.Context, res *reports.Result)
}

// RunInfo describes the run an Observer follows.
type RunInfo struct {
	RunID, Experiment, Source string
	Started                   time.Time
}

type haltError struct{ reason string }

func (e haltError) Error() string { return e.reason }

// observeStart starts every observer; it returns a verdict when the run must not go on.
func (r *run) observeStart(ctx context.Context) (verdict, reason string) {
	if r.opts.DryRun {
		return "", ""
	}
	if r.clusterEnabled() {
		r.observers = append(r.observers, &clusterObserver{r: r})
	}
	if r.opts.Observer != nil {
		r.observers = append(r.observers, r.opts.Observer)
	}
	info := RunInfo{RunID: r.id, Experiment: r.e.Metadata.Name, Source: r.e.Source, Started: r.res.Started}
	for i, o := range r.observers {
		err := o.Start(ctx, info, func(reason string) { r.cancel(haltError{reason}) })
		if err != nil {
			r.observers = r.observers[:i+1] // the failed one still records the verdict
			if errors.Is(err, ErrHalted) {
				return VerdictHalted, err.Error() + "; nothing was touched"
			}
			return reports.VerdictErrored, err.Error() + "; nothing was touched"
		}
	}
	return "", ""
}

func (r *run) observePhase(name string) {
	for _, o := range r.observers {
		o.Phase(context.Background(), name)
	}
}

func (r *run) observeJournal(e JournalEntry) error {
	var errs []error
	for _, o := range r.observers {
		errs = append(errs, o.Journal(context.Background(), e))
	}
	return errors.Join(errs...)
}

func (r *run) observeFinish() {
	for _, o := range r.observers {
		o.Finish(context.Background(), r.res)
	}
}
