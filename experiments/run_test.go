package experiments

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/injectors"
	"github.com/faultline-dev/faultline/reports"
)

// healthServer is a real HTTP server on 127.0.0.1:0 whose health can be switched.
func healthServer(t testing.TB) (addr string, healthy *atomic.Bool) {
	t.Helper()
	healthy = &atomic.Bool{}
	healthy.Store(true)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if !healthy.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String(), healthy
}

func mustDecode(t *testing.T, reg Registries, y string) *Experiment {
	t.Helper()
	e, err := Decode([]byte(y), "test.yaml", reg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

const pauseSelf = `apiVersion: faultline.dev/v1alpha1
kind: Experiment
metadata: {name: %s}
spec:
  steadyState:
    baseline: 300ms
    recovery: 2s
    probes:
      - name: health
        http: {url: "http://%s/", timeout: 200ms}
        every: 20ms
  faults:
    - name: pause-sleeper
      processPause: {match: "^sleep 301\\.%s$"}
      duration: %s
%s`

func TestRunPausesRevertsAndJournals(t *testing.T) {
	reg, err := DefaultRegistries()
	if err != nil {
		t.Fatal(err)
	}
	addr, _ := healthServer(t)
	tag := fmt.Sprint(os.Getpid())
	sleeper := startSleep(t, tag)
	journal := t.TempDir()
	e := mustDecode(t, reg, fmt.Sprintf(pauseSelf, "pause", addr, tag, "300ms", ""))
	res, err := Run(context.Background(), e, Options{Registries: reg, JournalDir: journal})
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != reports.VerdictPassed {
		t.Fatalf("verdict %s: %s", res.Verdict, res.Reason)
	}
	if len(res.Injections) != 1 || res.Injections[0].RevertedAt.IsZero() || res.Injections[0].InjectDuration <= 0 {
		t.Fatalf("injections: %+v", res.Injections)
	}
	if st := stateOf(t, sleeper); st == 'T' {
		t.Fatal("process still stopped after the run")
	}
	entries, _ := os.ReadDir(journal)
	if len(entries) != 1 || !strings.HasSuffix(entries[0].Name(), ".done.jsonl") {
		t.Fatalf("journal after a clean run: %v", entries)
	}
	if runs, _ := ReadJournal(journal); len(runs) != 0 {
		t.Fatalf("a clean run left %d unfinished journal(s)", len(runs))
	}
}

func TestRunCancelledMidFaultRevertsAndAborts(t *testing.T) {
	reg, _ := DefaultRegistries()
	addr, _ := healthServer(t)
	tag := fmt.Sprint(os.Getpid() + 1)
	sleeper := startSleep(t, tag)
	e := mustDecode(t, reg, fmt.Sprintf(pauseSelf, "cancel", addr, tag, "1m", ""))
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for stateOf(t, sleeper) != 'T' {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
	}()
	res, err := Run(ctx, e, Options{Registries: reg, JournalDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != reports.VerdictAborted || ExitCode(res) != 3 {
		t.Fatalf("verdict %s (%s)", res.Verdict, res.Reason)
	}
	if st := stateOf(t, sleeper); st == 'T' {
		t.Fatal("process still stopped after an interrupted run")
	}
}

func TestAbortRuleHaltsAndReverts(t *testing.T) {
	reg, _ := DefaultRegistries()
	addr, healthy := healthServer(t)
	tag := fmt.Sprint(os.Getpid() + 2)
	sleeper := startSleep(t, tag)
	e := mustDecode(t, reg, fmt.Sprintf(pauseSelf, "abort", addr, tag, "1m",
		"  abort:\n    - {probe: health, successRatioBelow: 0.5, over: 300ms}\n"))
	go func() {
		for stateOf(t, sleeper) != 'T' {
			time.Sleep(5 * time.Millisecond)
		}
		healthy.Store(false) // the system breaks while the fault is on
	}()
	t0 := time.Now()
	res, err := Run(context.Background(), e, Options{Registries: reg, JournalDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != reports.VerdictAborted || !strings.Contains(res.Reason, "success ratio") {
		t.Fatalf("verdict %s (%s)", res.Verdict, res.Reason)
	}
	if time.Since(t0) > 30*time.Second {
		t.Fatalf("abort did not halt the 1m fault (run took %s)", time.Since(t0))
	}
	if st := stateOf(t, sleeper); st == 'T' {
		t.Fatal("process still stopped after abort")
	}
}

func TestInjectFailureIsErroredNeverPassed(t *testing.T) {
	reg, _ := DefaultRegistries()
	addr, _ := healthServer(t)
	// The process exists at plan time and is gone at inject time.
	tag := fmt.Sprint(os.Getpid() + 3)
	sleeper := startSleep(t, tag)
	e := mustDecode(t, reg, fmt.Sprintf(pauseSelf, "vanish", addr, tag, "1s", ""))
	go func() {
		time.Sleep(100 * time.Millisecond) // during the baseline
		_ = sleeper.Process.Kill()
	}()
	res, err := Run(context.Background(), e, Options{Registries: reg, JournalDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != reports.VerdictErrored || !strings.Contains(res.Reason, "could not be injected") {
		t.Fatalf("verdict %s (%s), want errored", res.Verdict, res.Reason)
	}
}

func TestNoTargetsIsAPlanError(t *testing.T) {
	reg, _ := DefaultRegistries()
	addr, _ := healthServer(t)
	e := mustDecode(t, reg, fmt.Sprintf(pauseSelf, "nothing", addr, "424242424", "1s", ""))
	res, err := Run(context.Background(), e, Options{Registries: reg, JournalDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != reports.VerdictErrored || !strings.Contains(res.Reason, "matched no targets") {
		t.Fatalf("verdict %s (%s)", res.Verdict, res.Reason)
	}
	if len(res.Checks) != 0 || len(res.Injections) != 0 {
		t.Fatal("a plan error must not inject or judge anything")
	}
}

// sloppy is a test fault kind whose Inject creates a file, journals it, and then
// fails without undoing its change, as a buggy injector would.
type sloppy struct{ path string }

func (s *sloppy) Plan(context.Context) (injectors.Plan, error) {
	return injectors.Plan{Targets: []injectors.Target{{Kind: "file", Name: s.path}}}, nil
}

func (s *sloppy) Inject(_ context.Context, j injectors.Journal) (injectors.Injection, error) {
	if err := j.Record(s.path); err != nil {
		return injectors.Injection{}, err
	}
	_ = os.WriteFile(s.path, []byte("fault"), 0o644)
	return injectors.Injection{}, errors.New("proof failed")
}

func TestFailedInjectIsUndoneFromItsJournaledState(t *testing.T) {
	for _, recoverWorks := range []bool{true, false} {
		t.Run(fmt.Sprintf("recover works %v", recoverWorks), func(t *testing.T) {
			reg, _ := DefaultRegistries()
			_ = reg.Injectors.Register(injectors.Definition{
				Key:     "sloppy",
				NewSpec: func() any { return &struct{ Path string }{} },
				New: func(spec any, _ *injectors.Env) (injectors.Injector, error) {
					return &sloppy{path: spec.(*struct{ Path string }).Path}, nil
				},
				Recover: func(_ context.Context, _ *injectors.Env, state json.RawMessage) error {
					if !recoverWorks {
						return errors.New("cannot undo")
					}
					var p string
					_ = json.Unmarshal(state, &p)
					return os.Remove(p)
				},
			})
			addr, _ := healthServer(t)
			flag := filepath.Join(t.TempDir(), "flag")
			journal := t.TempDir()
			e := mustDecode(t, reg, fmt.Sprintf(`apiVersion: faultline.dev/v1alpha1
kind: Experiment
metadata: {name: sloppy}
spec:
  steadyState:
    baseline: 100ms
    probes:
      - {name: health, every: 20ms, http: {url: "http://%s/"}}
  faults:
    - {name: s, sloppy: {path: %q}}
`, addr, flag))
			res, err := Run(context.Background(), e, Options{Registries: reg, JournalDir: journal})
			if err != nil {
				t.Fatal(err)
			}
			if res.Verdict != reports.VerdictErrored {
				t.Fatalf("verdict %s (%s)", res.Verdict, res.Reason)
			}
			_, statErr := os.Stat(flag)
			runs, _ := ReadJournal(journal)
			if recoverWorks {
				if statErr == nil || len(runs) != 0 {
					t.Fatalf("the partial change was not undone (file exists: %v, open journals: %d)", statErr == nil, len(runs))
				}
			} else if len(runs) != 1 || len(runs[0].Pending) != 1 || !strings.Contains(res.Reason, "chaos recover") {
				t.Fatalf("an undo that failed must stay journaled and say so: runs %+v, reason %q", runs, res.Reason)
			}
		})
	}
}

func TestRollbacksRunAfterPassAndAfterInterrupt(t *testing.T) {
	reg, _ := DefaultRegistries()
	addr, _ := healthServer(t)
	for _, interrupt := range []bool{false, true} {
		t.Run(fmt.Sprintf("interrupted=%v", interrupt), func(t *testing.T) {
			tag := fmt.Sprint(os.Getpid() + 10)
			if interrupt {
				tag = fmt.Sprint(os.Getpid() + 11)
			}
			sleeper := startSleep(t, tag)
			marker := filepath.Join(t.TempDir(), "rolled-back")
			duration := "200ms"
			if interrupt {
				duration = "1m"
			}
			e := mustDecode(t, reg, fmt.Sprintf(pauseSelf, "rollbacks", addr, tag, duration,
				fmt.Sprintf("  rollbacks:\n    - exec: {command: [touch, %q]}\n", marker)))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if interrupt {
				go func() {
					for stateOf(t, sleeper) != 'T' {
						time.Sleep(5 * time.Millisecond)
					}
					cancel()
				}()
			}
			res, err := Run(ctx, e, Options{Registries: reg, JournalDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(marker); err != nil || len(res.Rollbacks) != 1 || res.Rollbacks[0].Error != "" {
				t.Fatalf("verdict %s: rollback did not run: %v %+v", res.Verdict, err, res.Rollbacks)
			}
			want := reports.VerdictPassed
			if interrupt {
				want = reports.VerdictAborted
			}
			if res.Verdict != want {
				t.Fatalf("verdict %s (%s), want %s", res.Verdict, res.Reason, want)
			}
		})
	}
}
