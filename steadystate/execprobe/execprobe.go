// Package execprobe is the `exec` probe: it runs one command per observation
// (argv, no shell) and judges its exit code and standard output.
//
//	steadyState:
//	  probes:
//	    - name: replication
//	      exec:
//	        command: ["psql", "-tAc", "select 1"]
//	        expectExitCode: 0         # default 0
//	        stdoutContains: "1"
//	        stdoutRegex: '^1$'
//	        timeout: 5s               # default 5s
//	        env: {PGHOST: db.internal}
//	        dir: /srv
//
// The command inherits the runner's environment plus env, and runs in its own
// process group. When the timeout expires the whole group is killed (SIGKILL), and
// after the command exits any process it left behind in its group is killed too, so
// no probe process outlives its observation.
//
// Classification: errored when the command could not be started (binary not found,
// not executable, dir missing) or the runner cancelled the probe; failed when it
// exited with another code than expectExitCode, was killed by the timeout or a
// signal, or its stdout lacks stdoutContains or does not match stdoutRegex.
// Detail is "exit 0", "exit 1 (want 0)", "timeout after 5s", `stdout lacks "ok"`;
// on a failure the last line of stderr is appended. Values["exitCode"] holds the
// exit code and Values["stdout"] the first 128 bytes of stdout, trimmed.
package execprobe

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/faultline-dev/faultline/steadystate"
)

// Key is the YAML key of this probe.
const Key = "exec"

// DefaultTimeout bounds one run when Spec.Timeout is zero.
const DefaultTimeout = 5 * time.Second

// Spec is the `exec` block of a probe.
type Spec struct {
	// Command is the argv; Command[0] is looked up in PATH unless it has a slash.
	Command []string `yaml:"command" json:"command"`
	// ExpectExitCode is the exit code of success (default 0).
	ExpectExitCode int `yaml:"expectExitCode,omitempty" json:"expectExitCode,omitempty"`
	// StdoutContains must occur in stdout (first 1 MiB).
	StdoutContains string `yaml:"stdoutContains,omitempty" json:"stdoutContains,omitempty"`
	// StdoutRegex (RE2) must match stdout (first 1 MiB).
	StdoutRegex string `yaml:"stdoutRegex,omitempty" json:"stdoutRegex,omitempty"`
	// Timeout bounds one run (default 5s); the process group is killed after it.
	Timeout time.Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	// Env is added to the runner's environment.
	Env map[string]string `yaml:"env,omitempty" json:"env,omitempty"`
	// Dir is the working directory (default: the runner's).
	Dir string `yaml:"dir,omitempty" json:"dir,omitempty"`
}

// Validate checks the spec without I/O.
func (s *Spec) Validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(s.Command) == 0 {
		errs = append(errs, field.Required(p.Child("command"), "an argv list such as [\"curl\", \"-f\", \"http://...\"] is required"))
	} else if strings.TrimSpace(s.Command[0]) == "" {
		errs = append(errs, field.Invalid(p.Child("command").Index(0), s.Command[0], "must name a program"))
	}
	if s.ExpectExitCode < 0 || s.ExpectExitCode > 255 {
		errs = append(errs, field.Invalid(p.Child("expectExitCode"), s.ExpectExitCode, "must be between 0 and 255"))
	}
	if s.StdoutRegex != "" {
		if _, err := regexp.Compile(s.StdoutRegex); err != nil {
			errs = append(errs, field.Invalid(p.Child("stdoutRegex"), s.StdoutRegex, "must be a valid regular expression: "+err.Error()))
		}
	}
	if s.Timeout < 0 {
		errs = append(errs, field.Invalid(p.Child("timeout"), s.Timeout.String(), "must be > 0"))
	}
	for k := range s.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			errs = append(errs, field.Invalid(p.Child("env").Key(k), k, "must be a variable name without '='"))
		}
	}
	return errs
}

// Register adds the `exec` probe to r.
func Register(r *steadystate.Registry) error {
	return r.Register(steadystate.Definition{
		Key:     Key,
		Summary: "Runs one command (no shell) and checks its exit code and stdout.",
		NewSpec: func() any { return &Spec{} },
		New: func(spec any, _ *steadystate.Env) (steadystate.Probe, error) {
			s, ok := spec.(*Spec)
			if !ok {
				return nil, fmt.Errorf("execprobe: spec is %T, want *execprobe.Spec", spec)
			}
			return New(s)
		},
	})
}
