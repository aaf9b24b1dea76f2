package execprobe

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/faultline-dev/faultline/steadystate"
)

func probe(t *testing.T, s Spec) steadystate.Observation {
	t.Helper()
	if errs := s.Validate(field.NewPath("exec")); len(errs) > 0 {
		t.Fatalf("invalid spec: %v", errs.ToAggregate())
	}
	p, err := New(&s)
	if err != nil {
		t.Fatal(err)
	}
	o := p.Probe(context.Background())
	if o.Time.IsZero() {
		t.Fatal("zero time")
	}
	return o
}

func TestProbe(t *testing.T) {
	dir := t.TempDir()
	notExec := filepath.Join(dir, "script.sh")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\necho hi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		spec   Spec
		status steadystate.Status
		detail string // prefix
	}{
		{"true", Spec{Command: []string{"true"}}, steadystate.StatusOK, "exit 0"},
		{"false", Spec{Command: []string{"false"}}, steadystate.StatusFailed, "exit 1 (want 0)"},
		{"expected exit code", Spec{Command: []string{"false"}, ExpectExitCode: 1}, steadystate.StatusOK, "exit 1"},
		{"stderr in detail", Spec{Command: []string{"sh", "-c", "echo starting >&2; echo boom >&2; exit 3"}},
			steadystate.StatusFailed, "exit 3 (want 0): boom"},
		{"stdout contains", Spec{Command: []string{"echo", "replication ok"}, StdoutContains: "ok"}, steadystate.StatusOK, "exit 0"},
		{"stdout lacks", Spec{Command: []string{"echo", "lagging"}, StdoutContains: "ok"}, steadystate.StatusFailed, `stdout lacks "ok"`},
		{"stdout regex ignores trailing newline", Spec{Command: []string{"sh", "-c", "echo $FAULTLINE_X"},
			Env: map[string]string{"FAULTLINE_X": "bar"}, StdoutRegex: "^bar$"}, steadystate.StatusOK, "exit 0"},
		{"stdout regex mismatch", Spec{Command: []string{"echo", "3"}, StdoutRegex: "^[12]$"}, steadystate.StatusFailed, "stdout does not match /^[12]$/"},
		{"dir", Spec{Command: []string{"pwd"}, Dir: dir, StdoutRegex: "^" + dir + "$"}, steadystate.StatusOK, "exit 0"},
		{"killed by a signal", Spec{Command: []string{"sh", "-c", "kill -SEGV $$"}}, steadystate.StatusFailed, "killed by signal segmentation fault"},
		{"not found is errored", Spec{Command: []string{"faultline-no-such-binary"}}, steadystate.StatusErrored, "starting faultline-no-such-binary: exec: "},
		{"missing path is errored", Spec{Command: []string{filepath.Join(dir, "nope")}}, steadystate.StatusErrored, "starting "},
		{"not executable is errored", Spec{Command: []string{notExec}}, steadystate.StatusErrored, "starting " + notExec + ": "},
		{"missing dir is errored", Spec{Command: []string{"true"}, Dir: filepath.Join(dir, "nope")}, steadystate.StatusErrored, "starting true: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := probe(t, tt.spec)
			if o.Status != tt.status || !strings.HasPrefix(o.Detail, tt.detail) {
				t.Errorf("got %s %q, want %s %q...", o.Status, o.Detail, tt.status, tt.detail)
			}
		})
	}
}

func TestProbeValues(t *testing.T) {
	o := probe(t, Spec{Command: []string{"sh", "-c", "echo '  revision 4  '; exit 0"}})
	if o.Values["stdout"] != "revision 4" || o.Values["exitCode"] != "0" {
		t.Errorf("values = %q", o.Values)
	}
	o = probe(t, Spec{Command: []string{"sh", "-c", "head -c 5000 /dev/zero | tr '\\0' x"}})
	if len(o.Values["stdout"]) != valueLimit+3 {
		t.Errorf("stdout value not truncated: %d bytes", len(o.Values["stdout"]))
	}
}

// marker returns a unique sleep argument (about 30s) so that leftovers can be
// found in /proc, and do not linger long when a test fails.
func marker(t *testing.T) string {
	t.Helper()
	return fmt.Sprintf("30.%05d%04d", os.Getpid()%100000, time.Now().UnixNano()%10000)
}

// alive lists live (non-zombie) processes whose argv contains arg.
func alive(t *testing.T, arg string) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, e := range entries {
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !bytes.Contains(cmdline, []byte("\x00"+arg+"\x00")) {
			continue
		}
		stat, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:])); len(f) > 0 && f[0] == "Z" {
			continue
		}
		found = append(found, e.Name()+": "+strings.ReplaceAll(string(cmdline), "\x00", " "))
	}
	return found
}

// eventually polls cond for up to 2s: a SIGKILLed process leaves /proc shortly after.
func eventually(cond func() bool) bool {
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return cond()
}

func TestProbeTimeoutKillsProcessGroup(t *testing.T) {
	m := marker(t)
	// sh starts a background sleep and a foreground one; both must die.
	o := probe(t, Spec{Command: []string{"sh", "-c", "sleep " + m + " & sleep " + m}, Timeout: 200 * time.Millisecond})
	if o.Status != steadystate.StatusFailed || o.Detail != "timeout after 200ms" {
		t.Errorf("got %s %q, want failed \"timeout after 200ms\"", o.Status, o.Detail)
	}
	if o.Latency < 200*time.Millisecond || o.Latency > 1500*time.Millisecond {
		t.Errorf("latency %v, want about 200ms", o.Latency)
	}
	if !eventually(func() bool { return len(alive(t, m)) == 0 }) {
		t.Errorf("processes left behind: %v", alive(t, m))
	}
}

func TestProbeLeftoverAfterExitIsKilled(t *testing.T) {
	m := marker(t)
	o := probe(t, Spec{Command: []string{"sh", "-c", "sleep " + m + " & echo started"}, StdoutContains: "started"})
	if o.Status != steadystate.StatusOK {
		t.Errorf("got %s %q, want ok", o.Status, o.Detail)
	}
	if o.Latency > time.Second {
		t.Errorf("a leftover holding stdout delayed the probe: %v", o.Latency)
	}
	if !eventually(func() bool { return len(alive(t, m)) == 0 }) {
		t.Errorf("processes left behind: %v", alive(t, m))
	}
}

func TestProbeCancelledIsErrored(t *testing.T) {
	m := marker(t)
	p, err := New(&Spec{Command: []string{"sleep", m}, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	o := p.Probe(ctx)
	if o.Status != steadystate.StatusErrored || o.Detail != "cancelled by the runner" {
		t.Errorf("got %s %q, want errored cancelled", o.Status, o.Detail)
	}
	if !eventually(func() bool { return len(alive(t, m)) == 0 }) {
		t.Errorf("processes left behind: %v", alive(t, m))
	}
}

func TestValidate(t *testing.T) {
	for _, tt := range []struct {
		spec Spec
		want string
	}{
		{Spec{Command: []string{"curl", "-f"}, ExpectExitCode: 7, StdoutRegex: "^ok", Timeout: time.Second, Env: map[string]string{"A": "1"}}, ""},
		{Spec{}, "exec.command: Required value"},
		{Spec{Command: []string{" "}}, "exec.command[0]"},
		{Spec{Command: []string{"x"}, ExpectExitCode: 256}, "exec.expectExitCode"},
		{Spec{Command: []string{"x"}, StdoutRegex: "(("}, "exec.stdoutRegex"},
		{Spec{Command: []string{"x"}, Timeout: -1}, "exec.timeout"},
		{Spec{Command: []string{"x"}, Env: map[string]string{"A=B": "1"}}, "exec.env[A=B]"},
	} {
		errs := tt.spec.Validate(field.NewPath("exec"))
		switch {
		case tt.want == "" && len(errs) > 0:
			t.Errorf("%+v: unexpected %v", tt.spec, errs.ToAggregate())
		case tt.want != "" && (len(errs) == 0 || !strings.Contains(errs.ToAggregate().Error(), tt.want)):
			t.Errorf("%+v: got %v, want %q", tt.spec, errs.ToAggregate(), tt.want)
		}
	}
}

func TestRegister(t *testing.T) {
	r := steadystate.NewRegistry()
	if err := Register(r); err != nil {
		t.Fatal(err)
	}
	if err := Register(r); err == nil {
		t.Error("registering twice must fail")
	}
	d, _ := r.Probe(Key)
	spec := d.NewSpec().(*Spec)
	spec.Command = []string{"true"}
	p, err := d.New(spec, &steadystate.Env{})
	if err != nil {
		t.Fatal(err)
	}
	if o := p.Probe(context.Background()); o.Status != steadystate.StatusOK {
		t.Errorf("got %s %q", o.Status, o.Detail)
	}
}
