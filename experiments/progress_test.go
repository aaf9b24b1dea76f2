package experiments

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/steadystate"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestProgressTTYLineAndPlainLines(t *testing.T) {
	var tty syncBuf
	p := newProgress(&tty, true, "exp")
	p.phase("faults", 20*time.Second)
	p.observe("checkout", steadystate.Observation{Status: steadystate.StatusOK, Latency: 3 * time.Millisecond})
	p.observe("checkout", steadystate.Observation{Status: steadystate.StatusFailed, Detail: "503"})
	time.Sleep(450 * time.Millisecond) // two redraws at 200ms
	p.close()
	out := tty.String()
	for _, want := range []string{"\r\033[K", "faults (", "s left)", `checkout failed`, `"503"`, "(1 ok, 1 failed, 0 errored)"} {
		if !strings.Contains(out, want) {
			t.Errorf("TTY output lacks %q:\n%q", want, out)
		}
	}
	if strings.Contains(out, "probe checkout: ok -> failed") {
		t.Error("TTY mode must redraw one line, not log state changes")
	}

	var plain syncBuf
	p = newProgress(&plain, false, "exp")
	p.phase("baseline", time.Second)
	p.observe("checkout", steadystate.Observation{Status: steadystate.StatusOK})
	p.observe("checkout", steadystate.Observation{Status: steadystate.StatusFailed, Detail: "503"})
	p.event("injected x")
	p.close()
	out = plain.String()
	if strings.Contains(out, "\r") || strings.Contains(out, "\033") {
		t.Errorf("plain output must have no control characters:\n%q", out)
	}
	for _, want := range []string{"exp: phase baseline (1s)", "probe checkout: ok -> failed 503", "injected x"} {
		if !strings.Contains(out, want) {
			t.Errorf("plain output lacks %q:\n%s", want, out)
		}
	}
}
