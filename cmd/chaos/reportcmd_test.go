package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/faultline-dev/faultline/examples/shop"
	"github.com/faultline-dev/faultline/reports"
)

// updateGolden rewrites reports/testdata/*.json from the real runs of these tests.
var updateGolden = flag.Bool("update", false, "copy the real runs' report.json into reports/testdata")

// shopExperiment is examples/shop/experiments/payments-outage.yaml on the given
// addresses; abort adds a stop condition that fires when checkout fails.
func shopExperiment(name, checkout, proxy, payments string, abort bool) string {
	s := fmt.Sprintf(`apiVersion: faultline.dev/v1alpha1
kind: Experiment
metadata: {name: %s, labels: {example: shop}}
spec:
  description: Checkout keeps answering, fast, while payments refuses every connection.
  steadyState:
    baseline: 1500ms
    recovery: 10s
    probes:
      - name: checkout
        every: 100ms
        http: {url: "http://%s/checkout", timeout: 3s, expectStatus: [200]}
        slo: {successRatio: 0.99, latencyP99: 250ms}
      - name: checkout-health
        every: 100ms
        http: {url: "http://%s/health", timeout: 1s}
  proxies:
    - {name: payments, listen: "%s", upstream: "%s"}
  faults:
    - name: payments-down
      dependencyFailure: {proxy: payments, mode: down}
      duration: 5s
  verify:
    - circuitBreaker:
        probe: checkout
        opensWithin: 1s
        fastFailUnder: 100ms
        closesWithin: 5s
        stateFrom: {header: X-Circuit-State}
    - selfHealing: {probe: checkout, recoversWithin: 5s, from: faultEnd}
  safety:
    maxDuration: 1m
`, name, checkout, checkout, proxy, payments)
	if abort {
		s += "  abort:\n    - {probe: checkout, successRatioBelow: 0.5, over: 1s}\n"
	}
	return s
}

// shopRun starts the example shop (resilient with breaker, else fragile) on free
// ports, runs the payments-outage experiment through the CLI and returns the report
// directory (base/name) and the exit code.
func shopRun(t *testing.T, base, name string, breaker, abort bool) (string, int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	payments, err := shop.StartPayments(ctx, shop.PaymentsConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { payments.Close() })
	proxy := freePort(t)
	checkout, err := shop.StartCheckout(ctx, shop.CheckoutConfig{PaymentsURL: "http://" + proxy, Breaker: breaker})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { checkout.Close() })
	exp := writeFile(t, name+".yaml", shopExperiment(name, checkout.Addr, proxy, payments.Addr, abort))
	dir := filepath.Join(base, name)
	code, out, errOut := runCLI(t, "run", "--progress", "none", "--journal", t.TempDir(), "--report-dir", dir, exp)
	t.Logf("chaos run %s: exit %d\n%s%s", name, code, out, errOut)
	return dir, code
}

// TestReportOfRealRuns runs the example shop's payments-outage experiment through
// `chaos run` against the resilient build (passes; its breaker opens, half-opens
// and closes), the fragile build (fails) and the fragile build with an abort
// condition (aborted), and checks the report.html each run wrote, `chaos report`
// of each run directory and `chaos report A B` of two runs.
// With -update it also copies the report.json files to reports/testdata, where the
// reports package's tests check every coordinate of the timeline.
func TestReportOfRealRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs three experiments of about 8 s each")
	}
	dirs, base := map[string]string{}, t.TempDir()
	for _, tc := range []struct {
		name           string
		breaker, abort bool
		code           int
		verdict        string
	}{
		{"shop-resilient", true, false, 0, reports.VerdictPassed},
		{"shop-fragile", false, false, 1, reports.VerdictFailed},
		{"shop-fragile-abort", false, true, 3, reports.VerdictAborted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, code := shopRun(t, base, tc.name, tc.breaker, tc.abort)
			if code != tc.code {
				t.Fatalf("chaos run: exit %d, want %d", code, tc.code)
			}
			dirs[tc.name] = dir
			res := readResult(t, filepath.Join(dir, "report.json"))
			if res.Verdict != tc.verdict {
				t.Fatalf("verdict %s, want %s", res.Verdict, tc.verdict)
			}
			written, err := os.ReadFile(filepath.Join(dir, "report.html"))
			if err != nil {
				t.Fatalf("chaos run wrote no report.html: %v", err)
			}
			checkReportHTML(t, written, res)

			out := filepath.Join(t.TempDir(), "again.html")
			if code, stdout, errOut := runCLI(t, "report", dir, "--out", out); code != 0 || !strings.Contains(stdout, out) {
				t.Fatalf("chaos report: exit %d\n%s%s", code, stdout, errOut)
			}
			again, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if withoutGenerated(again) != withoutGenerated(written) {
				t.Error("chaos report of report.json differs from the report.html the run wrote")
			}
			if tc.breaker {
				if !bytes.Contains(written, []byte(`data-state="open"`)) || !bytes.Contains(written, []byte(`data-state="closed"`)) {
					t.Error("no open and closed segments in the breaker lane")
				}
				if halfOpen(res) && !bytes.Contains(written, []byte(`data-state="half-open"`)) {
					t.Error("the run saw the breaker half-open; the breaker lane does not show it")
				}
			}
			if tc.abort && !bytes.Contains(written, []byte(`class="mark abort"`)) {
				t.Error("no abort marker on the timeline of an aborted run")
			}
			if *updateGolden {
				b, err := os.ReadFile(filepath.Join(dir, "report.json"))
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join("../../reports/testdata", tc.name+".json"), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
	if len(dirs) != 3 {
		t.Fatal("a run failed; no comparison")
	}
	cmp := filepath.Join(t.TempDir(), "compare.html")
	if code, out, errOut := runCLI(t, "report", dirs["shop-fragile"], filepath.Join(dirs["shop-resilient"], "report.json"), "--out", cmp); code != 0 {
		t.Fatalf("chaos report A B: exit %d\n%s%s", code, out, errOut)
	}
	page, err := os.ReadFile(cmp)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := html.Parse(bytes.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	table := findNode(doc, func(n *html.Node) bool { return n.Data == "table" && strings.Contains(attrOf(n, "class"), "cmp") })
	if table == nil {
		t.Fatal("no comparison table")
	}
	text := nodeText(table)
	for _, name := range []string{"shop-fragile", "shop-resilient"} {
		for _, c := range readResult(t, filepath.Join(dirs[name], "report.json")).Checks {
			if !strings.Contains(text, c.Name) || !strings.Contains(text, c.Measured) {
				t.Errorf("comparison lacks %s's %s measured %q", name, c.Name, c.Measured)
			}
		}
	}
	if n := bytes.Count(page, []byte(`<svg class="timeline"`)); n != 2 {
		t.Errorf("%d timelines in the comparison, want 2", n)
	}
}

func TestReportBadInput(t *testing.T) {
	notReport := writeFile(t, "x.json", `{"hello": "world"}`)
	for _, args := range [][]string{
		{"report"},
		{"report", filepath.Join(t.TempDir(), "missing")},
		{"report", notReport},
		{"report", "a", "b", "c"},
	} {
		if code, _, errOut := runCLI(t, args...); code != 2 || errOut == "" {
			t.Errorf("%v: exit %d (stderr %q), want 2 with a message", args, code, errOut)
		}
	}
}

func readResult(t *testing.T, path string) *reports.Result {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r reports.Result
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

// checkReportHTML parses page and checks the verdict, every check with its numbers
// and that nothing outside the file is referenced.
func checkReportHTML(t *testing.T, page []byte, r *reports.Result) {
	t.Helper()
	doc, err := html.Parse(bytes.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	if findNode(doc, func(n *html.Node) bool { return strings.Contains(attrOf(n, "class"), "banner v-"+r.Verdict) }) == nil {
		t.Errorf("no %s verdict banner", r.Verdict)
	}
	rows := findNodes(doc, func(n *html.Node) bool { return n.Data == "tr" && strings.HasPrefix(attrOf(n, "id"), "row-") })
	if len(rows) != len(r.Checks) {
		t.Errorf("%d check rows, want %d", len(rows), len(r.Checks))
	}
	all := nodeText(doc)
	for _, c := range r.Checks {
		for _, want := range []string{c.Name, c.Expected, c.Measured} {
			if !strings.Contains(all, want) {
				t.Errorf("check %s: %q not on the page", c.Name, want)
			}
		}
	}
	for _, n := range findNodes(doc, func(n *html.Node) bool { return n.Type == html.ElementNode }) {
		for _, a := range n.Attr {
			if (a.Key == "src" || a.Key == "href") && !strings.HasPrefix(a.Val, "#") {
				t.Errorf("<%s %s=%q> points outside the file", n.Data, a.Key, a.Val)
			}
		}
	}
	for _, p := range r.Probes {
		if findNode(doc, func(n *html.Node) bool { return attrOf(n, "data-probe") == p.Name }) == nil {
			t.Errorf("no lane for probe %s", p.Name)
		}
	}
}

func halfOpen(r *reports.Result) bool {
	for _, p := range r.Probes {
		for _, o := range p.Observations {
			if o.Values["breaker"] == "half-open" {
				return true
			}
		}
	}
	return false
}

func withoutGenerated(b []byte) string {
	s := string(b)
	if i := strings.Index(s, "<footer"); i >= 0 {
		if j := strings.Index(s[i:], "</footer>"); j >= 0 {
			s = s[:i] + s[i+j:]
		}
	}
	return s
}

func findNodes(n *html.Node, pred func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	if pred(n) {
		out = append(out, n)
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		out = append(out, findNodes(c, pred)...)
	}
	return out
}

func findNode(n *html.Node, pred func(*html.Node) bool) *html.Node {
	if l := findNodes(n, pred); len(l) > 0 {
		return l[0]
	}
	return nil
}

func attrOf(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func nodeText(n *html.Node) string {
	var b strings.Builder
	for _, t := range findNodes(n, func(n *html.Node) bool { return n.Type == html.TextNode }) {
		b.WriteString(t.Data)
	}
	return b.String()
}
