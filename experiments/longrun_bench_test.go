package experiments

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/reports"
	"github.com/faultline-dev/faultline/steadystate"
)

// BenchmarkLongRunPipeline drives the runner's end of a one-hour run of 10 probes at
// 10 Hz (360,000 observations, 1 % failed) through the real pipeline: every
// observation goes into the run's sample store as the samplers put it there (each
// with its own detail string, as the http probe makes them, and on one probe its
// own breaker value map, as a header-reading probe does), then the run is finished
// (SLO checks from every observation, the Result with its series reduced) and its
// reports written with reports.WriteAll. It reports the store's heap per
// observation, the peak RSS of the process and its growth per observation, and
// report.json's size. No probe is asked (the observations are synthetic), so it
// measures what a long run holds and writes, not the probes' own cost.
//
//	go test -run '^$' -bench LongRunPipeline -benchtime 1x ./experiments/
func BenchmarkLongRunPipeline(b *testing.B) {
	const probes, every, hour = 10, 100 * time.Millisecond, time.Hour
	const perProbe = int(hour / every)
	const n = probes * perProbe
	reg, err := DefaultRegistries()
	if err != nil {
		b.Fatal(err)
	}
	var doc strings.Builder
	doc.WriteString("apiVersion: faultline.dev/v1alpha1\nkind: Experiment\nmetadata: {name: long-run}\nspec:\n  steadyState:\n    baseline: 1h\n    probes:\n")
	for p := range probes {
		fmt.Fprintf(&doc, "      - name: p%d\n        http: {url: \"http://127.0.0.1:1/\"}\n        every: 100ms\n        slo: {successRatio: 0.95, latencyP99: 50ms}\n", p)
	}
	doc.WriteString("  faults:\n    - name: pause\n      processPause: {match: \"^no-such-process-long-run$\"}\n      duration: 1m\n  safety: {maxDuration: 2h}\n")
	e, err := Decode([]byte(doc.String()), "long-run.yaml", reg)
	if err != nil {
		b.Fatal(err)
	}
	for range b.N {
		b.StopTimer()
		runtime.GC()
		rssBefore := procStatus("VmRSS")
		var m0 runtime.MemStats
		runtime.ReadMemStats(&m0)
		r, err := newRun(e, Options{Registries: reg})
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now().Add(-hour)
		r.res.Started = t0
		r.phases = []steadystate.Window{{Name: "baseline", Start: t0, End: t0.Add(hour)}}
		b.StartTimer()
		for i := range perProbe {
			at := t0.Add(time.Duration(i) * every)
			for k, p := range r.probes {
				o := steadystate.Observation{Time: at, Status: steadystate.StatusOK, Latency: time.Duration(2000+(i*7919)%9000) * time.Microsecond, Detail: strconv.Itoa(200 + k*0)}
				if i%100 == 37 {
					o.Status, o.Detail = steadystate.StatusFailed, strconv.Itoa(503+k*0)
				}
				if k == 0 {
					o.Values = map[string]string{"breaker": "closed"}
				}
				p.scheduled++
				p.completed++
				r.samples.add(p.spec.Name, o)
			}
		}
		b.StopTimer()
		runtime.GC()
		var m1 runtime.MemStats
		runtime.ReadMemStats(&m1)
		hwmStore := procStatus("VmHWM")
		b.StartTimer()
		res := r.finish("", "")
		res.Ended = t0.Add(hour)
		dir := b.TempDir()
		if _, err := reports.WriteAll(dir, res); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if res.Verdict != reports.VerdictPassed || len(res.Probes) != probes || res.Probes[0].OK+res.Probes[0].Failed != perProbe {
			b.Fatalf("verdict %s (%s), %d probes", res.Verdict, res.Reason, len(res.Probes))
		}
		fi, err := os.Stat(filepath.Join(dir, reports.JSONFile))
		if err != nil {
			b.Fatal(err)
		}
		hwm := procStatus("VmHWM")
		b.ReportMetric(float64(m1.HeapAlloc-m0.HeapAlloc)/float64(n), "store-heap-B/obs")
		b.ReportMetric(hwm/1e6, "peak-RSS-MB")
		b.ReportMetric(hwmStore/1e6, "RSS-after-sampling-MB")
		b.ReportMetric(rssBefore/1e6, "RSS-before-MB")
		b.ReportMetric((hwm-rssBefore)/float64(n), "RSS-growth-B/obs")
		b.ReportMetric(float64(fi.Size())/1e6, "report-MB")
		b.ReportMetric(float64(fi.Size())/float64(n), "report-B/obs")
		runtime.KeepAlive(r)
		b.StartTimer()
	}
}

// procStatus is a field of /proc/self/status in bytes (VmRSS, VmHWM); 0 if unknown.
func procStatus(field string) float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb * 1024
		}
	}
	return 0
}
