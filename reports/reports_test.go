package reports

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 23, 6, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

// sample is a failed run: one failed SLO, one errored and one skipped check, a
// revert error and a failed rollback.
func sample() *Result {
	var obs []Observation
	for i := range 40 {
		o := Observation{Time: at(time.Duration(i) * 500 * time.Millisecond), Status: "ok", Latency: 10 * time.Millisecond, Detail: "200"}
		if i >= 12 && i < 20 {
			o.Status, o.Detail, o.Latency = "failed", "503", 2*time.Millisecond
		}
		if i == 30 {
			o.Status, o.Detail = "errored", "dns: no such host"
		}
		obs = append(obs, o)
	}
	return &Result{
		RunID:      "r-1234",
		Experiment: "checkout-survives",
		Source:     "examples/checkout.yaml",
		Labels:     map[string]string{"team": "checkout"},
		Started:    t0,
		Ended:      at(23400 * time.Millisecond),
		Verdict:    VerdictFailed,
		Reason:     "slo(checkout).successRatio during payments-down did not hold",
		Plan:       []PlannedFault{{Name: "payments-down", Kind: "dependencyFailure", After: 2 * time.Second, Duration: 10 * time.Second}},
		Phases: []Phase{
			{Name: "baseline", Start: t0, End: at(5 * time.Second)},
			{Name: "observe", Start: at(5 * time.Second), End: at(15 * time.Second)},
		},
		Injections: []Injection{{
			Fault: "payments-down", Kind: "dependencyFailure",
			InjectedAt: at(6 * time.Second), InjectDuration: 12300 * time.Microsecond, Proof: "proxy payments refuses | resets",
			RevertedAt: at(16 * time.Second), RevertDuration: 3 * time.Millisecond, RevertError: "proxy gone",
		}},
		Probes: []ProbeSeries{{Name: "checkout", Kind: "http", OK: 31, Failed: 8, Errored: 1, Observations: obs}},
		Checks: []Check{
			{Name: "slo(checkout).successRatio baseline", Kind: "slo", Probe: "checkout", Status: CheckPassed, Expected: ">= 0.99", Measured: "1 (10 ok / 10)", Duration: 5 * time.Second},
			{Name: "slo(checkout).successRatio during payments-down", Kind: "slo", Probe: "checkout", Status: CheckFailed,
				Expected: ">= 0.99", Measured: "0.6 (12 ok / 20)", Reason: "success ratio 0.6 is below 0.99: 8 of 20 observations failed",
				Details: map[string]string{"ok": "12", "failed": "8"}, Duration: 10 * time.Second},
			{Name: "selfHealing(checkout)", Kind: "selfHealing", Probe: "checkout", Status: CheckErrored, Expected: "within 15s", Measured: "no data", Reason: "all observations errored"},
			{Name: "circuitBreaker(checkout)", Kind: "circuitBreaker", Probe: "checkout", Status: CheckSkipped, Expected: "opens within 2s", Reason: "run ended first"},
		},
		Rollbacks: []RollbackOutcome{{Action: "exec ./restart-payments.sh", Duration: 1200 * time.Millisecond, Error: "exit 1"}},
		Errors:    []string{"reverting payments-down: proxy gone"},
	}
}

// passedResult is the run of the Summary example.
func passedResult() *Result {
	r := &Result{RunID: "r-1", Experiment: "checkout-survives", Started: t0, Ended: at(23400 * time.Millisecond), Verdict: VerdictPassed}
	for i := range 12 {
		r.Checks = append(r.Checks, Check{Name: fmt.Sprintf("check %d", i), Kind: "slo", Status: CheckPassed, Expected: ">= 0.99", Measured: "1"})
	}
	return r
}

func junitOf(t *testing.T, results ...*Result) (junitSuites, string) {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteJUnit(&buf, results...); err != nil {
		t.Fatal(err)
	}
	var doc junitSuites
	if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("junit does not parse: %v\n%s", err, buf.String())
	}
	checkJUnitShape(t, buf.Bytes())
	return doc, buf.String()
}

// checkJUnitShape validates the document against the shape of the Jenkins xunit
// junit-10.xsd: only known elements and attributes, the required ones present,
// counts consistent with the testcases, time and timestamp in their formats.
func checkJUnitShape(t *testing.T, data []byte) {
	t.Helper()
	allowed := map[string][]string{
		"testsuites": {"name", "tests", "failures", "errors", "skipped", "time", "disabled"},
		"testsuite":  {"name", "tests", "failures", "errors", "skipped", "time", "timestamp", "hostname", "id", "package", "disabled"},
		"properties": {},
		"property":   {"name", "value"},
		"testcase":   {"name", "classname", "time", "assertions", "status"},
		"failure":    {"message", "type"},
		"error":      {"message", "type"},
		"skipped":    {"message"},
		"system-out": {},
		"system-err": {},
	}
	required := map[string][]string{
		"testsuite": {"name", "tests", "failures", "errors", "time", "timestamp"},
		"testcase":  {"name", "classname", "time"},
		"property":  {"name", "value"},
	}
	parents := map[string]string{
		"testsuite": "testsuites", "properties": "testsuite", "property": "properties", "testcase": "testsuite",
		"failure": "testcase", "error": "testcase", "skipped": "testcase", "system-out": "testsuite", "system-err": "testsuite",
	}
	timeRE := regexp.MustCompile(`^\d+(\.\d+)?$`)
	stampRE := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$`)
	dec := xml.NewDecoder(bytes.NewReader(data))
	var stack []string
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch el := tok.(type) {
		case xml.StartElement:
			name := el.Name.Local
			attrs, ok := allowed[name]
			if !ok {
				t.Errorf("element <%s> is not in the junit schema", name)
			}
			parent := ""
			if len(stack) > 0 {
				parent = stack[len(stack)-1]
			}
			if want := parents[name]; want != parent && name != "testsuites" {
				t.Errorf("<%s> inside <%s>, want inside <%s>", name, parent, want)
			}
			have := map[string]string{}
			for _, a := range el.Attr {
				have[a.Name.Local] = a.Value
				if !contains(attrs, a.Name.Local) {
					t.Errorf("<%s %s=...> is not in the junit schema", name, a.Name.Local)
				}
			}
			for _, a := range required[name] {
				if _, ok := have[a]; !ok {
					t.Errorf("<%s> lacks required %s", name, a)
				}
			}
			if v, ok := have["time"]; ok && !timeRE.MatchString(v) {
				t.Errorf("<%s time=%q> is not a decimal", name, v)
			}
			if v, ok := have["timestamp"]; ok && !stampRE.MatchString(v) {
				t.Errorf("<%s timestamp=%q> is not an xsd ISO8601 timestamp without zone", name, v)
			}
			stack = append(stack, name)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		}
	}
	// Counts consistent with the testcases.
	var doc junitSuites
	if err := xml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	var sum junitSuites
	for _, s := range doc.Suites {
		var n junitSuite
		for _, c := range s.Cases {
			n.Tests++
			if c.Failure != nil {
				n.Failures++
			}
			if c.Error != nil {
				n.Errors++
			}
			if c.Skipped != nil {
				n.Skipped++
			}
			if (c.Failure != nil && c.Error != nil) || (c.Skipped != nil && (c.Failure != nil || c.Error != nil)) {
				t.Errorf("testcase %q has more than one outcome", c.Name)
			}
		}
		if n.Tests != s.Tests || n.Failures != s.Failures || n.Errors != s.Errors || n.Skipped != s.Skipped {
			t.Errorf("suite %s counts %d/%d/%d/%d, testcases say %d/%d/%d/%d", s.Name,
				s.Tests, s.Failures, s.Errors, s.Skipped, n.Tests, n.Failures, n.Errors, n.Skipped)
		}
		sum.Tests += s.Tests
		sum.Failures += s.Failures
		sum.Errors += s.Errors
		sum.Skipped += s.Skipped
	}
	if sum.Tests != doc.Tests || sum.Failures != doc.Failures || sum.Errors != doc.Errors || sum.Skipped != doc.Skipped {
		t.Errorf("testsuites totals %d/%d/%d/%d, suites sum to %d/%d/%d/%d",
			doc.Tests, doc.Failures, doc.Errors, doc.Skipped, sum.Tests, sum.Failures, sum.Errors, sum.Skipped)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestJUnit(t *testing.T) {
	doc, raw := junitOf(t, sample())
	if !strings.HasPrefix(raw, "<?xml") {
		t.Error("no xml header")
	}
	if len(doc.Suites) != 1 {
		t.Fatalf("%d suites", len(doc.Suites))
	}
	s := doc.Suites[0]
	if s.Name != "checkout-survives" || s.Tests != 4 || s.Failures != 1 || s.Errors != 1 || s.Skipped != 1 {
		t.Errorf("suite %s: %d tests %d failures %d errors %d skipped", s.Name, s.Tests, s.Failures, s.Errors, s.Skipped)
	}
	if s.Time != "23.400" || s.Timestamp != "2026-11-23T06:00:00" {
		t.Errorf("time %q timestamp %q", s.Time, s.Timestamp)
	}
	props := map[string]string{}
	for _, p := range s.Properties {
		props[p.Name] = p.Value
	}
	if props["runID"] != "r-1234" || props["verdict"] != "failed" || props["label.team"] != "checkout" {
		t.Errorf("properties %v", props)
	}
	f := s.Cases[1]
	if f.Classname != "faultline.checkout-survives" || f.Name != "slo(checkout).successRatio during payments-down" || f.Time != "10.000" {
		t.Errorf("testcase identity %+v", f)
	}
	if f.Failure == nil || f.Failure.Message != "expected >= 0.99, measured 0.6 (12 ok / 20)" || f.Failure.Type != "slo" {
		t.Fatalf("failure %+v", f.Failure)
	}
	for _, want := range []string{"8 of 20 observations failed", "failed: 8", "probe checkout: 31 ok, 8 failed, 1 errored",
		"samples around the first failure (10-24 of 40)", "+6s", "failed       2ms  503"} {
		if !strings.Contains(f.Failure.Body, want) {
			t.Errorf("failure body lacks %q:\n%s", want, f.Failure.Body)
		}
	}
	if s.Cases[2].Error == nil || s.Cases[2].Error.Type != "selfHealing" || s.Cases[3].Skipped == nil || s.Cases[0].Failure != nil {
		t.Errorf("outcomes: %+v", s.Cases)
	}
	for _, want := range []string{"verdict: failed", "baseline   +0s .. +5s", "proof: proxy payments refuses | resets", "REVERT ERROR: proxy gone", "exec ./restart-payments.sh: error: exit 1"} {
		if s.SystemOut == nil || !strings.Contains(s.SystemOut.Text, want) {
			t.Errorf("system-out lacks %q:\n%+v", want, s.SystemOut)
		}
	}
	if s.SystemErr == nil || s.SystemErr.Text != "reverting payments-down: proxy gone" {
		t.Errorf("system-err %+v", s.SystemErr)
	}
}

func TestJUnitVerdictTestcase(t *testing.T) {
	for _, tt := range []struct {
		verdict          string
		failures, errors int
		added            bool
	}{
		{VerdictPassed, 0, 0, false},
		{VerdictNotSteady, 1, 0, true},
		{VerdictFailed, 1, 0, true},
		{VerdictAborted, 0, 1, true},
		{VerdictErrored, 0, 1, true},
	} {
		t.Run(tt.verdict, func(t *testing.T) {
			r := passedResult()
			r.Verdict, r.Reason = tt.verdict, "checkout success ratio 0.3 over 5s is below 0.5"
			doc, _ := junitOf(t, r)
			s := doc.Suites[0]
			last := s.Cases[len(s.Cases)-1]
			if (last.Name == "verdict") != tt.added || s.Failures != tt.failures || s.Errors != tt.errors {
				t.Errorf("last testcase %q, %d failures, %d errors", last.Name, s.Failures, s.Errors)
			}
			if tt.added {
				p := last.Failure
				if p == nil {
					p = last.Error
				}
				if p == nil || p.Type != "verdict" || p.Message != "verdict "+tt.verdict+": "+r.Reason {
					t.Errorf("verdict problem %+v", p)
				}
			}
		})
	}
	// A failing check already makes the run red: no extra testcase.
	doc, _ := junitOf(t, sample())
	for _, c := range doc.Suites[0].Cases {
		if c.Name == "verdict" {
			t.Error("verdict testcase added although a check failed")
		}
	}
}

func TestJUnitSeveralResults(t *testing.T) {
	doc, _ := junitOf(t, sample(), passedResult())
	if len(doc.Suites) != 2 || doc.Tests != 16 || doc.Failures != 1 || doc.Errors != 1 || doc.Skipped != 1 || doc.Time != "46.800" {
		t.Errorf("testsuites: %d suites, %d tests, %d failures, %d errors, %d skipped, time %s",
			len(doc.Suites), doc.Tests, doc.Failures, doc.Errors, doc.Skipped, doc.Time)
	}
	if doc.Suites[1].ID != 1 {
		t.Errorf("suite ids %d %d", doc.Suites[0].ID, doc.Suites[1].ID)
	}
}

func TestJUnitEscapes(t *testing.T) {
	r := passedResult()
	r.Checks[0].Status, r.Checks[0].Reason = CheckFailed, "body lacks \"<ok>\" & ]]> \x01 control"
	r.Checks[0].Name = `slo("a<b")`
	r.Checks[0].Measured = "\x02"
	doc, raw := junitOf(t, r)
	c := doc.Suites[0].Cases[0]
	if c.Name != `slo("a<b")` || !strings.Contains(c.Failure.Body, "\"<ok>\" & ]]> \uFFFD control") || !strings.HasSuffix(c.Failure.Message, "\uFFFD") {
		t.Errorf("escaping lost data: %q %q %q", c.Name, c.Failure.Message, c.Failure.Body)
	}
	if !strings.Contains(raw, "<![CDATA[run r-1 of checkout-survives") {
		t.Errorf("system-out is not readable CDATA:\n%s", raw)
	}
}

func TestMarkdown(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteMarkdown(&buf, sample()); err != nil {
		t.Fatal(err)
	}
	md := buf.String()
	for _, want := range []string{
		"# checkout-survives: FAILED\n",
		"**Verdict: failed.** slo(checkout).successRatio during payments-down did not hold",
		"- **Run:** `r-1234`",
		"- **Checks:** 4: 1 passed, 1 failed, 1 errored, 1 skipped",
		"| Status | Check | Expected | Measured | Reason |",
		"| FAILED | slo(checkout).successRatio during payments-down | >= 0.99 | 0.6 (12 ok / 20) | success ratio 0.6 is below 0.99: 8 of 20 observations failed |",
		`| payments-down | dependencyFailure | +6s | 0s | 12.3ms | proxy payments refuses \| resets | +16s | 3ms | REVERT: proxy gone |`,
		"| checkout | http | 31 | 8 | 1 | 10ms | 10ms | 0 | 0 | 0 |",
		"| baseline | +0s | +5s | 5s |",
		"| exec ./restart-payments.sh | error: exit 1 | 1.2s |   |",
		"## Errors\n\n- reverting payments-down: proxy gone\n",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	// Every table row has as many cells as its header.
	var cols int
	for _, line := range strings.Split(md, "\n") {
		if !strings.HasPrefix(line, "|") {
			cols = 0
			continue
		}
		n := strings.Count(strings.ReplaceAll(line, `\|`, ""), "|") - 1
		if cols == 0 {
			cols = n
		} else if n != cols {
			t.Errorf("row has %d cells, header %d: %s", n, cols, line)
		}
	}
	for _, r := range md {
		if r >= 0x1F300 || (r >= 0x2600 && r <= 0x27BF) {
			t.Errorf("markdown contains an emoji/symbol %q", r)
		}
	}
}

func TestMarkdownPlanWhenNothingInjected(t *testing.T) {
	r := sample()
	r.Verdict, r.Injections = VerdictNotSteady, nil
	var buf bytes.Buffer
	if err := WriteMarkdown(&buf, r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "## Plan (nothing injected)") || !strings.Contains(buf.String(), "| payments-down | dependencyFailure | 2s | 10s |") {
		t.Errorf("no plan table:\n%s", buf.String())
	}
}

func TestJSONRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	r := sample()
	if err := WriteJSON(&buf, r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "\n  \"runID\": \"r-1234\"") {
		t.Error("json not indented")
	}
	var back Result
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.RunID != r.RunID || len(back.Checks) != 4 || len(back.Probes[0].Observations) != 40 ||
		back.Injections[0].InjectDuration != r.Injections[0].InjectDuration || !back.Started.Equal(r.Started) {
		t.Errorf("round trip lost data: %+v", back)
	}
}

func TestWriteAll(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "reports", "r-1234")
	paths, err := WriteAll(dir, sample())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, JSONFile), filepath.Join(dir, JUnitFile), filepath.Join(dir, MarkdownFile), filepath.Join(dir, HTMLFile)}
	if strings.Join(paths, ",") != strings.Join(want, ",") {
		t.Errorf("paths %v, want %v", paths, want)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != len(want) {
		t.Errorf("dir holds %d entries (temporary files left?)", len(entries))
	}
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v", p, err)
		}
	}
	data, _ := os.ReadFile(paths[1])
	checkJUnitShape(t, data)
	// Unwritable directory: an error, no panic.
	if _, err := WriteAll("/proc/faultline-no", sample()); err == nil {
		t.Error("writing under /proc must fail")
	}
}

func TestSummary(t *testing.T) {
	if got, want := Summary(passedResult()), "PASSED checkout-survives (12 checks, 0 failed) in 23.4s"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	want := "FAILED checkout-survives (4 checks, 1 failed, 1 errored, 1 skipped) in 23.4s: slo(checkout).successRatio during payments-down did not hold"
	if got := Summary(sample()); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestExcerptAroundNamedObservation: the excerpt in junit.xml and report.md shows
// the samples around the observation the check's reason names (Check.At), not
// around the probe's first failure.
func TestExcerptAroundNamedObservation(t *testing.T) {
	r := sample()
	r.Probes[0].Observations[35].Latency = 300 * time.Millisecond
	r.Probes[0].Scheduled, r.Probes[0].Completed, r.Probes[0].Skipped = 42, 40, 2
	r.Checks[1] = Check{Name: "circuitBreaker(checkout)", Kind: "circuitBreaker", Probe: "checkout", Status: CheckFailed,
		Expected: "no answer >= 100ms while open", Measured: "1 slow answer while open",
		Reason: "breaker did not short-circuit: the slowest 300ms at +11.5s", At: at(17500 * time.Millisecond)}
	doc, _ := junitOf(t, r)
	body := doc.Suites[0].Cases[1].Failure.Body
	var buf bytes.Buffer
	if err := WriteMarkdown(&buf, r); err != nil {
		t.Fatal(err)
	}
	md := buf.String()
	for name, text := range map[string]string{"junit": body, "markdown": md} {
		for _, want := range []string{
			"samples around the observation the reason names (33-40 of 40)",
			"> +17.5s   ok         300ms  200",
			"(42 scheduled, 40 completed, 2 skipped)",
		} {
			if !strings.Contains(text, want) {
				t.Errorf("%s lacks %q:\n%s", name, want, text)
			}
		}
	}
	if strings.Contains(body, "first failure") {
		t.Errorf("junit excerpt shows the first failure, not the named observation:\n%s", body)
	}
	if !strings.Contains(md, "### circuitBreaker(checkout) (failed)") {
		t.Errorf("markdown has no excerpt section:\n%s", md)
	}
}
