package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// hook is a local webhook receiver that answers status and keeps what it got.
type hook struct {
	mu     sync.Mutex
	bodies [][]byte
	srv    *httptest.Server
}

func newHook(t *testing.T, status int) *hook {
	h := &hook{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.bodies = append(h.bodies, b)
		h.mu.Unlock()
		w.WriteHeader(status)
		fmt.Fprint(w, http.StatusText(status))
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hook) received() [][]byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([][]byte(nil), h.bodies...)
}

// TestNotifyWebhooks: a failed run notifies a Slack-compatible webhook (URL from an
// environment variable) and a plain JSON webhook (URL from a file) that answers 500;
// the failed notification is reported and the verdict stays "failed".
func TestNotifyWebhooks(t *testing.T) {
	slack, broken := newHook(t, http.StatusOK), newHook(t, http.StatusInternalServerError)
	t.Setenv("FAULTLINE_TEST_SLACK_URL", slack.srv.URL+"/services/T0/B0/x")
	urlFile := writeFile(t, "hook-url", broken.srv.URL+"/hook\n")
	addr := freePort(t)
	pidFile, _ := webapp(t, addr, false) // nobody restarts it: selfHealing fails
	reportDir := t.TempDir()
	exp := writeFile(t, "kill.yaml", fmt.Sprintf(`apiVersion: faultline.dev/v1alpha1
kind: Experiment
metadata: {name: kill-unsupervised}
spec:
  steadyState:
    baseline: 300ms
    recovery: 1s
    probes:
      - name: health
        http: {url: "http://%s/health", timeout: 200ms}
        every: 50ms
  faults:
    - name: kill
      processKill: {pidFile: %s}
      duration: 300ms
  verify:
    - selfHealing: {probe: health, recoversWithin: 1s}
  notify:
    - format: slack
      urlFrom: {env: FAULTLINE_TEST_SLACK_URL}
      on: [failed, aborted]
    - urlFrom: {file: %s}
    - format: slack
      urlFrom: {env: FAULTLINE_TEST_SLACK_URL}
      on: [passed]
`, addr, pidFile, urlFile))
	code, out, errOut := runCLI(t, "run", "--journal", t.TempDir(), "--report-dir", reportDir, "--progress", "none", exp)
	if code != 1 {
		t.Fatalf("exit %d, want 1 (failed: a failed notification must not change it)\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "notify[0] slack: sent") || !strings.Contains(out, "notify[1] json: failed: webhook answered 500") || strings.Contains(out, "notify[2]") {
		t.Fatalf("notification outcomes not reported:\n%s", out)
	}
	if strings.Contains(out, broken.srv.URL) {
		t.Fatalf("the webhook URL (a secret) leaked into the output:\n%s", out)
	}
	got := slack.received()
	if len(got) != 1 {
		t.Fatalf("slack webhook got %d requests, want 1 (notify[2] is only for passed runs)", len(got))
	}
	var sm struct{ Text string }
	if err := json.Unmarshal(got[0], &sm); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"*kill-unsupervised*: FAILED", "selfHealing(health) failed: expected within 1s, measured", "report: " + reportDir} {
		if !strings.Contains(sm.Text, want) {
			t.Fatalf("slack text lacks %q:\n%s", want, sm.Text)
		}
	}
	plain := broken.received()
	if len(plain) != 1 {
		t.Fatalf("json webhook got %d requests, want 1", len(plain))
	}
	var m struct {
		Verdict      string
		Reason       string
		Score        *int
		FailedChecks []struct{ Name, Expected, Measured string }
	}
	if err := json.Unmarshal(plain[0], &m); err != nil {
		t.Fatal(err)
	}
	failedSH := false
	for _, c := range m.FailedChecks {
		failedSH = failedSH || c.Name == "selfHealing(health)" && c.Expected == "within 1s" && c.Measured != ""
	}
	// 3 checks (an SLO-less probe's recovery, selfHealing, and one that held): score < 100.
	if m.Verdict != "failed" || m.Reason == "" || m.Score == nil || *m.Score >= 100 || !failedSH {
		t.Fatalf("json message: %s", plain[0])
	}
	report, err := os.ReadFile(filepath.Join(reportDir, "report.json"))
	if err != nil || !strings.Contains(string(report), `"notify[1] json: failed: webhook answered 500`) {
		t.Fatalf("report.json does not record the notifications (%v)", err)
	}
}

// TestWindowsSkipTouchingNothing: outside safety.windows, or on a blackout date, a
// run ends "skipped" (exit 0) with nothing journaled or injected; inside a window it runs.
func TestWindowsSkipTouchingNothing(t *testing.T) {
	now := time.Now().UTC()
	today, day := now.Format(time.DateOnly), now.Format("Mon")
	other := now.Add(48 * time.Hour).Format("Mon")
	for _, tc := range []struct {
		name, safety string
		skipped      bool
		reason       string
	}{
		{"blackout date", fmt.Sprintf("blackoutDates: [%q]", today), true, "is a blackout date"},
		{"other day", fmt.Sprintf("windows: [{days: [%s]}]", other), true, "outside every allowed window"},
		{"today all day", fmt.Sprintf("windows: [{days: [%s]}]", day), false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pidFile, _ := webapp(t, freePort(t), false)
			journal := t.TempDir()
			exp := writeFile(t, "e.yaml", pausedExperiment(freePort(t), pidFile, "300ms")+"  safety:\n    timeZone: UTC\n    "+tc.safety+"\n")
			code, out, errOut := runCLI(t, "run", "--journal", journal, "--report-dir", t.TempDir(), "--progress", "none", exp)
			entries, _ := os.ReadDir(journal)
			if !tc.skipped {
				// Nothing listens at the probed address: the run starts, and ends not-steady.
				if code != 3 || len(entries) == 0 {
					t.Fatalf("inside the window the run should start (exit 3 not-steady, journal written): exit %d, %d journal files\n%s\n%s", code, len(entries), out, errOut)
				}
				return
			}
			if code != 0 || !strings.Contains(strings.ToLower(out), "skipped") || !strings.Contains(out, tc.reason) {
				t.Fatalf("exit %d, want 0 skipped (%s)\n%s\n%s", code, tc.reason, out, errOut)
			}
			if len(entries) != 0 {
				t.Fatalf("a skipped run journaled something: %v", entries)
			}
		})
	}
}

// TestHistoryFromReportDir lists runs from a directory of report.json files, oldest
// first, with scores, key numbers and the experiment's score and trend.
func TestHistoryFromReportDir(t *testing.T) {
	dir := t.TempDir()
	write := func(sub, verdict string, started time.Time, checks string) {
		p := filepath.Join(dir, sub, "report.json")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		body := fmt.Sprintf(`{"runID":%q,"experiment":"web-heals","verdict":%q,"reason":"r","started":%q,"ended":%q,"checks":[%s]}`,
			sub, verdict, started.Format(time.RFC3339Nano), started.Add(5*time.Second).Format(time.RFC3339Nano), checks)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	sh := func(status, measured string) string {
		return fmt.Sprintf(`{"name":"selfHealing(web)","kind":"selfHealing","status":%q,"expected":"within 30s","measured":%q}`, status, measured)
	}
	write("run-b", "failed", now.Add(-time.Hour), sh("failed", "not steady again")+`,{"name":"slo","kind":"slo","status":"passed","expected":"x","measured":"y"}`)
	write("run-a", "passed", now.Add(-48*time.Hour), sh("passed", "recovered after 1.31s"))
	write("run-old", "passed", now.Add(-40*24*time.Hour), sh("passed", "recovered after 2s"))
	code, out, errOut := runCLI(t, "history", "--dir", dir, "--since", "30d")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	a, b := strings.Index(out, "run-a"), strings.Index(out, "run-b")
	if a < 0 || b < a || strings.Contains(out, "run-old") {
		t.Fatalf("want run-a then run-b, not run-old (older than 30d):\n%s", out)
	}
	for _, want := range []string{"selfHealing: recovered after 1.31s", "passed   100", "failed   50", "web-heals: 2 runs (1 failed, 1 passed), score 75, trend down"} {
		if !strings.Contains(out, want) {
			t.Fatalf("history lacks %q:\n%s", want, out)
		}
	}
	if code, _, _ := runCLI(t, "history", "--dir", dir, "--since", "yesterday"); code != 2 {
		t.Fatalf("--since yesterday: exit %d, want 2", code)
	}
}
