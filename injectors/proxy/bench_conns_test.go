package proxy

// BenchmarkConns: many concurrent connections through the proxy, Toxiproxy and
// direct loopback, in one run:
//
//	go test -run '^$' -bench Conns -benchtime 1x ./injectors/proxy/
//
// Profile with -cpuprofile / -memprofile added to that command.

import (
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// connSet is n open connections to addr, each live end to end.
func connSet(b *testing.B, addr string, n int) []net.Conn {
	conns := make([]net.Conn, 0, n)
	for range n {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		if _, err := roundTrip(b, c, []byte("x"), 10*time.Second); err != nil {
			b.Fatal(err)
		}
	}
	return conns
}

// heapAndStacks is the memory in use by Go objects and goroutine stacks.
func heapAndStacks() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc + m.StackInuse)
}

// hammer runs every connection in its own goroutine for d, each doing echo round
// trips of size bytes back to back; it returns the round trips completed.
func hammer(b *testing.B, conns []net.Conn, size int, d time.Duration) int64 {
	var total atomic.Int64
	var wg sync.WaitGroup
	deadline := time.Now().Add(d)
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg, buf := make([]byte, size), make([]byte, size)
			_ = c.SetDeadline(deadline.Add(10 * time.Second))
			var n int64
			for time.Now().Before(deadline) {
				if _, err := c.Write(msg); err != nil {
					b.Error(err)
					return
				}
				if _, err := io.ReadFull(c, buf); err != nil {
					b.Error(err)
					return
				}
				n++
			}
			total.Add(n)
		}()
	}
	wg.Wait()
	return total.Load()
}

// BenchmarkConns: 64 and 1,000 concurrent connections per subject (direct, faultline,
// toxiproxy, no toxics), every connection busy at once: round trips per second with
// 64-byte messages, MB/s echoed with 16 KiB messages, and the memory (Go heap and
// stacks) each proxied connection costs while idle, i.e. the subject's memory with
// the connections open minus direct's. The subjects take turns (2 rounds of 1 s
// per figure).
func BenchmarkConns(b *testing.B) {
	addrs := subjects(b, echoServer(b))
	names := []string{"direct", "faultline", "toxiproxy"}
	for range b.N {
		for _, n := range []int{64, 1000} {
			rts, mbs, mem := map[string]float64{}, map[string]float64{}, map[string]float64{}
			for range 2 {
				for _, s := range names {
					before := heapAndStacks()
					conns := connSet(b, addrs[s], n)
					mem[s] += float64(heapAndStacks()-before) / float64(n) / 2
					rts[s] += float64(hammer(b, conns, 64, time.Second)) / 2
					mbs[s] += float64(hammer(b, conns, 16<<10, time.Second)) * 2 * (16 << 10) / 1e6 / 2
					for _, c := range conns {
						_ = c.Close()
					}
					time.Sleep(100 * time.Millisecond) // let the proxies drop them
				}
			}
			for _, s := range names {
				p := fmt.Sprintf("%d-%s-", n, s)
				b.ReportMetric(rts[s], p+"rt/s")
				b.ReportMetric(mbs[s], p+"MB/s")
				if s != "direct" {
					b.ReportMetric((mem[s]-mem["direct"])/1024, p+"KiB/conn")
				}
			}
			p := fmt.Sprintf("%d-", n)
			b.ReportMetric(rts["faultline"]/rts["toxiproxy"], p+"rt/s-x-toxiproxy")
			b.ReportMetric(rts["faultline"]/rts["direct"], p+"rt/s-of-direct")
			b.ReportMetric(mbs["faultline"]/mbs["toxiproxy"], p+"MB/s-x-toxiproxy")
			b.ReportMetric(mbs["faultline"]/mbs["direct"], p+"MB/s-of-direct")
		}
	}
}
