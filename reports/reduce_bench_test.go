package reports

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchmarkLongRunReport writes the reports of a one-hour run of 10 probes at 10 Hz
// (360,000 observations, about 1 % failed) with WriteAll, as the runner does at the
// end of a run. It reports report.json's size (MB and bytes per observation), the
// heap the Result holds (bytes per observation), the peak heap growth while the
// reports are written, the process' peak RSS (VmHWM), and, as the anchor, the size
// of the same Result encoded whole with indentation as report.json was before.
func BenchmarkLongRunReport(b *testing.B) {
	const probes, perProbe = 10, 36000
	const n = probes * perProbe
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	r := longResult(probes, perProbe)
	runtime.GC()
	var built runtime.MemStats
	runtime.ReadMemStats(&built)
	dir := b.TempDir()
	var peak uint64
	b.ResetTimer()
	for range b.N {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { // samples the heap while the reports are written
			defer wg.Done()
			var m runtime.MemStats
			t := time.NewTicker(2 * time.Millisecond)
			defer t.Stop()
			for {
				runtime.ReadMemStats(&m)
				peak = max(peak, m.HeapInuse)
				select {
				case <-stop:
					return
				case <-t.C:
				}
			}
		}()
		if _, err := WriteAll(dir, r); err != nil {
			b.Fatal(err)
		}
		close(stop)
		wg.Wait()
	}
	b.StopTimer()
	fi, err := os.Stat(filepath.Join(dir, JSONFile))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(fi.Size())/1e6, "report-MB")
	b.ReportMetric(float64(fi.Size())/n, "report-B/obs")
	b.ReportMetric(float64(built.HeapAlloc-before.HeapAlloc)/n, "result-heap-B/obs")
	if peak > built.HeapInuse {
		b.ReportMetric(float64(peak-built.HeapInuse)/1e6, "write-peak-heap-growth-MB")
	} else {
		b.ReportMetric(0, "write-peak-heap-growth-MB")
	}
	b.ReportMetric(vmHWM()/1e6, "peak-RSS-MB")
	whole, err := json.MarshalIndent(r, "", "  ") // the anchor: the whole document, as before
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(len(whole))/n, "indented-whole-B/obs")
	runtime.KeepAlive(r)
}

// vmHWM is this process' peak resident set size in bytes (0 when unknown).
func vmHWM() float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb * 1024
		}
	}
	return 0
}
