// Package steadystate defines how Faultline looks at a system: probes that answer one
// Observation at a time, the time series they build, SLOs over that series, and the
// resilience assertions (selfHealing, circuitBreaker, rollback, ...) computed from it.
//
//	Probe.Probe ──every `every`──▶ []Observation ──┬─▶ SLO over a window (ratio, pXX)
//	                                                └─▶ Assertion.Check(Timeline) ─▶ Check
//
// A probe that could not ask (its own error: bad DNS name, exec binary missing) returns
// StatusErrored. A system that answered badly (HTTP 503, connection refused by the
// target, wrong body) is StatusFailed. The two are never mixed up: SLOs count only
// ok/failed, and errored samples are reported separately.
//
// Probe and assertion kinds are registered in Registry values keyed by their YAML key;
// the built-ins are wired in steadystate/install.
package steadystate

import (
	"context"
	"time"

	"github.com/faultline-dev/faultline/internal/kube"
)

// Status is the outcome of one observation.
type Status string

const (
	StatusOK      Status = "ok"      // the system answered as expected
	StatusFailed  Status = "failed"  // the system answered, badly (or refused)
	StatusErrored Status = "errored" // the probe could not ask; says nothing of the system
)

// Observation is one answer of one probe.
type Observation struct {
	Time    time.Time     `json:"time"`
	Status  Status        `json:"status"`
	Latency time.Duration `json:"latency"`
	// Detail is short: "200", "503", "connection refused", "3/3 ready".
	Detail string `json:"detail,omitempty"`
	// Values carries structured readings for assertions, e.g. {"revision": "4"},
	// {"breaker": "open"}, {"ready": "3", "desired": "3"}.
	Values map[string]string `json:"values,omitempty"`
}

// Probe asks the system one question.
//
// Probe blocks for at most the probe's own timeout and returns when ctx is done. It
// never panics and never returns a zero Time: an error of the probe itself is an
// Observation with StatusErrored. Probe may be called concurrently with itself.
type Probe interface {
	Probe(ctx context.Context) Observation
}

// Definition describes one kind of probe.
type Definition struct {
	// Key is the YAML key inside a probe entry: "http", "tcp", "exec", "kubernetes".
	Key     string
	Summary string
	// NewSpec returns a pointer to a zero spec struct for the decoder (see
	// injectors.Definition.NewSpec for the rules; Validator is honoured).
	NewSpec func() any
	// New builds a probe from a decoded, validated spec, without side effects.
	New func(spec any, env *Env) (Probe, error)
}

// Env is what the runner gives every probe and assertion of one run.
type Env struct {
	RunID string
	Logf  func(format string, args ...any)
	// Kube returns the clients of spec.target.kubernetes; an error if there is none.
	Kube func() (*kube.Client, error)
}

// Cancelled reports whether the runner's context ended, so that the observation is
// StatusErrored (the probe was cut short) rather than a failure of the system. A
// passed deadline counts even before its timer fired: a dialer's socket deadline may
// expire a hair earlier than the context's own.
func Cancelled(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	dl, ok := ctx.Deadline()
	return ok && !time.Now().Before(dl)
}
