package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkValidate1000Files runs the real binary over 1,000 experiment files
// (goal: under 1 s in all). Run: go test -run '^$' -bench Validate1000 ./cmd/chaos
func BenchmarkValidate1000Files(b *testing.B) {
	dir := b.TempDir()
	src, err := os.ReadFile("../../examples/selfheal/webapp-killed.yaml")
	if err != nil {
		b.Fatal(err)
	}
	args := []string{"validate"}
	for i := range 1000 {
		p := filepath.Join(dir, fmt.Sprintf("exp-%04d.yaml", i))
		if err := os.WriteFile(p, src, 0o644); err != nil {
			b.Fatal(err)
		}
		args = append(args, p)
	}
	b.ResetTimer()
	for range b.N {
		out, err := exec.Command(chaosBin, args...).CombinedOutput()
		if err != nil {
			b.Fatalf("%v\n%.500s", err, out)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/1000files")
}

// BenchmarkStartup measures the start-up of the binary: `chaos version`, exec to exit
// (goal: under 20 ms). Run: go test -run '^$' -bench Startup ./cmd/chaos
func BenchmarkStartup(b *testing.B) {
	var total time.Duration
	for range b.N {
		t0 := time.Now()
		if out, err := exec.Command(chaosBin, "version").CombinedOutput(); err != nil {
			b.Fatalf("%v\n%s", err, out)
		}
		total += time.Since(t0)
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/start")
}
