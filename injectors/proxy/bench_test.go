package proxy

// Benchmarks comparing the fault proxy with Toxiproxy v2.12.0 (in-process, no HTTP
// API) and a direct loopback connection, in one run:
//
//	go test -run '^$' -bench . -benchtime 1x ./injectors/proxy/
//
// Each benchmark runs a fixed workload per iteration and reports its figures with
// b.ReportMetric (units name the subject: faultline-MB/s, toxiproxy-p50-µs, ...).

import (
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// sinkServer reads everything; at EOF it sends the byte count on the channel
// (Toxiproxy closes both directions at EOF, so the count cannot go back on the wire).
func sinkServer(b testing.TB) (string, chan int64) {
	counts := make(chan int64, 16)
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				n, _ := io.Copy(io.Discard, c)
				counts <- n
			}()
		}
	}()
	b.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	return ln.Addr().String(), counts
}

// subjects returns the address to use for each subject: direct, faultline, toxiproxy.
func subjects(b *testing.B, upstream string) map[string]string {
	b.Helper()
	zerolog.SetGlobalLevel(zerolog.Disabled)
	p := startProxy(b, upstream)
	tp := startToxiproxy(b, upstream)
	return map[string]string{"direct": upstream, "faultline": p.Addr(), "toxiproxy": tp.Listen}
}

func startToxiproxy(b testing.TB, upstream string) *toxiproxy.Proxy {
	b.Helper()
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	tp := toxiproxy.NewProxy(srv, "bench", "127.0.0.1:0", upstream)
	if err := tp.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(tp.Stop)
	return tp
}

func pct(ds []time.Duration, q float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// throughput streams for d and returns MB/s acknowledged by the sink.
func throughput(b *testing.B, addr string, counts chan int64, d time.Duration) float64 {
	c := dial(b, addr)
	buf := make([]byte, 256<<10)
	start := time.Now()
	var sent int64
	for time.Since(start) < d {
		n, err := c.Write(buf)
		sent += int64(n)
		if err != nil {
			b.Fatal(err)
		}
	}
	_ = c.(*net.TCPConn).CloseWrite()
	if got := <-counts; got != sent {
		b.Fatalf("sink got %d of %d bytes", got, sent)
	}
	return float64(sent) / 1e6 / time.Since(start).Seconds()
}

// BenchmarkThroughput: one connection per subject streaming, no toxics; the
// subjects take turns (8 rounds of 0.25 s each) so that load changes on the machine
// hit them alike.
func BenchmarkThroughput(b *testing.B) {
	sink, counts := sinkServer(b)
	addrs := subjects(b, sink)
	for range b.N {
		r := map[string]float64{}
		for range 8 {
			for _, s := range []string{"direct", "faultline", "toxiproxy"} {
				r[s] += throughput(b, addrs[s], counts, 250*time.Millisecond) / 8
			}
		}
		for s, v := range r {
			b.ReportMetric(v, s+"-MB/s")
		}
		b.ReportMetric(r["faultline"]/r["toxiproxy"], "x-toxiproxy")
		b.ReportMetric(r["faultline"]/r["direct"], "of-direct")
	}
}

// rtts measures n sequential 64-byte echo round trips on one connection.
func rtts(b *testing.B, addr string, n int) []time.Duration {
	c := dial(b, addr)
	msg, buf := make([]byte, 64), make([]byte, 64)
	out := make([]time.Duration, 0, n)
	for i := range n + 100 {
		start := time.Now()
		if _, err := c.Write(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			b.Fatal(err)
		}
		if i >= 100 { // warm-up
			out = append(out, time.Since(start))
		}
	}
	return out
}

// BenchmarkRoundTrip64: 64-byte echo round trips, 10 rounds × 2,000 per subject,
// taking turns; the added latency is the proxy's percentile minus the direct one.
func BenchmarkRoundTrip64(b *testing.B) {
	addrs := subjects(b, echoServer(b))
	for range b.N {
		all := map[string][]time.Duration{}
		for range 10 {
			for _, s := range []string{"direct", "faultline", "toxiproxy"} {
				all[s] = append(all[s], rtts(b, addrs[s], 2000)...)
			}
		}
		p50 := map[string]time.Duration{}
		for s, ds := range all {
			p50[s] = pct(ds, 0.5)
			b.ReportMetric(us(p50[s]), s+"-p50-µs")
			b.ReportMetric(us(pct(ds, 0.99)), s+"-p99-µs")
		}
		fa, ta := p50["faultline"]-p50["direct"], p50["toxiproxy"]-p50["direct"]
		b.ReportMetric(us(fa), "faultline-added-p50-µs")
		b.ReportMetric(us(ta), "toxiproxy-added-p50-µs")
		b.ReportMetric(float64(fa)/float64(ta), "added-p50-ratio")
	}
}

// parallelRTTs runs 16 connections × 40 sequential 64-byte round trips, pausing
// gap between them, and returns the round-trip times. The connections start 3 ms
// apart, so that their round trips do not all fall due at the same instant.
func parallelRTTs(b *testing.B, addr string, gap time.Duration) []time.Duration {
	var mu sync.Mutex
	var out []time.Duration
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i) * 3 * time.Millisecond)
			c, err := net.Dial("tcp", addr)
			if err != nil {
				b.Error(err)
				return
			}
			defer c.Close()
			msg := make([]byte, 64)
			for range 40 {
				time.Sleep(gap)
				start := time.Now()
				if _, err := c.Write(msg); err != nil {
					b.Error(err)
					return
				}
				if _, err := io.ReadFull(c, msg); err != nil {
					b.Error(err)
					return
				}
				mu.Lock()
				out = append(out, time.Since(start))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return out
}

// latencySubject is a proxy and how to add and remove its 50 ms latency toxic.
type latencySubject struct {
	addr        string
	add, remove func()
}

func latencySubjects(b *testing.B, echo string) map[string]latencySubject {
	p := startProxy(b, echo)
	tp := startToxiproxy(b, echo)
	return map[string]latencySubject{
		"faultline": {p.Addr(), func() {
			if err := p.AddToxic(Toxic{Name: "l", Type: "latency", Toxicity: 1, Attributes: map[string]any{"latency": 50}}); err != nil {
				b.Fatal(err)
			}
		}, func() { _ = p.RemoveToxic("l") }},
		"toxiproxy": {tp.Listen, func() {
			if _, err := tp.Toxics.AddToxicJson(strings.NewReader(`{"name":"l","type":"latency","attributes":{"latency":50}}`)); err != nil {
				b.Fatal(err)
			}
		}, func() { _ = tp.Toxics.RemoveToxic(b.Context(), "l") }},
	}
}

// errors times 16 connections × 40 round trips without the toxic (pausing 50 ms
// between round trips, so the proxy idles as it does under the toxic), then with
// it; error = |round trip − 50 ms − median round trip without the toxic|.
func (s latencySubject) errors(b *testing.B) []time.Duration {
	base := pct(parallelRTTs(b, s.addr, 50*time.Millisecond), 0.5)
	s.add()
	errs := parallelRTTs(b, s.addr, 0)
	s.remove()
	for i, d := range errs {
		e := d - 50*time.Millisecond - base
		errs[i] = max(e, -e)
	}
	return errs
}

func reportLatencyErrors(b *testing.B, all map[string][]time.Duration) {
	for s, errs := range all {
		b.ReportMetric(us(pct(errs, 0.5)), s+"-err-p50-µs")
		b.ReportMetric(us(pct(errs, 0.99)), s+"-err-p99-µs")
	}
	b.ReportMetric(float64(pct(all["faultline"], 0.99))/float64(pct(all["toxiproxy"], 0.99)), "err-p99-ratio")
}

// BenchmarkLatencyToxic50ms: the error of a 50 ms downstream latency toxic (see
// latencySubject.errors), faultline and Toxiproxy taking turns.
func BenchmarkLatencyToxic50ms(b *testing.B) {
	echo := echoServer(b)
	zerolog.SetGlobalLevel(zerolog.Disabled)
	subj := latencySubjects(b, echo)
	for range b.N {
		all := map[string][]time.Duration{}
		for range 2 {
			for _, s := range []string{"faultline", "toxiproxy"} {
				all[s] = append(all[s], subj[s].errors(b)...)
			}
		}
		reportLatencyErrors(b, all)
	}
}

// BenchmarkAddRemove1000Conns: add and remove a toxic on a proxy carrying 1,000 live
// connections (open, end to end, while 4 of them carry echo traffic); the time of
// each add+remove pair. For faultline also with a timeout toxic with a timeout, the
// one kind that wakes every connection when added (faultline-wake-*).
func BenchmarkAddRemove1000Conns(b *testing.B) {
	echo := echoServer(b)
	zerolog.SetGlobalLevel(zerolog.Disabled)
	p := startProxy(b, echo)
	tp := startToxiproxy(b, echo)
	measure := func(addr string, rounds int, add, remove func() error) []time.Duration {
		conns := make([]net.Conn, 0, 1000)
		for range 1000 {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			conns = append(conns, c)
		}
		defer func() {
			for _, c := range conns {
				_ = c.Close()
			}
		}()
		for _, c := range conns { // every connection is live end to end
			if _, err := roundTrip(b, c, []byte("x"), 5*time.Second); err != nil {
				b.Fatal(err)
			}
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for _, c := range conns[:4] {
			wg.Add(1)
			go func() {
				defer wg.Done()
				buf := make([]byte, 64)
				for {
					select {
					case <-stop:
						return
					default:
					}
					_ = c.SetDeadline(time.Now().Add(time.Second))
					if _, err := c.Write(buf); err != nil {
						return
					}
					if _, err := io.ReadFull(c, buf); err != nil {
						return
					}
				}
			}()
		}
		ds := make([]time.Duration, 0, rounds)
		for range rounds {
			start := time.Now()
			if err := add(); err != nil {
				b.Fatal(err)
			}
			if err := remove(); err != nil {
				b.Fatal(err)
			}
			ds = append(ds, time.Since(start))
		}
		close(stop)
		wg.Wait()
		return ds
	}
	report := func(name string, ds []time.Duration) {
		b.ReportMetric(us(pct(ds, 0.5)), name+"-p50-µs")
		b.ReportMetric(us(pct(ds, 0.99)), name+"-p99-µs")
	}
	for range b.N {
		report("faultline", measure(p.Addr(), 2000,
			func() error {
				return p.AddToxic(Toxic{Name: "l", Type: "latency", Toxicity: 1, Attributes: map[string]any{"latency": 1}})
			},
			func() error { return p.RemoveToxic("l") }))
		report("faultline-wake", measure(p.Addr(), 200,
			func() error {
				return p.AddToxic(Toxic{Name: "t", Type: "timeout", Toxicity: 1, Attributes: map[string]any{"timeout": 60000}})
			},
			func() error { return p.RemoveToxic("t") }))
		report("toxiproxy", measure(tp.Listen, 100,
			func() error {
				_, err := tp.Toxics.AddToxicJson(strings.NewReader(`{"name":"l","type":"latency","attributes":{"latency":1}}`))
				return err
			},
			func() error { return tp.Toxics.RemoveToxic(b.Context(), "l") }))
	}
}
