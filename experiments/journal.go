package experiments

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/faultline-dev/faultline/internal/kube"
)

// The journal is one append-only JSON-lines file per run, <dir>/<runID>.jsonl. Every
// line is synced to disk before the call that wrote it returns, so a runner killed at
// any instant leaves every injection it started on disk, with the latest revert state
// its injector recorded. A run that ended with everything reverted renames its file to
// <runID>.done.jsonl; `chaos recover` works on the others.
//
//	{"event":"run",     "runID":..., "experiment":..., "pid":..., "pidStart":..., "source":...}
//	{"event":"inject",  "fault":"pause-api", "kind":"processPause", "targets":[...]}
//	{"event":"state",   "fault":"pause-api", "state":{...}}     ← Journal.Record, before each change
//	{"event":"reverted","fault":"pause-api"}
//	{"event":"revert-failed","fault":"pause-api","error":"..."}
//	{"event":"end",     "verdict":"passed"}

// JournalEntry is one line of a run's journal.
type JournalEntry struct {
	Event      string          `json:"event"`
	Time       time.Time       `json:"time"`
	RunID      string          `json:"runID,omitempty"`
	Experiment string          `json:"experiment,omitempty"`
	Source     string          `json:"source,omitempty"`
	PID        int             `json:"pid,omitempty"`
	PIDStart   uint64          `json:"pidStart,omitempty"`
	Target     *kube.Target    `json:"target,omitempty"`
	Fault      string          `json:"fault,omitempty"`
	Kind       string          `json:"kind,omitempty"`
	Targets    json.RawMessage `json:"targets,omitempty"`
	State      json.RawMessage `json:"state,omitempty"`
	Error      string          `json:"error,omitempty"`
	Verdict    string          `json:"verdict,omitempty"`
}

// DefaultJournalDir is $FAULTLINE_JOURNAL, else $XDG_STATE_HOME/faultline/journal, else
// ~/.local/state/faultline/journal.
func DefaultJournalDir() string {
	if d := os.Getenv("FAULTLINE_JOURNAL"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "faultline", "journal")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "state", "faultline", "journal")
	}
	return filepath.Join(os.TempDir(), "faultline-journal")
}

// runJournal writes one run's journal.
type runJournal struct {
	mu   sync.Mutex
	path string
	f    *os.File
	// mirror, if set, also stores each line elsewhere (the cluster) before append returns.
	mirror func(JournalEntry) error
}

func openRunJournal(dir string, head JournalEntry) (*runJournal, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	path := filepath.Join(dir, head.RunID+".jsonl")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	j := &runJournal{path: path, f: f}
	head.Event = "run"
	if err := j.append(head); err != nil {
		f.Close()
		return nil, err
	}
	// Make the new file's directory entry durable too.
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return j, nil
}

// append writes e as one line and syncs it.
func (j *runJournal) append(e JournalEntry) error {
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if _, err := j.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("journal: writing %s: %w", j.path, err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("journal: syncing %s: %w", j.path, err)
	}
	if j.mirror != nil {
		return j.mirror(e)
	}
	return nil
}

// close ends the journal; when done (nothing left to revert) the file is renamed.
func (j *runJournal) close(verdict string, done bool) error {
	err := j.append(JournalEntry{Event: "end", Verdict: verdict})
	j.mu.Lock()
	defer j.mu.Unlock()
	err = errors.Join(err, j.f.Close())
	if done {
		err = errors.Join(err, os.Rename(j.path, strings.TrimSuffix(j.path, ".jsonl")+".done.jsonl"))
	}
	return err
}

// faultJournal is the injectors.Journal of one fault.
type faultJournal struct {
	j     *runJournal
	fault string
	kind  string
	last  json.RawMessage // the latest state recorded
}

func (f *faultJournal) Record(state any) error {
	b, err := json.Marshal(state)
	if err != nil {
		return fmt.Errorf("journal: encoding state of %s: %w", f.fault, err)
	}
	if err := f.j.append(JournalEntry{Event: "state", Fault: f.fault, Kind: f.kind, State: b}); err != nil {
		return err
	}
	f.last = b
	return nil
}

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
}

// PendingFault is one fault a run left active, with its last journaled state.
type PendingFault struct {
	Fault string
	Kind  string
	State json.RawMessage // nil: the injector recorded nothing, so it changed nothing
	Error string          // last revert error, if a revert failed
}

// ReadJournal reads every unfinished run's journal in dir (files *.jsonl that are not
// *.done.jsonl). A torn last line (crash mid-write) is ignored.
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
		run, err := readRunJournal(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		runs = append(runs, run)
	}
	sort.Slice(runs, func(i, k int) bool { return runs[i].RunID < runs[k].RunID })
	return runs, nil
}

func readRunJournal(path string) (JournaledRun, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return JournaledRun{}, fmt.Errorf("journal: %w", err)
	}
	run := JournaledRun{Path: path, RunID: strings.TrimSuffix(filepath.Base(path), ".jsonl")}
	pending := map[string]*PendingFault{}
	var order []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		var e JournalEntry
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			continue // torn write at a crash
		}
		switch e.Event {
		case "run":
			run.RunID, run.Experiment, run.PID, run.PIDStart, run.Target = e.RunID, e.Experiment, e.PID, e.PIDStart, e.Target
		case "inject":
			if _, ok := pending[e.Fault]; !ok {
				order = append(order, e.Fault)
			}
			pending[e.Fault] = &PendingFault{Fault: e.Fault, Kind: e.Kind}
		case "state":
			if p, ok := pending[e.Fault]; ok {
				p.State = e.State
			}
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
	for _, name := range order {
		if p, ok := pending[name]; ok {
			run.Pending = append(run.Pending, *p)
		}
	}
	return run, nil
}
