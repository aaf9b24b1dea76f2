package process

// The process guard: which processes no fault may touch, by any selector.
//
//	pid / pidFile ─▶ lookup ─▶ protectedBy? ─▶ refused, naming the rule
//	match        ─▶ /proc scan, protected processes left out ─▶ more than
//	                 maxProcesses candidates? ─▶ refused, naming the opt-in
//
// Never a target: PID 1 (init: the machine or container goes down with it), kernel
// threads, the runner itself, its ancestors (the shell or CI job that started it),
// and another live Faultline runner (its faults would stay behind).

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/faultline-dev/faultline/injectors"
)

// DefaultMaxProcesses is how many processes a match may select when
// safety.blastRadius.maxProcesses is absent.
const DefaultMaxProcesses = 10

// pfKthread is PF_KTHREAD in the flags of /proc/PID/stat (field 9).
const pfKthread = 0x00200000

// guard holds what the runner is, read once per plan.
type guard struct {
	self      int
	ancestors map[int]bool
	exe       *syscall.Stat_t // the runner's executable, nil if unreadable
}

func newGuard() *guard {
	g := &guard{self: os.Getpid(), ancestors: ancestors()}
	var st syscall.Stat_t
	if syscall.Stat("/proc/self/exe", &st) == nil {
		g.exe = &st
	}
	return g
}

// protectedBy returns why pid may not be a target, or "" when it may.
func (g *guard) protectedBy(pid int) string {
	switch {
	case pid == 1:
		return "pid 1 (init) is never a target: the machine or container would go down with it"
	case pid == g.self:
		return fmt.Sprintf("pid %d is the runner itself", pid)
	case g.ancestors[pid]:
		return fmt.Sprintf("pid %d is an ancestor of the runner (it started this run)", pid)
	}
	if flags, err := statFlags(pid); err == nil && flags&pfKthread != 0 {
		return fmt.Sprintf("pid %d is a kernel thread", pid)
	}
	if g.isRunner(pid) {
		return fmt.Sprintf("pid %d is another Faultline runner: killing or pausing it would leave its faults behind", pid)
	}
	return ""
}

// isRunner recognises another Faultline runner: a process running the same
// executable as this runner, or a `chaos run` of another build.
func (g *guard) isRunner(pid int) bool {
	if g.exe != nil {
		var st syscall.Stat_t
		if syscall.Stat(filepath.Join("/proc", strconv.Itoa(pid), "exe"), &st) == nil &&
			st.Dev == g.exe.Dev && st.Ino == g.exe.Ino {
			return true
		}
	}
	comm, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "comm"))
	if err != nil || strings.TrimSpace(string(comm)) != "chaos" {
		return false
	}
	args, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	if err != nil {
		return false
	}
	argv := strings.Split(string(args), "\x00")
	return len(argv) > 1 && argv[1] == "run"
}

// statFlags returns the flags field (9) of /proc/PID/stat.
func statFlags(pid int) (uint64, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return 0, fmt.Errorf("process: malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+2:]))
	if len(f) < 7 {
		return 0, fmt.Errorf("process: malformed /proc/%d/stat", pid)
	}
	return strconv.ParseUint(f[6], 10, 64)
}

// maxProcesses is the effective cap on a match's candidates.
func maxProcesses(br injectors.BlastRadius) int {
	if br.MaxProcesses > 0 {
		return br.MaxProcesses
	}
	return DefaultMaxProcesses
}

// checkMatched refuses a match that selects more processes than the blast radius allows.
func (s *Selector) checkMatched(n int, br injectors.BlastRadius) error {
	if s.Match == "" {
		return nil
	}
	if limit := maxProcesses(br); n > limit {
		how := fmt.Sprintf("the default %d", limit)
		if br.MaxProcesses > 0 {
			how = strconv.Itoa(limit)
		}
		return fmt.Errorf("blast radius: match %q selects %d processes, more than safety.blastRadius.maxProcesses (%s): narrow the match or raise maxProcesses",
			s.Match, n, how)
	}
	return nil
}

// plan resolves the selector and chooses the targets under the guard and the
// blast radius. It returns the targets, the size of the candidate set, and a note
// for the plan's action when protected processes were left out.
func (s *Selector) plan(br injectors.BlastRadius) (targets []Proc, matched int, note string, err error) {
	cands, excluded, err := s.resolve()
	if err != nil {
		return nil, 0, "", err
	}
	if excluded > 0 {
		note = fmt.Sprintf(" (%d protected matching process(es) left out: init, kernel threads, the runner, its ancestors, other Faultline runners)", excluded)
	}
	if len(cands) == 0 {
		return nil, 0, "", fmt.Errorf("%s%s: %w", s.describe(), note, injectors.ErrNoTargets)
	}
	if err := s.checkMatched(len(cands), br); err != nil {
		return nil, 0, "", err
	}
	return s.choose(cands), len(cands), note, nil
}
