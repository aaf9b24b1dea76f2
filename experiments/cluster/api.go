// Package cluster keeps a run's state in the Kubernetes cluster it targets: the
// ExperimentRun object (faultline.dev/v1alpha1) that records the run at each phase
// and holds its journal, the Lease that says the runner is alive, the halt switch
// that stops every run, and history pruning. It knows nothing of experiments: the
// runner tells it what happens through a Recorder.
//
//	chaos run ──► Recorder ──► ExperimentRun  (phase, journal lines, verdict, checks, summary)
//	                 │ renews
//	                 └──────► Lease faultline-run-<runID>   (expired: the runner is dead)
//	chaos halt ─────────────► ConfigMap faultline-halt  ◄── watched by every Recorder
//
// The CRD in deploy/crds is generated from the types below with controller-gen
// (`make generate`).
//
// +groupName=faultline.dev
// +versionName=v1alpha1
package cluster

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupVersion of the ExperimentRun API.
var GroupVersion = schema.GroupVersion{Group: "faultline.dev", Version: "v1alpha1"}

// Resource is the ExperimentRun resource for dynamic clients.
var Resource = GroupVersion.WithResource("experimentruns")

// Phases of an ExperimentRun (status.phase).
const (
	PhaseRunning   = "Running"   // the runner holds its Lease and may have faults active
	PhaseFinished  = "Finished"  // the runner ended; status.verdict says how
	PhaseRecovered = "Recovered" // the runner died; `chaos recover --cluster` or a later run reverted what it left
)

// ExperimentRun is one run of an experiment, recorded in the cluster by its runner.
//
// +kubebuilder:object:generate=true
// +kubebuilder:object:root=true
// +kubebuilder:resource:shortName=exprun;expruns,categories=faultline
// +kubebuilder:printcolumn:name="Experiment",type=string,JSONPath=`.spec.experiment`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Verdict",type=string,JSONPath=`.status.verdict`
// +kubebuilder:printcolumn:name="Score",type=integer,JSONPath=`.status.score`
// +kubebuilder:printcolumn:name="Start",type=date,JSONPath=`.status.startTime`
// +kubebuilder:printcolumn:name="Duration",type=string,JSONPath=`.status.duration`
type ExperimentRun struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ExperimentRunSpec   `json:"spec"`
	Status ExperimentRunStatus `json:"status,omitempty"`
}

// ExperimentRunSpec says which run this is. It is written once, at creation.
//
// +kubebuilder:object:generate=true
type ExperimentRunSpec struct {
	// Experiment is metadata.name of the experiment.
	Experiment string `json:"experiment"`
	// RunID is the run's ID, as in its reports and journal.
	RunID string `json:"runID"`
	// Source is the experiment file the runner read.
	// +optional
	Source string `json:"source,omitempty"`
	// Runner names where the runner ran (pod name or host) and its pid.
	// +optional
	Runner string `json:"runner,omitempty"`
	// Lease is the name of the Lease (same namespace) the runner renews while alive.
	// +optional
	Lease string `json:"lease,omitempty"`
}

// ExperimentRunStatus is the run as it goes: phase, journal, and at the end the verdict.
//
// +kubebuilder:object:generate=true
type ExperimentRunStatus struct {
	// Phase is Running, Finished or Recovered.
	// +optional
	Phase string `json:"phase,omitempty"`
	// Step is the lifecycle step the runner is in: plan, baseline, faults, recover, ...
	// +optional
	Step string `json:"step,omitempty"`
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`
	// +optional
	EndTime *metav1.Time `json:"endTime,omitempty"`
	// Duration is EndTime - StartTime, rounded (e.g. "1m32s").
	// +optional
	Duration string `json:"duration,omitempty"`
	// Verdict: passed, failed, not-steady, aborted, errored, halted or skipped.
	// +optional
	Verdict string `json:"verdict,omitempty"`
	// +optional
	Reason string `json:"reason,omitempty"`
	// Score is the run's resilience score, 0-100 (absent when the run judged nothing).
	// +optional
	Score *int32 `json:"score,omitempty"`
	// Checks are the run's checks with expected and measured values.
	// +optional
	Checks []Check `json:"checks,omitempty"`
	// Journal holds the run's journal, one JSON line per entry, written before the
	// change it describes. `chaos recover --cluster` replays it for a dead runner.
	// +optional
	Journal []string `json:"journal,omitempty"`
	// Report is the run's report.json, or a bounded summary of it when it is too large
	// for one object (ReportTruncated is then true).
	// +optional
	Report string `json:"report,omitempty"`
	// +optional
	ReportTruncated bool `json:"reportTruncated,omitempty"`
	// ReportPath is where the runner wrote its report files.
	// +optional
	ReportPath string `json:"reportPath,omitempty"`
	// Notifications says what each spec.notify webhook answered.
	// +optional
	Notifications []string `json:"notifications,omitempty"`
	// Errors are problems of the run itself (a revert that failed, ...).
	// +optional
	Errors []string `json:"errors,omitempty"`
}

// Check is one check of the run, as in report.json.
//
// +kubebuilder:object:generate=true
type Check struct {
	Name   string `json:"name"`
	Kind   string `json:"kind"`
	Status string `json:"status"`
	// +optional
	Expected string `json:"expected,omitempty"`
	// +optional
	Measured string `json:"measured,omitempty"`
	// +optional
	Reason string `json:"reason,omitempty"`
}

// ExperimentRunList is a list of ExperimentRuns.
//
// +kubebuilder:object:generate=true
// +kubebuilder:object:root=true
type ExperimentRunList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ExperimentRun `json:"items"`
}
