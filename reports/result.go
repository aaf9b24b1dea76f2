// Package reports holds the result model of one experiment run and writes it as
// report.json (everything), junit.xml (one testsuite per experiment, one testcase per
// check) and report.md (a readable summary). It imports nothing else of Faultline's:
// the runner converts its state into a Result.
package reports

import "time"

// Verdicts of a run.
const (
	VerdictPassed    = "passed"     // every check held
	VerdictFailed    = "failed"     // the system deviated (SLO, assertion, recovery)
	VerdictNotSteady = "not-steady" // the baseline did not hold; nothing was injected
	VerdictAborted   = "aborted"    // a stop condition, maxDuration or a signal ended it
	VerdictErrored   = "errored"    // it could not be carried out (faults were reverted)
)

// Result is the whole outcome of one run.
type Result struct {
	RunID       string            `json:"runID"`
	Experiment  string            `json:"experiment"`
	Source      string            `json:"source,omitempty"`
	Description string            `json:"description,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Started     time.Time         `json:"started"`
	Ended       time.Time         `json:"ended"`
	Verdict     string            `json:"verdict"`
	Reason      string            `json:"reason"`
	// Spec is the experiment's spec as JSON, for reproducing the run.
	Spec       any               `json:"spec,omitempty"`
	Plan       []PlannedFault    `json:"plan"`
	Phases     []Phase           `json:"phases"`
	Injections []Injection       `json:"injections"`
	Probes     []ProbeSeries     `json:"probes"`
	Checks     []Check           `json:"checks"`
	Rollbacks  []RollbackOutcome `json:"rollbacks,omitempty"`
	// Errors are problems of the run itself (a revert that failed, a probe that could
	// not be built), distinct from failures of the system.
	Errors []string `json:"errors,omitempty"`
}

// PlannedFault is one fault as resolved at plan time.
type PlannedFault struct {
	Name     string        `json:"name"`
	Kind     string        `json:"kind"`
	After    time.Duration `json:"after"`
	Duration time.Duration `json:"duration"`
	Targets  []Target      `json:"targets"`
	Action   string        `json:"action"`
	Revert   string        `json:"revert"`
}

// Target is one object a fault hits.
type Target struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	Detail    string `json:"detail,omitempty"`
}

// Phase is one lifecycle phase as it happened.
type Phase struct {
	Name  string    `json:"name"`
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// Injection is one fault as it happened, with measured durations.
type Injection struct {
	Fault          string        `json:"fault"`
	Kind           string        `json:"kind"`
	InjectedAt     time.Time     `json:"injectedAt,omitempty"`
	InjectDuration time.Duration `json:"injectDuration"` // inject + proof
	// InjectedAt is when the fault took effect: its window runs from there to
	// RevertedAt, and it is reverted its duration after InjectedAt. ActiveAfter is
	// how long after Inject started that was (setting it up); InjectDuration runs
	// to the end of the proof. ActiveAfter is zero when the injector does not say.
	ActiveAfter    time.Duration `json:"activeAfter,omitempty"`
	Proof          string        `json:"proof,omitempty"`
	RevertedAt     time.Time     `json:"revertedAt,omitempty"`
	RevertDuration time.Duration `json:"revertDuration"`
	Error          string        `json:"error,omitempty"`
	RevertError    string        `json:"revertError,omitempty"`
}

// ProbeSeries is every observation of one probe.
//
// Probes are open-loop: Scheduled observations were due on the probe's schedule;
// Completed of them answered (ok, failed or errored); Skipped were not started
// because the probe's maxInFlight observations were still in flight; the rest
// (Scheduled - Completed - Skipped) were in flight when sampling stopped and are
// not counted either way.
type ProbeSeries struct {
	Name         string        `json:"name"`
	Kind         string        `json:"kind"`
	OK           int           `json:"ok"`
	Failed       int           `json:"failed"`
	Errored      int           `json:"errored"`
	Every        time.Duration `json:"every,omitempty"`
	MaxInFlight  int           `json:"maxInFlight,omitempty"`
	Scheduled    int           `json:"scheduled"`
	Completed    int           `json:"completed"`
	Skipped      int           `json:"skipped"`
	Observations []Observation `json:"observations"`
}

// Observation is one probe answer; Status is "ok", "failed" or "errored".
type Observation struct {
	Time    time.Time         `json:"time"`
	Status  string            `json:"status"`
	Latency time.Duration     `json:"latency"`
	Detail  string            `json:"detail,omitempty"`
	Values  map[string]string `json:"values,omitempty"`
}

// Check statuses.
const (
	CheckPassed  = "passed"
	CheckFailed  = "failed"
	CheckErrored = "errored"
	CheckSkipped = "skipped" // not evaluated (e.g. the run ended before its window)
)

// Check is one steady-state check, SLO or assertion with its numbers.
type Check struct {
	Name     string            `json:"name"`
	Kind     string            `json:"kind"`
	Probe    string            `json:"probe,omitempty"`
	Status   string            `json:"status"`
	Expected string            `json:"expected"`
	Measured string            `json:"measured"`
	Reason   string            `json:"reason,omitempty"`
	Details  map[string]string `json:"details,omitempty"`
	// At is the time of the observation (of Probe) that Reason names, e.g. the
	// slowest answer; zero when it names none. Excerpts show the samples around it.
	At time.Time `json:"at,omitempty"`
	// Duration is how long the check's window lasted (JUnit testcase time).
	Duration time.Duration `json:"duration,omitempty"`
}

// RollbackOutcome is one rollback action as it ran.
type RollbackOutcome struct {
	Action   string        `json:"action"`
	Duration time.Duration `json:"duration"`
	Output   string        `json:"output,omitempty"`
	Error    string        `json:"error,omitempty"`
}
