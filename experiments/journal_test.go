package experiments

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline/injectors"
	"github.com/faultline-dev/faultline/steadystate"
)

// recorder is a test fault kind whose Recover writes what it was asked to undo.
func recorderRegistries(t *testing.T, undone *[]string) Registries {
	t.Helper()
	reg := Registries{Injectors: injectors.NewRegistry(), Probes: steadystate.NewRegistry()}
	err := reg.Injectors.Register(injectors.Definition{
		Key:     "recorder",
		NewSpec: func() any { return &struct{}{} },
		New:     func(any, *injectors.Env) (injectors.Injector, error) { return nil, nil },
		Recover: func(_ context.Context, env *injectors.Env, state json.RawMessage) error {
			*undone = append(*undone, env.RunID+":"+string(state))
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func TestJournalRecoverFromDeadRunner(t *testing.T) {
	dir := t.TempDir()
	// A runner that "died": pid 0 is never alive.
	j, err := openRunJournal(dir, JournalEntry{RunID: "run-1", Experiment: "exp", PID: 0})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"a", "b", "c"} {
		if err := j.append(JournalEntry{Event: "inject", Fault: f, Kind: "recorder"}); err != nil {
			t.Fatal(err)
		}
	}
	fj := &faultJournal{j: j, fault: "a", kind: "recorder"}
	_ = fj.Record(map[string]int{"v": 1})
	_ = fj.Record(map[string]int{"v": 2}) // the latest state wins
	_ = (&faultJournal{j: j, fault: "b", kind: "recorder"}).Record("b-state")
	_ = j.append(JournalEntry{Event: "reverted", Fault: "b"})
	// c recorded nothing: it changed nothing.
	_ = j.f.Close()
	// A torn last line, as a crash mid-write leaves: a's next state, never
	// acknowledged, so the change it announced was not made.
	f, _ := os.OpenFile(filepath.Join(dir, "run-1.jsonl"), os.O_APPEND|os.O_WRONLY, 0)
	_, _ = f.WriteString(`{"event":"state","fault":"a","state":{"v":`)
	f.Close()

	var undone []string
	reg := recorderRegistries(t, &undone)
	actions, err := Recover(context.Background(), dir, reg, RecoverOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(undone) != 1 || undone[0] != `run-1:{"v":2}` {
		t.Fatalf("undone = %v, want only a with its latest state", undone)
	}
	var got []string
	for _, a := range actions {
		got = append(got, a.Fault+"="+a.Action)
	}
	want := "c=nothing to revert: the injector had not changed anything yet|a=reverted (its last state record (line 9) was torn by the crash; the complete one before it was used)"
	if strings.Join(got, "|") != want {
		t.Fatalf("actions %v, want %s", got, want)
	}
	// Safe to run twice: the run is closed now.
	undone = nil
	actions, err = Recover(context.Background(), dir, reg, RecoverOptions{})
	if err != nil || len(actions) != 0 || len(undone) != 0 {
		t.Fatalf("second recover: actions %v undone %v err %v", actions, undone, err)
	}
}

func TestRecoverSkipsLiveRunner(t *testing.T) {
	dir := t.TempDir()
	// The parent of the test process is alive and is not this process.
	ppid := os.Getppid()
	j, err := openRunJournal(dir, JournalEntry{RunID: "run-2", PID: ppid, PIDStart: procStartTime(ppid)})
	if err != nil {
		t.Fatal(err)
	}
	_ = j.append(JournalEntry{Event: "inject", Fault: "a", Kind: "recorder"})
	_ = (&faultJournal{j: j, fault: "a", kind: "recorder"}).Record([]int{1})
	var undone []string
	reg := recorderRegistries(t, &undone)
	actions, err := Recover(context.Background(), dir, reg, RecoverOptions{})
	if err != nil || len(undone) != 0 || len(actions) != 1 || !strings.Contains(actions[0].Action, "still running") {
		t.Fatalf("live runner: actions %+v undone %v err %v", actions, undone, err)
	}
	if _, err := Recover(context.Background(), dir, reg, RecoverOptions{Force: true}); err != nil || len(undone) != 1 {
		t.Fatalf("--force: undone %v err %v", undone, err)
	}
}

func TestRecoverUnknownKindFailsLoudly(t *testing.T) {
	dir := t.TempDir()
	j, _ := openRunJournal(dir, JournalEntry{RunID: "run-3"})
	_ = j.append(JournalEntry{Event: "inject", Fault: "x", Kind: "fromAnotherBinary"})
	_ = (&faultJournal{j: j, fault: "x", kind: "fromAnotherBinary"}).Record([]int{1})
	var undone []string
	_, err := Recover(context.Background(), dir, recorderRegistries(t, &undone), RecoverOptions{})
	if err == nil || !strings.Contains(err.Error(), "not registered") {
		t.Fatalf("err = %v", err)
	}
	if runs, _ := ReadJournal(dir); len(runs) != 1 || len(runs[0].Pending) != 1 {
		t.Fatal("a fault that could not be recovered must stay in the journal")
	}
}
