// Package process injects faults into local processes: processKill sends a signal
// (SIGKILL by default) to the chosen processes, processPause stops them with SIGSTOP
// and resumes them with SIGCONT on revert.
//
// Processes are chosen by pid, by pidFile, or by a regular expression over the command
// line (/proc/PID/cmdline, arguments joined by spaces). A process is identified by its
// pid AND its start time (field 22 of /proc/PID/stat), so a revert or a recover never
// signals an unrelated process that reused the pid.
package process

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Selector chooses local processes.
type Selector struct {
	// PID selects one process.
	PID int `yaml:"pid,omitempty" json:"pid,omitempty"`
	// PIDFile selects the process whose pid is written in this file.
	PIDFile string `yaml:"pidFile,omitempty" json:"pidFile,omitempty"`
	// Match selects processes whose command line matches this regular expression.
	Match string `yaml:"match,omitempty" json:"match,omitempty"`
	// Count is how many of the matching processes to hit (default 1); All hits every one.
	Count int  `yaml:"count,omitempty" json:"count,omitempty"`
	All   bool `yaml:"all,omitempty" json:"all,omitempty"`
}

// Validate checks the selector: exactly one of pid, pidFile, match; a valid regexp.
func (s *Selector) Validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	n := 0
	if s.PID != 0 {
		n++
		if s.PID < 0 {
			errs = append(errs, field.Invalid(p.Child("pid"), s.PID, "must be > 0"))
		}
		if s.PID == 1 {
			errs = append(errs, field.Invalid(p.Child("pid"), s.PID, "pid 1 (init) is never a target: the machine or container would go down with it"))
		}
	}
	if s.PIDFile != "" {
		n++
	}
	if s.Match != "" {
		n++
		if _, err := regexp.Compile(s.Match); err != nil {
			errs = append(errs, field.Invalid(p.Child("match"), s.Match, "invalid regular expression: "+err.Error()))
		}
	}
	if n != 1 {
		errs = append(errs, field.Required(p, "exactly one of pid, pidFile, match is required"))
	}
	if s.Count < 0 {
		errs = append(errs, field.Invalid(p.Child("count"), s.Count, "must be >= 1"))
	}
	if s.All && s.Count > 0 {
		errs = append(errs, field.Invalid(p.Child("all"), s.All, "all and count are mutually exclusive"))
	}
	return errs
}

// Proc is one process identified by pid and start time.
type Proc struct {
	PID       int    `json:"pid"`
	StartTime uint64 `json:"startTime"`
	Cmdline   string `json:"cmdline"`
}

func (p Proc) String() string { return fmt.Sprintf("pid %d (%s)", p.PID, p.Cmdline) }

// errGone says the process no longer exists (or its pid was reused).
var errGone = errors.New("process: gone")

// readStat returns the state letter and start time of pid.
func readStat(pid int) (state byte, start uint64, err error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return 0, 0, errGone
		}
		return 0, 0, err
	}
	// The command name is in parentheses and may contain spaces: parse after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return 0, 0, fmt.Errorf("process: malformed /proc/%d/stat", pid)
	}
	fields := strings.Fields(string(b[i+2:]))
	// fields[0] is state (field 3); start time is field 22 → fields[19].
	if len(fields) < 20 {
		return 0, 0, fmt.Errorf("process: malformed /proc/%d/stat", pid)
	}
	start, err = strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("process: malformed /proc/%d/stat: %w", pid, err)
	}
	return fields[0][0], start, nil
}

func readCmdline(pid int) string {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(bytes.ReplaceAll(b, []byte{0}, []byte{' '})))
}

// lookup returns the live process pid, or errGone.
func lookup(pid int) (Proc, error) {
	state, start, err := readStat(pid)
	if err != nil {
		return Proc{}, err
	}
	if state == 'Z' || state == 'X' {
		return Proc{}, errGone
	}
	return Proc{PID: pid, StartTime: start, Cmdline: readCmdline(pid)}, nil
}

// same reports whether p is still the same live process.
func (p Proc) alive() bool {
	state, start, err := readStat(p.PID)
	return err == nil && start == p.StartTime && state != 'Z' && state != 'X'
}

// resolve returns the processes the selector matches, and how many processes
// matched but are protected (see guard.go). A pid or pidFile naming a protected
// process is refused; a match leaves protected processes out.
func (s *Selector) resolve() (matched []Proc, excluded int, err error) {
	g := newGuard()
	one := func(pid int, from string) ([]Proc, int, error) {
		if why := g.protectedBy(pid); why != "" {
			return nil, 0, fmt.Errorf("refused by the process guard: %s%s", why, from)
		}
		p, err := lookup(pid)
		if err != nil {
			return nil, 0, fmt.Errorf("pid %d%s: %w", pid, from, err)
		}
		return []Proc{p}, 0, nil
	}
	switch {
	case s.PID != 0:
		return one(s.PID, "")
	case s.PIDFile != "":
		b, err := readPIDFile(s.PIDFile)
		if err != nil {
			return nil, 0, err
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 {
			return nil, 0, fmt.Errorf("pidFile %s: no pid in %q", s.PIDFile, strings.TrimSpace(string(b)))
		}
		return one(pid, " (from pidFile "+s.PIDFile+")")
	}
	re, err := regexp.Compile(s.Match)
	if err != nil {
		return nil, 0, err
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, 0, err
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmd := readCmdline(pid)
		if cmd == "" || !re.MatchString(cmd) {
			continue
		}
		if g.protectedBy(pid) != "" {
			excluded++
			continue
		}
		if p, err := lookup(pid); err == nil {
			matched = append(matched, p)
		}
	}
	sort.Slice(matched, func(i, j int) bool { return matched[i].PID < matched[j].PID })
	return matched, excluded, nil
}

// readPIDFile reads a pid file: a regular file of at most 64 bytes (a FIFO would
// block the plan forever).
func readPIDFile(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("reading pidFile: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading pidFile: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("pidFile %s: not a regular file (%s)", path, st.Mode().Type())
	}
	b, err := io.ReadAll(io.LimitReader(f, 65))
	if err != nil {
		return nil, fmt.Errorf("reading pidFile: %w", err)
	}
	if len(b) > 64 {
		return nil, fmt.Errorf("pidFile %s: more than 64 bytes, not a pid file", path)
	}
	return b, nil
}

// ancestors returns this process and its ancestors, which are never targets.
func ancestors() map[int]bool {
	m := map[int]bool{}
	for pid := os.Getpid(); pid > 1 && !m[pid]; {
		m[pid] = true
		b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
		if err != nil {
			break
		}
		i := bytes.LastIndexByte(b, ')')
		f := strings.Fields(string(b[i+2:]))
		if len(f) < 2 {
			break
		}
		pid, _ = strconv.Atoi(f[1])
	}
	return m
}

// choose picks the targets among matched processes: the first Count (default 1) by pid, or all.
func (s *Selector) choose(matched []Proc) []Proc {
	if s.All {
		return matched
	}
	n := s.Count
	if n == 0 {
		n = 1
	}
	if n > len(matched) {
		n = len(matched)
	}
	return matched[:n]
}

func (s *Selector) describe() string {
	switch {
	case s.PID != 0:
		return fmt.Sprintf("pid %d", s.PID)
	case s.PIDFile != "":
		return "pidFile " + s.PIDFile
	}
	return fmt.Sprintf("command line matching %q", s.Match)
}
