package experiments

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
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
//	{"event":"recovered","fault":"pause-api"}                   ← chaos recover
//	{"event":"torn-tail"}   ← recover found the line before it cut short by a crash

// JournalEntry is one line of a run's journal.
//
// Event, Fault and Kind come first, so that even a record cut short early names
// its fault.
type JournalEntry struct {
	Event      string          `json:"event"`
	Fault      string          `json:"fault,omitempty"`
	Kind       string          `json:"kind,omitempty"`
	Time       time.Time       `json:"time"`
	RunID      string          `json:"runID,omitempty"`
	Experiment string          `json:"experiment,omitempty"`
	Source     string          `json:"source,omitempty"`
	PID        int             `json:"pid,omitempty"`
	PIDStart   uint64          `json:"pidStart,omitempty"`
	Target     *kube.Target    `json:"target,omitempty"`
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
//
// Each record is one write(2) of one complete line on an O_APPEND file, then
// fsync. A write that fails part-way is cut off again (truncated to the size
// before it), so a later record never lands glued to a partial one; if even that
// fails, the journal refuses further records rather than write after garbage.
type runJournal struct {
	mu     sync.Mutex
	path   string
	f      *os.File
	broken error // set when a partial record could not be cut off
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
	return j.writeLocked(append(b, '\n'))
}

// writeLocked appends one complete record; j.mu is held.
func (j *runJournal) writeLocked(rec []byte) error {
	if j.broken != nil {
		return fmt.Errorf("journal: %s is unusable after a failed write: %w", j.path, j.broken)
	}
	// The size before the write, from the file itself: recover --force may append
	// to a live run's journal at the same time.
	var pre int64 = -1
	if st, err := j.f.Stat(); err == nil {
		pre = st.Size()
	}
	n, err := j.f.Write(rec)
	if err != nil || n != len(rec) {
		if n > 0 {
			// Cut the partial record off, unless someone appended after it.
			st, serr := j.f.Stat()
			switch {
			case serr != nil || pre < 0:
				j.broken = errors.Join(serr, errors.New("size before the write unknown"))
			case st.Size() == pre+int64(n):
				if terr := j.f.Truncate(pre); terr != nil {
					j.broken = terr
				}
			default:
				j.broken = errors.New("a partial record could not be cut off")
			}
		}
		if err == nil {
			err = io.ErrShortWrite
		}
		return fmt.Errorf("journal: writing %s: %w", j.path, err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("journal: syncing %s: %w", j.path, err)
	}
	return nil
}

// close ends the journal; when done (nothing left to revert) the file is renamed
// to <runID>.done.jsonl. A file that is already renamed (another process closed
// it) is not an error.
func (j *runJournal) close(verdict string, done bool) error {
	err := j.append(JournalEntry{Event: "end", Verdict: verdict})
	j.mu.Lock()
	defer j.mu.Unlock()
	err = errors.Join(err, j.f.Close())
	if done {
		donePath := strings.TrimSuffix(j.path, ".jsonl") + ".done.jsonl"
		rerr := os.Rename(j.path, donePath)
		if errors.Is(rerr, os.ErrNotExist) {
			if _, serr := os.Lstat(donePath); serr == nil {
				rerr = nil
			}
		}
		err = errors.Join(err, rerr)
	}
	return err
}

// reopenRunJournal opens an unfinished run's journal to append to it (recover). A
// file that ends in a torn record (a crash mid-write) gets a newline and a
// "torn-tail" record first, so what recover appends stays readable and the torn
// record is still known as torn, not taken for a corrupt one.
func reopenRunJournal(path string) (*runJournal, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0o600)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("journal: %s is not a regular file", path)
	}
	j := &runJournal{path: path, f: f}
	if st.Size() == 0 {
		return j, nil
	}
	last := make([]byte, 1)
	if _, err := f.ReadAt(last, st.Size()-1); err != nil {
		f.Close()
		return nil, fmt.Errorf("journal: reading %s: %w", path, err)
	}
	if last[0] != '\n' {
		b, _ := json.Marshal(JournalEntry{Event: "torn-tail", Time: time.Now().UTC()})
		if err := j.writeLocked(append(append([]byte{'\n'}, b...), '\n')); err != nil {
			f.Close()
			return nil, err
		}
	}
	return j, nil
}

// closeFile closes the journal without an "end" record: its runner still runs
// and will end it.
func (j *runJournal) closeFile() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.f.Close()
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
