package experiments

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/faultline-dev/faultline/injectors"
	"github.com/faultline-dev/faultline/steadystate"
)

// deadRun writes the journal of a dead runner (pid 0) with fault "a" of kind
// "recorder" and the given state lines (raw text, each ending where the caller says).
func deadRun(t *testing.T, dir, runID string, raw string) string {
	t.Helper()
	j, err := openRunJournal(dir, JournalEntry{RunID: runID, Experiment: "exp"})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.append(JournalEntry{Event: "inject", Fault: "a", Kind: "recorder"}); err != nil {
		t.Fatal(err)
	}
	_ = j.f.Close()
	f, err := os.OpenFile(j.path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(raw); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return j.path
}

func actionsText(as []RecoverAction) string {
	var s []string
	for _, a := range as {
		line := a.RunID + " " + a.Fault + ": " + a.Action
		if a.Error != "" {
			line += ": " + a.Error
		}
		s = append(s, line)
	}
	return strings.Join(s, "\n")
}

// A torn only state, a corrupt state line and a state of unknown shape each mean:
// error "could not recover fault a", nothing reported reverted, journal not done,
// and the same again on a second recover.
func TestRecoverDamagedStateFailsAndKeepsJournal(t *testing.T) {
	cases := map[string]string{
		"torn only state":        `{"event":"state","fault":"a","kind":"recorder","state":[{"pid":12`,
		"corrupt state line":     `{"event":"state","fault":"a","kind":"recorder","state":[{"pid":12}]}` + "\n" + `{"event":"state","fault":"a","kind":"recorder","state":[{"pid":12},{"p` + "\x00garbage}\n",
		"unknown shape":          `{"event":"state","fault":"a","kind":"recorder","state":{}}` + "\n",
		"empty string state":     `{"event":"state","fault":"a","kind":"recorder","state":""}` + "\n",
		"null state":             `{"event":"state","fault":"a","kind":"recorder","state":null}` + "\n",
		"corrupt, names nothing": `{"ev` + "\x00\x01\n",
	}
	for name, raw := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := deadRun(t, dir, "run-d", raw)
			var undone []string
			reg := recorderRegistries(t, &undone)
			for i := range 2 {
				actions, err := Recover(context.Background(), dir, reg, RecoverOptions{})
				text := actionsText(actions)
				if err == nil || !strings.Contains(err.Error(), "could not recover") {
					t.Fatalf("recover %d: err %v\n%s", i, err, text)
				}
				if strings.Contains(text, "reverted") {
					t.Fatalf("recover %d reported a revert:\n%s", i, text)
				}
				if _, err := os.Stat(path); err != nil {
					t.Fatalf("recover %d: the journal was closed: %v", i, err)
				}
				t.Logf("recover %d:\n%s\n%v", i, text, err)
			}
			if name == "corrupt state line" && (len(undone) != 2 || undone[0] != `run-d:[{"pid":12}]`) {
				t.Fatalf("the earlier complete state must still be undone (best effort): %v", undone)
			}
		})
	}
}

// A 17 MB state line is read and recovered like any other.
func TestRecoverHugeStateLine(t *testing.T) {
	dir := t.TempDir()
	big := strings.Repeat("x", 17<<20)
	deadRun(t, dir, "run-big", `{"event":"state","fault":"a","kind":"recorder","state":{"blob":"`+big+`"}}`+"\n")
	var undone []string
	actions, err := Recover(context.Background(), dir, recorderRegistries(t, &undone), RecoverOptions{})
	if err != nil || len(undone) != 1 || len(undone[0]) < 17<<20 || !strings.Contains(actions[0].Action, "reverted") {
		t.Fatalf("err %v, %d undone, actions %.200s", err, len(undone), actionsText(actions))
	}
}

// A dangling symlink, a directory, a FIFO and an oversized file named *.jsonl are
// each reported; the good journal next to them is recovered and closed.
func TestRecoverBadFilesDoNotStopTheOthers(t *testing.T) {
	dir := t.TempDir()
	good := deadRun(t, dir, "run-good", `{"event":"state","fault":"a","kind":"recorder","state":[1]}`+"\n")
	if err := os.Symlink(filepath.Join(dir, "gone"), filepath.Join(dir, "a-dangling.jsonl")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "b-dir.jsonl"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "c-fifo.jsonl"), 0o600); err != nil {
		t.Fatal(err)
	}
	huge, err := os.Create(filepath.Join(dir, "d-huge.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if err := huge.Truncate(MaxJournalFile + 1); err != nil { // sparse
		t.Fatal(err)
	}
	huge.Close()
	var undone []string
	actions, err := Recover(context.Background(), dir, recorderRegistries(t, &undone), RecoverOptions{})
	text := actionsText(actions)
	t.Logf("%s\n%v", text, err)
	if len(undone) != 1 || undone[0] != "run-good:[1]" {
		t.Fatalf("the good journal was not recovered: %v", undone)
	}
	for _, want := range []string{"a-dangling.jsonl: is a symbolic link", "b-dir.jsonl: is not a regular file but a directory", "c-fifo.jsonl: is not a regular file but a named pipe (FIFO)", "d-huge.jsonl: is 67108865 bytes"} {
		if !strings.Contains(text, want) || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q", want)
		}
	}
	if _, err := os.Stat(strings.TrimSuffix(good, ".jsonl") + ".done.jsonl"); err != nil {
		t.Fatalf("the good journal was not closed: %v", err)
	}
}

// recover --force on a live run reverts its faults but leaves its journal to the
// runner, whose own close (rename to .done.jsonl) then still works.
func TestRecoverForceLeavesLiveRunnersJournal(t *testing.T) {
	dir := t.TempDir()
	ppid := os.Getppid()
	j, err := openRunJournal(dir, JournalEntry{RunID: "run-live", PID: ppid, PIDStart: procStartTime(ppid)})
	if err != nil {
		t.Fatal(err)
	}
	_ = j.append(JournalEntry{Event: "inject", Fault: "a", Kind: "recorder"})
	_ = (&faultJournal{j: j, fault: "a", kind: "recorder"}).Record([]int{7})
	var undone []string
	actions, err := Recover(context.Background(), dir, recorderRegistries(t, &undone), RecoverOptions{Force: true})
	if err != nil || len(undone) != 1 || !strings.Contains(actions[0].Action, "still runs and will close its journal") {
		t.Fatalf("err %v undone %v\n%s", err, undone, actionsText(actions))
	}
	// The runner goes on: it reverts (idempotent) and closes its journal.
	_ = j.append(JournalEntry{Event: "reverted", Fault: "a"})
	if err := j.close("passed", true); err != nil {
		t.Fatalf("the runner's close after recover --force: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "run-live.done.jsonl")); err != nil {
		t.Fatal(err)
	}
}

// Recover says "nothing to revert: why" when the kind's Recover found nothing
// left, and gives Recover the claims of the other unfinished runs.
func TestRecoverNothingToRevertAndClaims(t *testing.T) {
	dir := t.TempDir()
	deadRun(t, dir, "run-x", `{"event":"state","fault":"a","kind":"recorder","state":{"n":1}}`+"\n")
	ppid := os.Getppid()
	live, err := openRunJournal(dir, JournalEntry{RunID: "run-y", PID: ppid, PIDStart: procStartTime(ppid)})
	if err != nil {
		t.Fatal(err)
	}
	_ = live.append(JournalEntry{Event: "inject", Fault: "b", Kind: "recorder"})
	_ = (&faultJournal{j: live, fault: "b", kind: "recorder"}).Record(map[string]int{"n": 2})
	var claims []injectors.Claim
	reg := Registries{Injectors: injectors.NewRegistry(), Probes: steadystate.NewRegistry()}
	_ = reg.Injectors.Register(injectors.Definition{Key: "recorder", NewSpec: func() any { return &struct{}{} },
		New: func(any, *injectors.Env) (injectors.Injector, error) { return nil, nil },
		Recover: func(_ context.Context, env *injectors.Env, _ json.RawMessage) error {
			claims = env.Claims()
			return injectors.NothingToRevert("its namespace was deleted and recreated")
		}})
	actions, err := Recover(context.Background(), dir, reg, RecoverOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := actionsText(actions); !strings.Contains(got, "run-x a: nothing to revert: its namespace was deleted and recreated") {
		t.Fatalf("actions:\n%s", got)
	}
	if len(claims) != 1 || claims[0].RunID != "run-y" || !claims[0].Alive || string(claims[0].State) != `{"n":2}` {
		t.Fatalf("claims %+v", claims)
	}
	if errors.Is(err, injectors.ErrNothingToRevert) {
		t.Fatal("nothing to revert is not an error")
	}
}

// A failed write is cut off, so the next record is not glued to a partial one.
func TestJournalRecordsStayWhole(t *testing.T) {
	dir := t.TempDir()
	j, err := openRunJournal(dir, JournalEntry{RunID: "run-w"})
	if err != nil {
		t.Fatal(err)
	}
	_ = j.append(JournalEntry{Event: "inject", Fault: "a", Kind: "recorder"})
	_ = (&faultJournal{j: j, fault: "a", kind: "recorder"}).Record([]int{1})
	_ = j.f.Close()
	// Recover appends after a torn tail: the torn line stays known as torn.
	f, _ := os.OpenFile(j.path, os.O_APPEND|os.O_WRONLY, 0)
	_, _ = f.WriteString(`{"event":"state","fault":"a","kind":"recorder","state":[1,`)
	f.Close()
	j2, err := reopenRunJournal(j.path)
	if err != nil {
		t.Fatal(err)
	}
	_ = j2.append(JournalEntry{Event: "revert-failed", Fault: "a", Error: "x"})
	_ = j2.closeFile()
	runs, err := ReadJournal(dir)
	if err != nil || len(runs) != 1 || len(runs[0].Pending) != 1 {
		t.Fatalf("runs %+v err %v", runs, err)
	}
	p := runs[0].Pending[0]
	if p.Damaged != "" || string(p.State) != "[1]" || p.Error != "x" || !strings.Contains(p.Note, "torn") {
		t.Fatalf("pending %+v", p)
	}
}
