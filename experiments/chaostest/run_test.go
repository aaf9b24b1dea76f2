package chaostest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/faultline-dev/faultline/experiments"
	"github.com/faultline-dev/faultline/injectors"
	"github.com/faultline-dev/faultline/reports"
	"github.com/faultline-dev/faultline/steadystate/httpprobe"
)

// The tests below run real experiments: a real HTTP server on 127.0.0.1:0 that
// answers 503 while a flag file exists, the real http probe, and testFlag, a fault
// that creates the flag file (with knobs to make its revert fail).

type testFlagSpec struct {
	Path string `yaml:"path" json:"path"`
}

func (s *testFlagSpec) Validate(p *field.Path) field.ErrorList {
	if !filepath.IsAbs(s.Path) {
		return field.ErrorList{field.Invalid(p.Child("path"), s.Path, "must be an absolute path")}
	}
	return nil
}

// testFlag counts its injections and, with brokenRevert, never removes the file on
// revert (only Recover does), like a fault whose revert failed.
type testFlag struct {
	injected     atomic.Int32
	recovered    atomic.Int32
	brokenRevert bool
	// brokenRecover makes Definition.Recover fail too.
	brokenRecover bool
}

type testFlagInjector struct {
	f    *testFlag
	path string
}

func (i testFlagInjector) Plan(context.Context) (injectors.Plan, error) {
	return injectors.Plan{Targets: []injectors.Target{{Kind: "file", Name: i.path}}, Action: "create " + i.path, Revert: "remove it"}, nil
}

func (i testFlagInjector) Inject(_ context.Context, j injectors.Journal) (injectors.Injection, error) {
	if err := j.Record(i.path); err != nil {
		return injectors.Injection{}, err
	}
	if err := os.WriteFile(i.path, []byte("on"), 0o644); err != nil {
		return injectors.Injection{}, err
	}
	i.f.injected.Add(1)
	return injectors.Injection{Proof: "written", Revert: func(context.Context) error {
		if i.f.brokenRevert {
			return errors.New("revert broken on purpose")
		}
		return removeIfExists(i.path)
	}}, nil
}

func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

func (f *testFlag) register(t *testing.T, reg experiments.Registries) {
	t.Helper()
	err := reg.Injectors.Register(injectors.Definition{
		Key: "testFlag", NewSpec: func() any { return &testFlagSpec{} },
		New: func(spec any, _ *injectors.Env) (injectors.Injector, error) {
			return testFlagInjector{f: f, path: spec.(*testFlagSpec).Path}, nil
		},
		Recover: func(_ context.Context, _ *injectors.Env, state json.RawMessage) error {
			var path string
			if err := json.Unmarshal(state, &path); err != nil {
				return err
			}
			f.recovered.Add(1)
			if f.brokenRecover {
				return errors.New("recover broken on purpose")
			}
			return removeIfExists(path)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
}

// testRegistries returns the default registries plus testFlag (and the http probe,
// until the built-ins include it).
func testRegistries(t *testing.T, f *testFlag) experiments.Registries {
	t.Helper()
	reg, err := experiments.DefaultRegistries()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := reg.Probes.Probe(httpprobe.Key); !ok {
		if err := httpprobe.Register(reg.Probes); err != nil {
			t.Fatal(err)
		}
	}
	f.register(t, reg)
	return reg
}

// flaggedServer answers 200, or 503 while flag exists.
func flaggedServer(t *testing.T, flag string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if _, err := os.Stat(flag); err == nil {
			http.Error(w, "flagged", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv
}

// flagExperiment is a 2.5 s experiment: baseline 500ms, the flag for 800ms, and a
// probe every 50ms that must keep a success ratio of 0.99.
const flagExperiment = `apiVersion: faultline.dev/v1alpha1
kind: Experiment
metadata: {name: flagged}
spec:
  steadyState:
    baseline: 500ms
    recovery: 2s
    probes:
      - name: web
        every: 50ms
        http: {url: "http://127.0.0.1:1/"}
        slo: {successRatio: 0.99}
  faults:
    - name: flag-on
      testFlag: {path: /set/by/override}
      duration: 800ms
`

func pointAt(url, flag string) Option {
	return WithOverride(func(e *experiments.Experiment) {
		ProbeSpec[*httpprobe.Spec](e, "web").URL = url
		FaultSpec[*testFlagSpec](e, "flag-on").Path = flag
	})
}

// fakeHarness records what run does to a test, and turns Fatalf into a panic that
// call recovers.
type fakeHarness struct {
	failed   bool
	fatal    string
	errs     []string
	logs     []string
	cleanups []func()
	attached []Summary
	out      bytes.Buffer
}

type fatalPanic struct{}

func (h *fakeHarness) Fatalf(format string, args ...any) {
	h.failed, h.fatal = true, fmt.Sprintf(format, args...)
	panic(fatalPanic{})
}
func (h *fakeHarness) Errorf(format string, args ...any) {
	h.failed = true
	h.errs = append(h.errs, fmt.Sprintf(format, args...))
}
func (h *fakeHarness) Logf(format string, args ...any) {
	h.logs = append(h.logs, fmt.Sprintf(format, args...))
}
func (h *fakeHarness) Cleanup(f func())    { h.cleanups = append(h.cleanups, f) }
func (h *fakeHarness) Failed() bool        { return h.failed }
func (h *fakeHarness) Attach(s Summary)    { h.attached = append(h.attached, s) }
func (h *fakeHarness) Progress() io.Writer { return &h.out }

// call runs run and recovers a Fatalf.
func (h *fakeHarness) call(ctx context.Context, src Source, opts ...Option) (res *Result) {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(fatalPanic); !ok {
				panic(r)
			}
			res = nil
		}
	}()
	return run(ctx, h, src, opts)
}

// finish runs the cleanups, last registered first.
func (h *fakeHarness) finish() {
	for i := len(h.cleanups) - 1; i >= 0; i-- {
		h.cleanups[i]()
	}
	h.cleanups = nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// A real run through RunT: the fault makes the probe fail, the verdict is failed,
// Pass() says so with the numbers, the reports are written and the flag is gone.
func TestRunTCatchesAFailure(t *testing.T) {
	f := &testFlag{}
	flag := filepath.Join(t.TempDir(), "flag")
	srv := flaggedServer(t, flag)
	base := t.TempDir()

	res := RunT(t, YAML(flagExperiment), WithRegistries(testRegistries(t, f)), pointAt(srv.URL, flag),
		WithReportDir(base), WithProgress(io.Discard))

	if res.Verdict != reports.VerdictFailed {
		t.Fatalf("verdict %s (%s), want failed", res.Verdict, res.Reason)
	}
	if f.injected.Load() != 1 || exists(flag) {
		t.Errorf("injected %d times, flag left behind: %v", f.injected.Load(), exists(flag))
	}
	ok, msg, err := match(t, Pass(), res)
	if ok || err != nil {
		t.Fatalf("Pass() = %v, %v on a failed run", ok, err)
	}
	mustContain(t, msg, `experiment "flagged"`, "did not pass: verdict failed", "expected >= 0.99", "503", " ▶ t+", "reports: "+res.ReportDir)
	if filepath.Dir(res.ReportDir) != base || !strings.HasPrefix(filepath.Base(res.ReportDir), "flagged-") {
		t.Errorf("report dir %s is not a flagged-* directory under %s", res.ReportDir, base)
	}
	data, err := os.ReadFile(filepath.Join(res.ReportDir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var back struct{ Verdict string }
	if err := json.Unmarshal(data, &back); err != nil || back.Verdict != "failed" {
		t.Errorf("report.json verdict %q, err %v", back.Verdict, err)
	}
	if len(res.ReportFiles) == 0 {
		t.Error("no report files listed")
	}
}

// A Go-built experiment goes through the same validation and runs as well; a
// healthy server passes.
func TestExperimentBuiltInGoPasses(t *testing.T) {
	f := &testFlag{}
	flag := filepath.Join(t.TempDir(), "flag")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") }))
	t.Cleanup(srv.Close)
	e := &experiments.Experiment{
		Metadata: experiments.Metadata{Name: "healthy"},
		Spec: experiments.Spec{
			SteadyState: experiments.SteadyState{Baseline: 300 * time.Millisecond, Recovery: time.Second,
				Probes: []experiments.Probe{{Name: "web", Every: 50 * time.Millisecond, Kind: httpprobe.Key,
					Spec: &httpprobe.Spec{URL: srv.URL}, SLO: &experiments.SLO{SuccessRatio: 1}}}},
			Faults: []experiments.Fault{{Name: "flag-on", Kind: "testFlag", Spec: &testFlagSpec{Path: flag}, Duration: 300 * time.Millisecond}},
		},
	}
	h := &fakeHarness{}
	res := h.call(t.Context(), Experiment(e), WithRegistries(testRegistries(t, f)))
	h.finish()
	if res == nil {
		t.Fatalf("run failed the test: %s", h.fatal)
	}
	if ok, msg, err := match(t, Pass(), res); !ok || err != nil {
		t.Fatalf("Pass() = %v, %v: %s", ok, err, msg)
	}
	if len(h.attached) != 1 || h.attached[0].Verdict != "passed" || !strings.Contains(h.attached[0].String(), "✓") {
		t.Errorf("attached summaries: %+v", h.attached)
	}
	if exists(res.ReportDir) {
		t.Errorf("default report dir %s kept after a passing test", res.ReportDir)
	}
	if !strings.Contains(h.out.String(), "healthy") {
		t.Errorf("no progress written to the harness: %q", h.out.String())
	}
}

// An invalid experiment fails the test with every problem at file:line:col and
// injects nothing.
func TestInvalidExperimentFailsBeforeRunning(t *testing.T) {
	f := &testFlag{}
	doc := strings.Replace(flagExperiment, "every: 50ms", "every: -5ms\n        colour: red", 1)
	h := &fakeHarness{}
	res := h.call(t.Context(), YAML(doc), WithRegistries(testRegistries(t, f)))
	if res != nil || !h.failed {
		t.Fatalf("run returned %v, failed=%v", res, h.failed)
	}
	mustContain(t, h.fatal, "run_test.go:", "[yaml]:", "is invalid (2 problems), nothing was run",
		"spec.steadyState.probes[0].every", "colour")
	if f.injected.Load() != 0 || len(h.cleanups) != 0 {
		t.Errorf("injected %d times, %d cleanups registered", f.injected.Load(), len(h.cleanups))
	}

	// The same from a file.
	path := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	h = &fakeHarness{}
	h.call(t.Context(), File(path), WithRegistries(testRegistries(t, f)))
	mustContain(t, h.fatal, path+":", "spec.steadyState.probes[0].every")
}

func TestOverrides(t *testing.T) {
	f := &testFlag{}
	reg := testRegistries(t, f)

	h := &fakeHarness{}
	h.call(t.Context(), YAML(flagExperiment), WithRegistries(reg), WithOverride(func(e *experiments.Experiment) {
		ProbeSpec[*httpprobe.Spec](e, "checkout").URL = "http://127.0.0.1:9/"
	}))
	mustContain(t, h.fatal, `override 1: chaostest: experiment "flagged" has no probe "checkout" (probes: [web])`)

	h = &fakeHarness{}
	h.call(t.Context(), YAML(flagExperiment), WithRegistries(reg), WithOverride(func(e *experiments.Experiment) {
		FaultSpec[*httpprobe.Spec](e, "flag-on")
	}))
	mustContain(t, h.fatal, `fault "flag-on" is "testFlag" with spec *chaostest.testFlagSpec, not *httpprobe.Spec`)

	// An override is validated like the file: a relative path is refused.
	h = &fakeHarness{}
	h.call(t.Context(), YAML(flagExperiment), WithRegistries(reg), WithOverride(func(e *experiments.Experiment) {
		FaultSpec[*testFlagSpec](e, "flag-on").Path = "relative/flag"
	}))
	mustContain(t, h.fatal, "is invalid", "spec.faults[0].testFlag.path", "must be an absolute path")
	if f.injected.Load() != 0 {
		t.Errorf("injected %d times", f.injected.Load())
	}

	// Other panics in an override are not swallowed.
	defer func() {
		if r := recover(); r != "boom" {
			t.Errorf("recovered %v, want the override's own panic", r)
		}
	}()
	h = &fakeHarness{}
	h.call(t.Context(), YAML(flagExperiment), WithRegistries(reg), WithOverride(func(*experiments.Experiment) { panic("boom") }))
}

// Cancelling the context (a Ginkgo spec timing out, a go test deadline) aborts the
// run and reverts the fault before Run returns.
func TestCancelRevertsBeforeReturning(t *testing.T) {
	f := &testFlag{}
	flag := filepath.Join(t.TempDir(), "flag")
	srv := flaggedServer(t, flag)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() { // cancel once the fault is active
		for !exists(flag) && ctx.Err() == nil {
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
	}()
	h := &fakeHarness{}
	doc := strings.Replace(flagExperiment, "duration: 800ms", "duration: 1m", 1)
	start := time.Now()
	res := h.call(ctx, YAML(doc), WithRegistries(testRegistries(t, f)), pointAt(srv.URL, flag))
	if res == nil {
		t.Fatalf("run failed the test: %s", h.fatal)
	}
	if res.Verdict != "aborted" || exists(flag) {
		t.Errorf("verdict %s (%s), flag left: %v", res.Verdict, res.Reason, exists(flag))
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("cancelled run took %s", d)
	}
	h.finish()
	if h.failed {
		t.Errorf("cleanup failed the test: %q", h.errs)
	}
}

// When a revert fails, the cleanup registered before the run replays the journal
// and undoes the fault, so the test leaves nothing behind.
func TestSafetyNetUndoesWhatARunLeft(t *testing.T) {
	f := &testFlag{brokenRevert: true}
	flag := filepath.Join(t.TempDir(), "flag")
	srv := flaggedServer(t, flag)
	h := &fakeHarness{}
	res := h.call(t.Context(), YAML(flagExperiment), WithRegistries(testRegistries(t, f)), pointAt(srv.URL, flag),
		WithReportDir(t.TempDir()))
	if res == nil {
		t.Fatalf("run failed the test: %s", h.fatal)
	}
	if res.Verdict != "errored" || !exists(flag) {
		t.Fatalf("verdict %s (%s), flag exists: %v; want errored with the flag left", res.Verdict, res.Reason, exists(flag))
	}
	if _, err := Pass().Match(res); err == nil {
		t.Error("Pass() did not error on an errored run")
	}
	h.finish()
	if exists(flag) || f.recovered.Load() != 1 {
		t.Errorf("after cleanup: flag exists %v, recovered %d times", exists(flag), f.recovered.Load())
	}
	mustContain(t, strings.Join(h.logs, "\n"), "safety net", `fault "flag-on" (testFlag): reverted`)
	if h.failed {
		t.Errorf("a successful recovery failed the test: %q", h.errs)
	}
}

func TestReportDirs(t *testing.T) {
	f := &testFlag{}
	flag := filepath.Join(t.TempDir(), "flag")
	srv := flaggedServer(t, flag)
	reg := testRegistries(t, f)
	short := WithOverride(func(e *experiments.Experiment) {
		e.Spec.SteadyState.Baseline = 100 * time.Millisecond
		e.Spec.Faults[0].Duration = 100 * time.Millisecond
	})

	// $CHAOS_REPORT_DIR: kept.
	env := t.TempDir()
	t.Setenv(ReportDirEnv, env)
	h := &fakeHarness{}
	res := h.call(t.Context(), YAML(flagExperiment), WithRegistries(reg), pointAt(srv.URL, flag), short)
	h.finish()
	if res == nil || filepath.Dir(res.ReportDir) != env || !exists(filepath.Join(res.ReportDir, "report.json")) {
		t.Fatalf("with %s=%s: result %v, fatal %q", ReportDirEnv, env, res, h.fatal)
	}

	// Default: a temporary directory, kept because the test failed.
	t.Setenv(ReportDirEnv, "")
	h = &fakeHarness{}
	res = h.call(t.Context(), YAML(flagExperiment), WithRegistries(reg), pointAt(srv.URL, flag), short)
	h.failed = true // as if an assertion on the result had failed
	h.finish()
	if res == nil || !exists(filepath.Join(res.ReportDir, "report.json")) {
		t.Fatalf("reports of a failed test not kept: %v %q", res, h.fatal)
	}
	mustContain(t, strings.Join(h.logs, "\n"), "reports of flagged kept in "+res.ReportDir)
	_ = os.RemoveAll(res.ReportDir)
}

// A dry run plans and touches nothing.
func TestDryRun(t *testing.T) {
	f := &testFlag{}
	flag := filepath.Join(t.TempDir(), "flag")
	srv := flaggedServer(t, flag)
	h := &fakeHarness{}
	res := h.call(t.Context(), YAML(flagExperiment), WithRegistries(testRegistries(t, f)), pointAt(srv.URL, flag), WithDryRun())
	h.finish()
	if res == nil {
		t.Fatalf("run failed the test: %s", h.fatal)
	}
	if res.Verdict != experiments.VerdictPlanned || f.injected.Load() != 0 || exists(flag) || len(res.Plan) != 1 {
		t.Errorf("dry run: verdict %s, injected %d, plan %+v", res.Verdict, f.injected.Load(), res.Plan)
	}
	if _, err := HoldSteadyState().Match(res); err == nil {
		t.Error("HoldSteadyState() did not error on a dry run")
	}
}

// When the safety net cannot undo a fault either, the test fails, and the journal is
// kept for `chaos recover`.
func TestSafetyNetFailureFailsTheTest(t *testing.T) {
	f := &testFlag{brokenRevert: true, brokenRecover: true}
	flag := filepath.Join(t.TempDir(), "flag")
	srv := flaggedServer(t, flag)
	h := &fakeHarness{}
	res := h.call(t.Context(), YAML(flagExperiment), WithRegistries(testRegistries(t, f)), pointAt(srv.URL, flag),
		WithReportDir(t.TempDir()))
	if res == nil {
		t.Fatalf("run failed the test: %s", h.fatal)
	}
	h.finish()
	t.Cleanup(func() { _ = os.Remove(flag) })
	if !h.failed || len(h.errs) != 1 {
		t.Fatalf("failed %v, errors %q", h.failed, h.errs)
	}
	mustContain(t, h.errs[0], "a fault may be left behind; its journal is kept, run `chaos recover --journal ", "recover broken on purpose")
	dir := strings.TrimSpace(strings.SplitN(strings.SplitN(h.errs[0], "--journal ", 2)[1], "`", 2)[0])
	if !exists(dir) {
		t.Errorf("journal %s not kept", dir)
	}
	_ = os.RemoveAll(dir)
}
