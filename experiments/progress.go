package experiments

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/faultline-dev/faultline/reports"
	"github.com/faultline-dev/faultline/steadystate"
)

// progress shows what a run is doing. On a TTY it redraws one compact line
// ("[faults 12s left] checkout ok 3ms · payments failed 503"); otherwise (CI logs) it
// writes timestamped lines: phase changes, injections, reverts, and every 5 s a probe
// summary.
type progress struct {
	w    io.Writer
	tty  bool
	name string

	mu       sync.Mutex
	phaseNm  string
	deadline time.Time
	last     map[string]steadystate.Observation
	counts   map[string][3]int
	lastLine time.Time
	drawn    bool
	stop     chan struct{}
	done     chan struct{}
}

func newProgress(w io.Writer, tty bool, name string) *progress {
	p := &progress{w: w, tty: tty, name: name, last: map[string]steadystate.Observation{}, counts: map[string][3]int{}}
	if w != nil {
		p.stop, p.done = make(chan struct{}), make(chan struct{})
		go p.loop()
	}
	return p
}

func (p *progress) loop() {
	defer close(p.done)
	every := 5 * time.Second
	if p.tty {
		every = 200 * time.Millisecond
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.mu.Lock()
			if p.tty {
				p.redraw()
			} else if len(p.last) > 0 && p.phaseNm != "" {
				p.line("%s", p.status())
			}
			p.mu.Unlock()
		}
	}
}

func (p *progress) close() {
	if p.w == nil {
		return
	}
	close(p.stop)
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
		p.drawn = false
	}
}

// status is "phase (12s left) | probe ok 3ms (41 ok, 2 failed)".
func (p *progress) status() string {
	var b strings.Builder
	b.WriteString(p.phaseNm)
	if !p.deadline.IsZero() {
		if left := time.Until(p.deadline); left > 0 {
			fmt.Fprintf(&b, " (%s left)", left.Round(time.Second))
		}
	}
	names := make([]string, 0, len(p.last))
	for n := range p.last {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		o, c := p.last[n], p.counts[n]
		fmt.Fprintf(&b, " | %s %s %s", n, o.Status, round(o.Latency))
		if o.Detail != "" && o.Status != steadystate.StatusOK {
			fmt.Fprintf(&b, " %q", o.Detail)
		}
		fmt.Fprintf(&b, " (%d ok, %d failed, %d errored)", c[0], c[1], c[2])
	}
	return b.String()
}

func (p *progress) redraw() {
	fmt.Fprintf(p.w, "\r\033[K%s", p.status())
	p.drawn = true
}

// line writes one timestamped line (clearing the TTY line first). Caller holds mu.
func (p *progress) line(format string, args ...any) {
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
		p.drawn = false
	}
	fmt.Fprintf(p.w, "%s %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
	p.lastLine = time.Now()
}

func (p *progress) event(format string, args ...any) {
	if p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.line(format, args...)
}

func (p *progress) logf(format string, args ...any) { p.event(format, args...) }

func (p *progress) phase(name string, d time.Duration) {
	if p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.phaseNm = name
	p.deadline = time.Time{}
	if d > 0 {
		p.deadline = time.Now().Add(d)
		p.line("%s: phase %s (%s)", p.name, name, d)
	} else {
		p.line("%s: phase %s", p.name, name)
	}
}

func (p *progress) observe(probe string, o steadystate.Observation) {
	if p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	prev, seen := p.last[probe]
	p.last[probe] = o
	c := p.counts[probe]
	switch o.Status {
	case steadystate.StatusOK:
		c[0]++
	case steadystate.StatusFailed:
		c[1]++
	default:
		c[2]++
	}
	p.counts[probe] = c
	// In plain mode, say when a probe changes state: that is what a CI log reader wants.
	if !p.tty && seen && prev.Status != o.Status {
		p.line("probe %s: %s -> %s %s", probe, prev.Status, o.Status, o.Detail)
	}
}

func (p *progress) plan(plan []reports.PlannedFault) {
	if p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, f := range plan {
		p.line("plan: %s (%s) at +%s for %s: %s", f.Name, f.Kind, f.After, f.Duration, f.Action)
		for _, t := range f.Targets {
			p.line("plan:   target %s %s", t.Kind, targetName(t))
		}
		p.line("plan:   revert: %s", f.Revert)
	}
}

func targetName(t reports.Target) string {
	s := t.Name
	if t.Namespace != "" {
		s = t.Namespace + "/" + s
	}
	if t.Detail != "" {
		s += " (" + t.Detail + ")"
	}
	return s
}

// Tracker lets a caller (the CLI's second Ctrl-C) see what a run is doing.
type Tracker struct {
	mu        sync.Mutex
	phaseName string
	inRevert  map[string]bool
}

func (t *Tracker) setPhase(name string) {
	t.mu.Lock()
	t.phaseName = name
	t.mu.Unlock()
}

func (t *Tracker) reverting(fault string, on bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.inRevert == nil {
		t.inRevert = map[string]bool{}
	}
	if on {
		t.inRevert[fault] = true
	} else {
		delete(t.inRevert, fault)
	}
}

// Status says the phase and which faults are being reverted right now.
func (t *Tracker) Status() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var names []string
	for n := range t.inRevert {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) == 0 {
		return "phase " + t.phaseName
	}
	return "phase " + t.phaseName + "; reverting " + strings.Join(names, ", ")
}
