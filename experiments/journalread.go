package experiments

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"

	"github.com/faultline-dev/faultline/injectors"
	"github.com/faultline-dev/faultline/internal/kube"
)

// MaxJournalFile is the largest journal file `chaos recover` reads (64 MiB); a
// larger one is reported, not read. A run's journal is a few KiB.
const MaxJournalFile = 64 << 20

// JournaledRun is a run as read back from its journal.
type JournaledRun struct {
	Path       string
	RunID      string
	Experiment string
	PID        int
	PIDStart   uint64
	Target     *kube.Target
	Ended      bool // an "end" line was written
	// Pending are the faults injected (or being injected) and not reverted.
	Pending []PendingFault
	// Problems are damaged lines that could not be tied to a fault: the run cannot
	// be called recovered while they stand.
	Problems []string
	// Err says why the file could not be read at all (not a regular file, too
	// large, unreadable); nothing else is set but Path and RunID.
	Err error
}

// PendingFault is one fault a run left active, with its last journaled state.
type PendingFault struct {
	Fault string
	Kind  string
	State json.RawMessage // nil: the injector recorded nothing, so it changed nothing
	Error string          // last revert error, if a revert failed
	// Damaged says why the journaled state cannot be trusted: a record of this
	// fault is corrupt (or its only state record torn) and no complete state came
	// after it. Such a fault is never reported as reverted.
	Damaged string
	// Note says what the reader worked around, e.g. a torn last state record
	// whose complete predecessor was used.
	Note string
}

// ReadJournal reads every unfinished run's journal in dir (files *.jsonl that are
// not *.done.jsonl). Each file is read on its own: one that cannot be read is
// returned with Err set, and the others are still read. Only regular files of at
// most MaxJournalFile bytes are read; symbolic links are not followed. A
// directory that does not exist holds no runs (`chaos recover --journal DIR`
// refuses one itself).
func ReadJournal(dir string) ([]JournaledRun, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	var runs []JournaledRun
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".jsonl") || strings.HasSuffix(name, ".done.jsonl") {
			continue
		}
		path := filepath.Join(dir, name)
		run, err := readRunJournal(path)
		if err != nil {
			run = JournaledRun{Path: path, RunID: strings.TrimSuffix(name, ".jsonl"), Err: err}
		}
		runs = append(runs, run)
	}
	sort.Slice(runs, func(i, k int) bool { return runs[i].RunID < runs[k].RunID })
	return runs, nil
}

// readJournalFile reads a regular file of at most MaxJournalFile bytes, without
// following a symbolic link or blocking on a FIFO.
func readJournalFile(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if errors.Is(err, syscall.ELOOP) {
		return nil, errors.New("is a symbolic link; only regular files are read")
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("is not a regular file but %s; only regular files are read", fileKind(st.Mode()))
	}
	if st.Size() > MaxJournalFile {
		return nil, fmt.Errorf("is %d bytes, more than the %d a journal may have", st.Size(), MaxJournalFile)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxJournalFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxJournalFile {
		return nil, fmt.Errorf("grew beyond the %d bytes a journal may have", MaxJournalFile)
	}
	return data, nil
}

var (
	faultField = regexp.MustCompile(`"fault"\s*:\s*"((?:[^"\\]|\\.)*)"`)
	eventField = regexp.MustCompile(`"event"\s*:\s*"([a-z-]*)"`)
)

func readRunJournal(path string) (JournaledRun, error) {
	data, err := readJournalFile(path)
	if err != nil {
		return JournaledRun{}, err
	}
	run := JournaledRun{Path: path, RunID: strings.TrimSuffix(filepath.Base(path), ".jsonl")}
	pending := map[string]*PendingFault{}
	var order []string
	get := func(fault, kind string) *PendingFault {
		p, ok := pending[fault]
		if !ok {
			p = &PendingFault{Fault: fault, Kind: kind}
			pending[fault] = p
			order = append(order, fault)
		}
		if p.Kind == "" {
			p.Kind = kind
		}
		return p
	}
	lines := bytes.Split(data, []byte{'\n'})
	// A last piece without its newline is a record cut short by a crash; so is a
	// line that recover later marked with a "torn-tail" record.
	tornAt := -1
	if n := len(lines); len(lines[n-1]) > 0 {
		tornAt = n - 1
	} else {
		lines = lines[:n-1]
	}
	for i, line := range lines {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var e JournalEntry
		err := json.Unmarshal(line, &e)
		if err == nil {
			applyEntry(&run, e, get, pending)
			continue
		}
		torn := i == tornAt || (i+1 < len(lines) && bytes.Contains(lines[i+1], []byte(`"event":"torn-tail"`)))
		damaged(&run, i+1, line, err, torn, pending, get)
	}
	for _, name := range order {
		if p, ok := pending[name]; ok {
			run.Pending = append(run.Pending, *p)
		}
	}
	return run, nil
}

func applyEntry(run *JournaledRun, e JournalEntry, get func(fault, kind string) *PendingFault, pending map[string]*PendingFault) {
	switch e.Event {
	case "run":
		run.RunID, run.Experiment, run.PID, run.PIDStart, run.Target = e.RunID, e.Experiment, e.PID, e.PIDStart, e.Target
	case "inject":
		p := get(e.Fault, e.Kind)
		*p = PendingFault{Fault: e.Fault, Kind: e.Kind}
	case "state":
		p := get(e.Fault, e.Kind)
		p.State, p.Damaged, p.Note = e.State, "", ""
	case "revert-failed":
		if p, ok := pending[e.Fault]; ok {
			p.Error = e.Error
		}
	case "reverted", "recovered":
		delete(pending, e.Fault)
	case "end":
		run.Ended = true
	}
}

// damaged handles line n, which does not decode. A torn record was never
// acknowledged to its writer, so the change it announced was not made: the
// complete state before it stands. A corrupt complete record may describe a
// change that was made: its fault's state is no longer known.
func damaged(run *JournaledRun, n int, line []byte, err error, torn bool, pending map[string]*PendingFault, get func(fault, kind string) *PendingFault) {
	what := "corrupt"
	if torn {
		what = "torn (a write cut short by a crash)"
	}
	var event, fault string
	if m := eventField.FindSubmatch(line); m != nil {
		event = string(m[1])
	}
	if m := faultField.FindSubmatch(line); m != nil {
		_ = json.Unmarshal(append(append([]byte{'"'}, m[1]...), '"'), &fault)
	}
	switch {
	case event == "run" || event == "end" || event == "reverted" || event == "recovered" || event == "revert-failed":
		// Losing one of these only leaves a fault listed that may be reverted
		// already: reverting is idempotent.
		return
	case event == "inject" && torn:
		return // Inject had not started
	case fault == "":
		// It may be the state of any fault still pending (for a torn record: of one
		// that has none yet).
		hit := false
		for _, p := range pending {
			if torn && p.State != nil {
				continue
			}
			p.Damaged = fmt.Sprintf("journal line %d is %s and names no fault; it may be this fault's latest state (%v)", n, what, err)
			hit = true
		}
		if !hit {
			run.Problems = append(run.Problems, fmt.Sprintf("journal line %d is %s and names no fault: %v", n, what, err))
		}
		return
	}
	p, ok := pending[fault]
	if !ok && event == "inject" {
		return // a complete inject line with no state after it: nothing was changed
	}
	if !ok {
		p = get(fault, "")
	}
	switch {
	case torn && p.State != nil:
		p.Note = fmt.Sprintf("its last state record (line %d) was torn by the crash; the complete one before it was used", n)
	case torn:
		p.Damaged = fmt.Sprintf("its only state record (line %d) is torn, so what it changed is unknown", n)
	default:
		p.Damaged = fmt.Sprintf("journal line %d is corrupt (%v), so its latest state is unknown", n, err)
	}
}

// journalClaims lists every fault of the unfinished runs in dir other than
// runID, as Env.Claims. Unreadable files are left out: they claim nothing
// anyone can check.
func journalClaims(dir, runID string) []injectors.Claim {
	runs, err := ReadJournal(dir)
	if err != nil {
		return nil
	}
	return claimsOf(runs, runID)
}

func claimsOf(runs []JournaledRun, except string) []injectors.Claim {
	var out []injectors.Claim
	for _, r := range runs {
		if r.Err != nil || r.RunID == except {
			continue
		}
		alive := runnerAlive(r.PID, r.PIDStart)
		for _, p := range r.Pending {
			out = append(out, injectors.Claim{RunID: r.RunID, Alive: alive, Fault: p.Fault, Kind: p.Kind, State: p.State})
		}
	}
	return out
}
