package chaostest

import (
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// junitSuites is the part of Ginkgo's JUnit report this test reads.
type junitSuites struct {
	Suites []struct {
		Cases []struct {
			Name       string `xml:"name,attr"`
			Status     string `xml:"status,attr"`
			Properties []struct {
				Name  string `xml:"name,attr"`
				Value string `xml:"value,attr"`
			} `xml:"properties>property"`
			Failure *struct {
				Message string `xml:"message,attr"`
			} `xml:"failure"`
			SystemErr string `xml:"system-err"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

// TestGinkgoSuite runs testdata/ginkgosuite, a real Ginkgo suite whose specs time
// out in the middle of a fault, leave a fault behind, and load an invalid
// experiment, and checks from outside what chaostest did in each.
func TestGinkgoSuite(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds and runs a Ginkgo suite with `go test`")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not on PATH")
	}
	dir := t.TempDir()
	timeoutFlag, brokenFlag := filepath.Join(dir, "timeout-flag"), filepath.Join(dir, "broken-flag")
	junit := filepath.Join(dir, "junit.xml")
	cmd := exec.CommandContext(t.Context(), goBin, "test", "-count=1", "./testdata/ginkgosuite",
		"-ginkgo.junit-report="+junit, "-ginkgo.no-color")
	tmp := t.TempDir() // the kept reports of the failing specs go there
	cmd.Env = append(os.Environ(), "FIXTURE_FLAG_TIMEOUT="+timeoutFlag, "FIXTURE_FLAG_BROKEN="+brokenFlag,
		ReportDirEnv+"=", "TMPDIR="+tmp)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the fixture suite passed; two of its specs must fail:\n%s", out)
	}
	for _, f := range []string{timeoutFlag, brokenFlag} {
		if exists(f) {
			t.Errorf("%s left behind", f)
		}
	}
	data, err := os.ReadFile(junit)
	if err != nil {
		t.Fatalf("no JUnit report (%v):\n%s", err, out)
	}
	var report junitSuites
	if err := xml.Unmarshal(data, &report); err != nil || len(report.Suites) != 1 {
		t.Fatalf("JUnit report: %v, %d suites", err, len(report.Suites))
	}
	seen := map[string]bool{}
	for _, c := range report.Suites[0].Cases {
		props := map[string]string{}
		for _, p := range c.Properties {
			props[p.Name] = p.Value
		}
		entry := props["faultline fixture"]
		switch {
		case strings.HasSuffix(c.Name, "times out"):
			seen["timeout"] = true
			if c.Status != "timedout" || !strings.Contains(entry, `"verdict":"aborted"`) {
				t.Errorf("timed-out spec: status %q, entry %s", c.Status, entry)
			}
			if !strings.Contains(c.SystemErr, "chaostest: reports of fixture kept in "+tmp) {
				t.Errorf("timed-out spec: its reports were not kept:\n%s", c.SystemErr)
			}
		case strings.HasSuffix(c.Name, "leaves a fault behind"):
			seen["broken"] = true
			if c.Status != "passed" || !strings.Contains(entry, `"verdict":"errored"`) {
				t.Errorf("broken-revert spec: status %q, entry %s", c.Status, entry)
			}
			if !strings.Contains(c.SystemErr, "fixture: recovering "+brokenFlag) ||
				!strings.Contains(c.SystemErr, `chaostest: safety net: run `) || !strings.Contains(c.SystemErr, `fault "flag-on" (fixtureFlag): reverted`) {
				t.Errorf("broken-revert spec: no safety-net recovery in its output:\n%s", c.SystemErr)
			}
			if !strings.Contains(c.SystemErr, "suite_test.go:") || strings.Contains(c.SystemErr, "chaostest/harness.go") {
				t.Errorf("the report entry is not located at the spec's call of Run:\n%s", c.SystemErr)
			}
		case strings.HasSuffix(c.Name, "is invalid"):
			seen["invalid"] = true
			if c.Failure == nil || !strings.Contains(c.Failure.Message, "[yaml]:3:18: metadata.name: must be a DNS-1123 name") ||
				!strings.Contains(c.Failure.Message, "nothing was run") || entry != "" {
				t.Errorf("invalid spec: failure %+v, entry %q", c.Failure, entry)
			}
		}
	}
	if len(seen) != 3 {
		t.Errorf("cases seen: %v\n%s", seen, out)
	}
}
