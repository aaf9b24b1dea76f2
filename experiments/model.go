// Package experiments holds the experiment model, its YAML decoding and validation,
// the runner that carries an experiment through its lifecycle, and the journal that
// lets `chaos recover` undo what a killed runner left behind.
//
//	Load/Decode ─▶ Experiment ─▶ Validate (all errors, file:line:col: path: msg)
//	                   │
//	Runner.Run: plan ─▶ baseline ─▶ inject ─▶ observe ─▶ revert ─▶ recover ─▶ rollbacks ─▶ verdict
//	                                  │ journal entry written and synced before each change
//	                                  ▼
//	                              Journal (dir) ◀── Recover (chaos recover)
package experiments

import (
	"time"

	"github.com/faultline-dev/faultline/injectors"
	"github.com/faultline-dev/faultline/internal/kube"
)

// APIVersion and Kind of an experiment document.
const (
	APIVersion = "faultline.dev/v1alpha1"
	Kind       = "Experiment"
)

// Experiment is one experiment document.
type Experiment struct {
	APIVersion string   `yaml:"apiVersion" json:"apiVersion"`
	Kind       string   `yaml:"kind" json:"kind"`
	Metadata   Metadata `yaml:"metadata" json:"metadata"`
	Spec       Spec     `yaml:"spec" json:"spec"`

	// Source is the file it was read from ("" when built in Go).
	Source string `yaml:"-" json:"-"`
}

// Metadata names an experiment.
type Metadata struct {
	Name   string            `yaml:"name" json:"name"`
	Labels map[string]string `yaml:"labels,omitempty" json:"labels,omitempty"`
}

// Spec is what an experiment does.
type Spec struct {
	Description string      `yaml:"description,omitempty" json:"description,omitempty"`
	Target      Target      `yaml:"target,omitempty" json:"target,omitempty"`
	SteadyState SteadyState `yaml:"steadyState" json:"steadyState"`
	Faults      []Fault     `yaml:"faults" json:"faults"`
	Proxies     []ProxySpec `yaml:"proxies,omitempty" json:"proxies,omitempty"`
	Verify      []Assertion `yaml:"verify,omitempty" json:"verify,omitempty"`
	Abort       []AbortRule `yaml:"abort,omitempty" json:"abort,omitempty"`
	Rollbacks   []Rollback  `yaml:"rollbacks,omitempty" json:"rollbacks,omitempty"`
	Safety      Safety      `yaml:"safety,omitempty" json:"safety,omitempty"`
}

// Target says where Kubernetes faults and probes go; empty for local-only experiments.
type Target struct {
	Kubernetes *kube.Target `yaml:"kubernetes,omitempty" json:"kubernetes,omitempty"`
}

// SteadyState is what "healthy" looks like.
type SteadyState struct {
	// Baseline is how long the probes must hold before anything is injected (default 2s).
	Baseline time.Duration `yaml:"baseline,omitempty" json:"baseline,omitempty"`
	// Recovery is how long, after the last revert, the system has to be steady again
	// (default 30s). The recover phase ends early once every probe is steady.
	Recovery time.Duration `yaml:"recovery,omitempty" json:"recovery,omitempty"`
	Probes   []Probe       `yaml:"probes" json:"probes"`
}

// Probe is one steady-state probe: a name, a sampling interval, an optional SLO, and
// exactly one probe key (Kind) whose block is decoded into Spec.
type Probe struct {
	Name string `yaml:"name" json:"name"`
	// Every is the sampling interval (default 1s). Probes are sampled from the start
	// of the baseline until the end of the recover phase.
	Every time.Duration `yaml:"every,omitempty" json:"every,omitempty"`
	// MaxInFlight bounds how many observations of this probe may be in flight at
	// once (default DefaultMaxInFlight). Probes are open-loop: an observation starts
	// on its schedule whether or not earlier ones returned; a start due while
	// MaxInFlight are in flight is skipped and counted, never silently dropped.
	MaxInFlight int  `yaml:"maxInFlight,omitempty" json:"maxInFlight,omitempty"`
	SLO         *SLO `yaml:"slo,omitempty" json:"slo,omitempty"`
	// Kind is the probe key ("http", "tcp", "exec", ...); Spec the decoded block, a
	// pointer as returned by the probe definition's NewSpec.
	Kind string `yaml:"-" json:"-"`
	Spec any    `yaml:"-" json:"-"`
}

// SLO is checked over the baseline (a miss means "not steady": nothing is injected)
// and over the fault window (a miss fails the experiment).
type SLO struct {
	SuccessRatio float64       `yaml:"successRatio,omitempty" json:"successRatio,omitempty"`
	LatencyP50   time.Duration `yaml:"latencyP50,omitempty" json:"latencyP50,omitempty"`
	LatencyP95   time.Duration `yaml:"latencyP95,omitempty" json:"latencyP95,omitempty"`
	LatencyP99   time.Duration `yaml:"latencyP99,omitempty" json:"latencyP99,omitempty"`
	// DuringFaults: also check the SLO while faults are active (default true).
	DuringFaults *bool `yaml:"duringFaults,omitempty" json:"duringFaults,omitempty"`
}

// Fault is one fault: a name, its timing, and exactly one injector key (Kind) whose
// block is decoded into Spec.
type Fault struct {
	Name string `yaml:"name" json:"name"`
	// After is the offset from the start of the fault phase (default 0).
	After time.Duration `yaml:"after,omitempty" json:"after,omitempty"`
	// Duration is how long the fault stays before it is reverted (default 10s).
	Duration time.Duration `yaml:"duration,omitempty" json:"duration,omitempty"`
	Kind     string        `yaml:"-" json:"-"`
	Spec     any           `yaml:"-" json:"-"`
}

// Assertion is one entry under verify: exactly one assertion key.
type Assertion struct {
	Kind string `yaml:"-" json:"-"`
	Spec any    `yaml:"-" json:"-"`
}

// ProxySpec declares a fault proxy the experiment owns for its lifetime, or (with API)
// one served by a running `chaos proxy`.
type ProxySpec struct {
	Name     string `yaml:"name" json:"name"`
	Listen   string `yaml:"listen,omitempty" json:"listen,omitempty"`
	Upstream string `yaml:"upstream,omitempty" json:"upstream,omitempty"`
	// API is the address of a running `chaos proxy` (or Toxiproxy) serving this proxy.
	API string `yaml:"api,omitempty" json:"api,omitempty"`
}

// AbortRule halts the experiment, reverting at once, when a probe's success ratio
// over the last Over falls below SuccessRatioBelow.
type AbortRule struct {
	Probe             string        `yaml:"probe" json:"probe"`
	SuccessRatioBelow float64       `yaml:"successRatioBelow" json:"successRatioBelow"`
	Over              time.Duration `yaml:"over,omitempty" json:"over,omitempty"`
}

// Rollback always runs at the end of a run, whatever its verdict.
type Rollback struct {
	Exec *ExecAction `yaml:"exec,omitempty" json:"exec,omitempty"`
}

// ExecAction runs a command without a shell.
type ExecAction struct {
	Command []string          `yaml:"command" json:"command"`
	Dir     string            `yaml:"dir,omitempty" json:"dir,omitempty"`
	Env     map[string]string `yaml:"env,omitempty" json:"env,omitempty"`
	Timeout time.Duration     `yaml:"timeout,omitempty" json:"timeout,omitempty"`
}

// Safety bounds a run.
type Safety struct {
	// MaxDuration aborts the run (reverting everything) when exceeded (default 10m).
	MaxDuration time.Duration `yaml:"maxDuration,omitempty" json:"maxDuration,omitempty"`
	// RevertTimeout bounds each revert (default 30s).
	RevertTimeout time.Duration         `yaml:"revertTimeout,omitempty" json:"revertTimeout,omitempty"`
	BlastRadius   injectors.BlastRadius `yaml:"blastRadius,omitempty" json:"blastRadius,omitempty"`
}
