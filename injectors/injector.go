// Package injectors defines the contract every fault implements and the registry
// that maps a fault's YAML key (e.g. "processKill") to its implementation.
//
// One fault family lives in one sub-package (injectors/process, injectors/proxy,
// injectors/netfault, injectors/kubernetes, ...). Each exports a Register(r *Registry)
// function; the built-ins are wired in one explicit place (injectors/install).
//
// The life of one fault, as driven by the runner (package experiments):
//
//	Definition.NewSpec ──decode+validate──▶ spec ──Definition.New──▶ Injector
//	Injector.Plan   (read-only: resolve targets, for --dry-run and blast radius)
//	Injector.Inject (Journal.Record BEFORE each change; prove it took effect)
//	Revert          (idempotent, own timeout, not cancelled by Ctrl-C)
//	Definition.Recover (after kill -9: undo from the journaled state alone)
package injectors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/faultline-dev/faultline/internal/kube"
)

// ErrNoTargets is returned by Plan when a selector matched nothing. A fault that hits
// nothing must never pass silently.
var ErrNoTargets = errors.New("injectors: selector matched no targets")

// ErrNothingToRevert is returned, wrapped with the reason, by Definition.Recover
// when it found nothing of the fault left to undo (an in-process proxy that died
// with its runner, a network namespace deleted and recreated). `chaos recover`
// reports "nothing to revert: <reason>" instead of "reverted", and the fault is
// done. Use NothingToRevert to build one.
var ErrNothingToRevert = errors.New("nothing to revert")

// NothingToRevert returns ErrNothingToRevert with the reason, e.g.
// NothingToRevert("the in-process proxy %s died with its runner", name).
func NothingToRevert(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrNothingToRevert)
}

// Injector applies one configured fault.
//
// Plan must not change anything; it may be called several times. Inject applies the
// fault to the targets of the most recent Plan (it calls Plan itself if none was made).
// Before each change Inject calls Journal.Record with everything Recover needs to undo
// it, so that a runner killed at any instant leaves enough on disk. Inject returns only
// after it has proved the fault is active (read back the qdisc, seen the pod UID gone,
// seen the proxy refuse); on error it has undone its partial work and returns a nil
// Revert. Inject honours ctx cancellation.
type Injector interface {
	Plan(ctx context.Context) (Plan, error)
	Inject(ctx context.Context, j Journal) (Injection, error)
}

// Revert undoes one injection. It is idempotent: calling it again, or after the
// fault vanished by itself (process exited, pod deleted), returns nil. The runner calls
// it under context.WithTimeout(context.WithoutCancel(ctx), d): Ctrl-C does not cancel
// it, but it must return when its context is done.
type Revert func(ctx context.Context) error

// Injection is what a successful Inject returns.
type Injection struct {
	Revert Revert
	// Proof says what was observed to prove the fault is active, e.g.
	// "SIGSTOP: /proc/4242/stat state T" or "qdisc tbf 8a1f: read back on veth0".
	Proof string
	// ActiveAt is when the change took effect (the toxic was added, the signal
	// sent), before the proof; zero means "when Inject started". The runner opens
	// the fault's window there and reverts it Duration later.
	ActiveAt time.Time
}

// Journal durably records the revert state of an injection in progress.
type Journal interface {
	// Record replaces the state journaled for this injection with state (JSON-encoded)
	// and syncs it to disk before returning. Call it before every change.
	Record(state any) error
}

// Plan is what an injector would do, resolved against the live system.
type Plan struct {
	// Targets are the exact objects that would be hit.
	Targets []Target `json:"targets"`
	// Action says what Inject does, e.g. "send SIGKILL to 2 of 3 matching processes".
	Action string `json:"action"`
	// Revert says how it is undone, e.g. "nothing to revert (supervisor restarts)".
	Revert string `json:"revert"`
	// Matched is the size of the candidate set the targets were chosen from (for
	// blast-radius percentages); 0 means len(Targets).
	Matched int `json:"matched,omitempty"`
	// Effect says how a call to the target behaves while the fault holds, without
	// any protection in the caller: EffectFailsFast (refused, reset, an error
	// status), EffectSlow (delayed, hangs, times out) or "" (unknown). Assertions
	// use it to tell a circuit breaker's fast failures from the fault's own.
	Effect string `json:"effect,omitempty"`
}

// Effects of a fault on unprotected calls (Plan.Effect).
const (
	EffectFailsFast = "fails-fast"
	EffectSlow      = "slow"
)

// Target is one object a fault hits.
type Target struct {
	Kind      string `json:"kind"`                // "process", "pod", "interface", "proxy", ...
	Namespace string `json:"namespace,omitempty"` // Kubernetes or network namespace
	Name      string `json:"name"`
	Detail    string `json:"detail,omitempty"` // e.g. the command line or the pod's UID
}

// Definition describes one kind of fault.
type Definition struct {
	// Key is the YAML key under a fault entry, lowerCamelCase: "processKill".
	Key string
	// Summary is one sentence for help output and the JSON schema.
	Summary string
	// NewSpec returns a pointer to a new zero spec struct the decoder fills from the
	// YAML block (fields carry `yaml` and `json` tags; time.Duration reads "100ms").
	// If the spec implements Validator its Validate is called after decoding. A string
	// field named Proxy must name one of spec.proxies (checked by the decoder).
	NewSpec func() any
	// New builds an injector from a decoded and validated spec. It has no side effects.
	New func(spec any, env *Env) (Injector, error)
	// Recover undoes a fault from its journaled state, after the runner that made it
	// died. Idempotent: "already gone" is success. May be nil if nothing needs undoing.
	Recover func(ctx context.Context, env *Env, state json.RawMessage) error
}

// Env is what the runner gives every injector of one run.
type Env struct {
	RunID      string // unique per run; tag everything you create with it
	Experiment string
	// Logf writes a progress line; never nil when set by the runner.
	Logf func(format string, args ...any)
	// Kube returns the Kubernetes clients of spec.target.kubernetes (built lazily once).
	// It returns an error when the experiment has no Kubernetes target.
	Kube func() (*kube.Client, error)
	// BlastRadius are the experiment's safety limits; injectors check their Plan against them.
	BlastRadius BlastRadius
	// Resources holds objects the experiment owns for its lifetime, by key, e.g.
	// "proxy/payments" → *proxy.Proxy. Read-only for injectors.
	Resources map[string]any
	// Claims, when set, lists what other runs' journals still hold: every fault of
	// another unfinished run (its runner alive or not) with its latest journaled
	// state. Injectors use it to pick names or handles no other run holds, and
	// Recover to leave alone an object that a live run also claims: ownership is
	// proven, never guessed from a name or a handle. Nil means unknown (Go users,
	// tests): then only what the kernel or API shows can be checked.
	Claims func() []Claim
}

// Claim is one fault of another run, as its journal has it.
type Claim struct {
	RunID string
	// Alive says the runner that wrote the journal still runs: what the claim
	// describes is that run's, and must not be touched.
	Alive bool
	Fault string
	Kind  string          // the fault's Definition.Key
	State json.RawMessage // the latest journaled state; nil if none yet
}

// Logff is Env.Logf that tolerates a nil Env or Logf.
func (e *Env) Logff(format string, args ...any) {
	if e != nil && e.Logf != nil {
		e.Logf(format, args...)
	}
}

// BlastRadius limits how much a fault may hit. Checked at plan time, before anything happens.
// In an experiment document an absent key means the default; a key written as 0 is
// refused at validation (it would otherwise silently mean "no cap").
type BlastRadius struct {
	// MaxPods caps the number of pods one fault may hit (absent: no cap).
	MaxPods int `yaml:"maxPods,omitempty" json:"maxPods,omitempty"`
	// MaxPercent caps the share of the matched set one fault may hit (absent: no cap).
	MaxPercent int `yaml:"maxPercent,omitempty" json:"maxPercent,omitempty"`
	// MaxProcesses caps how many processes a processKill/processPause match may
	// select (absent: the process family's default, 10).
	MaxProcesses int `yaml:"maxProcesses,omitempty" json:"maxProcesses,omitempty"`
	// AllowHostNetwork permits a network fault that covers every address in the
	// runner's own network namespace (it would cut or degrade every connection of
	// the host, the runner's and an operator's SSH session included).
	AllowHostNetwork bool `yaml:"allowHostNetwork,omitempty" json:"allowHostNetwork,omitempty"`
	// ProtectedNamespaces are never touched. The defaults (kube-system, kube-public,
	// kube-node-lease) are always included.
	ProtectedNamespaces []string `yaml:"protectedNamespaces,omitempty" json:"protectedNamespaces,omitempty"`
	// AllowAll permits an empty selector (everything in the namespace).
	AllowAll bool `yaml:"allowAll,omitempty" json:"allowAll,omitempty"`
}
