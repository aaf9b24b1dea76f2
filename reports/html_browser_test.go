package reports

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
)

// chromiumBin is Debian's chromium package (.ci/run installs it).
const chromiumBin = "/usr/bin/chromium"

// chromium runs headless chromium on file with extra flags and returns stdout and
// stderr. It fails the test if chromium does not finish within two minutes.
func chromium(t testing.TB, file string, flags ...string) (string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := append([]string{
		"--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
		"--user-data-dir=" + t.TempDir(), "--enable-logging=stderr", "--v=0",
	}, flags...)
	args = append(args, "file://"+file)
	cmd := exec.CommandContext(ctx, chromiumBin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", flags, err, lastLines(errb.String(), 20))
	}
	return out.String(), errb.String()
}

// consoleErrors returns chromium's log lines of console messages and uncaught
// exceptions (the report's script writes nothing to the console).
func consoleErrors(stderr string) []string {
	var out []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.Contains(l, ":CONSOLE") || strings.Contains(l, "Uncaught") {
			out = append(out, l)
		}
	}
	return out
}

// TestHTMLInChromium opens real reports (and the 60,000-observation one) in
// headless chromium: the script runs without an error, the DOM has every section
// down to the footer, and a screenshot is not blank.
func TestHTMLInChromium(t *testing.T) {
	if _, err := os.Stat(chromiumBin); err != nil {
		t.Skipf("skipped: %s is not installed (apt-get install chromium; .ci/run installs it)", chromiumBin)
	}
	dir := t.TempDir()
	pages := map[string]func(*bytes.Buffer) error{
		"resilient.html": func(b *bytes.Buffer) error { return WriteHTML(b, loadGolden(t, "shop-resilient")) },
		"aborted.html":   func(b *bytes.Buffer) error { return WriteHTML(b, loadGolden(t, "shop-fragile-abort")) },
		"dense-60k.html": func(b *bytes.Buffer) error { return WriteHTML(b, denseResult(10, 6000)) },
		"compare.html": func(b *bytes.Buffer) error {
			return WriteHTMLCompare(b, loadGolden(t, "shop-fragile"), loadGolden(t, "shop-resilient"))
		},
	}
	for name, write := range pages {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := write(&buf); err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(dir, name)
			if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			png := filepath.Join(dir, name+".png")
			dom, stderr := chromium(t, file, "--dump-dom", "--screenshot="+png, "--window-size=1300,1600")
			if errs := consoleErrors(stderr); len(errs) > 0 {
				t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
			}
			checkRenderedDOM(t, dom, strings.Count(buf.String(), `<svg class="timeline"`))
			checkScreenshot(t, png)
		})
	}
}

// checkRenderedDOM checks the DOM chromium built: the script ran to its end and
// threw nothing, and every section is there down to the footer.
func checkRenderedDOM(t testing.TB, dom string, timelines int) {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(dom))
	if err != nil {
		t.Fatal(err)
	}
	root := findFirst(doc, func(n *html.Node) bool { return n.Type == html.ElementNode && n.Data == "html" })
	if root == nil || attr(root, "data-js") != "ok" || attr(root, "data-js-error") != "" {
		t.Errorf("script did not run cleanly: data-js=%q data-js-error=%q", attr(root, "data-js"), attr(root, "data-js-error"))
	}
	if byID(doc, "end-of-report") == nil {
		t.Error("rendered DOM is truncated: no footer")
	}
	svgs := findAll(doc, func(n *html.Node) bool { return n.Data == "svg" && hasClass(n, "timeline") })
	if len(svgs) != timelines || timelines == 0 {
		t.Errorf("%d timelines rendered, want %d", len(svgs), timelines)
	}
	for _, svg := range svgs {
		if len(findAll(svg, func(n *html.Node) bool { return hasClass(n, "lane") })) == 0 {
			t.Error("a timeline without probe lanes")
		}
	}
	if n := len(findAll(doc, func(n *html.Node) bool { return hasClass(n, "zoom") })); n != timelines {
		t.Errorf("%d zoom bars, want one per timeline (the script adds them)", n)
	}
}

// checkScreenshot fails on a blank or half-drawn screenshot: both halves must hold
// drawn pixels, in more than a handful of colours.
func checkScreenshot(t testing.TB, file string) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	b := img.Bounds()
	colours := map[[3]uint32]bool{}
	inked := [2]int{}
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl, _ := img.At(x, y).RGBA()
			colours[[3]uint32{r >> 8, g >> 8, bl >> 8}] = true
			if r>>8 < 200 || g>>8 < 200 || bl>>8 < 200 {
				inked[(y-b.Min.Y)*2/b.Dy()]++
			}
		}
	}
	samples := b.Dx() * b.Dy() / 4
	t.Logf("%s: %dx%d, %d colours, inked top %d, bottom %d of %d samples", filepath.Base(file), b.Dx(), b.Dy(), len(colours), inked[0], inked[1], samples/2)
	if len(colours) < 30 {
		t.Errorf("screenshot has %d colours: blank render", len(colours))
	}
	for half, n := range inked {
		if n < samples/2/100 {
			t.Errorf("screenshot %s half is nearly empty (%d inked samples): truncated render", []string{"top", "bottom"}[half], n)
		}
	}
}

// BenchmarkHTML60kInChromium opens the 60,000-observation report in headless
// chromium and reports, as the browser measured them, the time from the file's last
// byte to the load event (parse, layout, script: ms-render) and from navigation
// start (ms-to-load, which includes a cold browser's start-up), and the file size.
// Run: go test -run '^$' -bench HTML60kInChromium -benchtime 3x ./reports
func BenchmarkHTML60kInChromium(b *testing.B) {
	if _, err := os.Stat(chromiumBin); err != nil {
		b.Skipf("skipped: %s is not installed", chromiumBin)
	}
	var buf bytes.Buffer
	if err := WriteHTML(&buf, denseResult(10, 6000)); err != nil {
		b.Fatal(err)
	}
	file := filepath.Join(b.TempDir(), "dense.html")
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		b.Fatal(err)
	}
	var load, render float64
	for b.Loop() {
		dom, stderr := chromium(b, file, "--dump-dom")
		if errs := consoleErrors(stderr); len(errs) > 0 {
			b.Fatalf("console errors:\n%s", strings.Join(errs, "\n"))
		}
		load += domMillis(b, dom, "data-load-ms")
		render += domMillis(b, dom, "data-render-ms")
	}
	b.ReportMetric(load/float64(b.N), "ms-to-load")
	b.ReportMetric(render/float64(b.N), "ms-render")
	b.ReportMetric(float64(buf.Len()), "bytes")
	b.ReportMetric(0, "ns/op") // chromium's start-up is not the report's render time
}

// domMillis reads a timing the page's script wrote into an attribute of <html>.
func domMillis(b *testing.B, dom, attr string) float64 {
	i := strings.Index(dom, attr+`="`)
	if i < 0 {
		b.Fatalf("the page's load event did not run (no %s)", attr)
	}
	v := dom[i+len(attr)+2:]
	ms, err := strconv.ParseFloat(v[:strings.IndexByte(v, '"')], 64)
	if err != nil {
		b.Fatal(err)
	}
	return ms
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(l[max(0, len(l)-n):], "\n")
}
