package proxy

// Benchmarks of the latency toxic as users meet it: through a proxy served in its
// own process and driven over the HTTP API (as `chaos proxy` and toxiproxy-server
// are), and under CPU load from other processes. Helper processes are this test
// binary re-executed (see TestMain).
//
//	go test -run '^$' -bench 'Served|Loaded' -benchtime 1x ./injectors/proxy/

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

const (
	burnEnv  = "FAULTLINE_BENCH_BURN"  // burn one CPU for this long, then exit
	serveEnv = "FAULTLINE_BENCH_SERVE" // "faultline" or "toxiproxy": serve the API
)

// TestMain runs the helper processes of the benchmarks; otherwise the tests.
func TestMain(m *testing.M) {
	if d := os.Getenv(burnEnv); d != "" {
		burn(d)
		os.Exit(0)
	}
	if kind := os.Getenv(serveEnv); kind != "" {
		if err := serveAPI(kind); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func burn(arg string) {
	d, err := time.ParseDuration(arg)
	if err != nil {
		return
	}
	runtime.GOMAXPROCS(1)
	for end := time.Now().Add(d); time.Now().Before(end); {
	}
}

// serveAPI serves kind's HTTP API on a loopback port it prints on stdout, until
// stdin closes.
func serveAPI(kind string) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Println(ln.Addr().String())
	ctx, cancel := context.WithCancel(context.Background())
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); cancel() }()
	switch kind {
	case "faultline":
		return NewServer().Serve(ctx, ln)
	case "toxiproxy":
		srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
		hs := &http.Server{Handler: srv.Routes()}
		go func() { <-ctx.Done(); _ = hs.Close() }()
		if err := hs.Serve(ln); err != http.ErrServerClosed {
			return err
		}
		return srv.Collection.Clear()
	}
	return fmt.Errorf("unknown server %q", kind)
}

// helper starts this test binary with env set; it is killed at cleanup.
func helper(b *testing.B, env string) (*exec.Cmd, io.WriteCloser, *bufio.Reader) {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = in.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	return cmd, in, bufio.NewReader(out)
}

// burners starts n processes that each burn one CPU for at most d.
func burners(b *testing.B, n int, d time.Duration) {
	for range n {
		cmd, _, _ := helper(b, burnEnv+"="+d.String())
		b.Cleanup(func() { _ = cmd.Process.Kill() })
	}
	time.Sleep(500 * time.Millisecond) // let the load settle
}

// servedAPI starts kind's API server in its own process; it returns its base URL.
func servedAPI(b *testing.B, kind string) string {
	_, _, out := helper(b, serveEnv+"="+kind)
	line, err := out.ReadString('\n')
	if err != nil {
		b.Fatalf("%s server: %v", kind, err)
	}
	return "http://" + strings.TrimSpace(line)
}

// apiPost posts body to base+path and decodes the JSON answer into v (if not nil).
func apiPost(b *testing.B, base, path, body string, v any) {
	b.Helper()
	resp, err := http.Post(base+path, "application/json", strings.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		b.Fatalf("POST %s: %s: %s", path, resp.Status, data)
	}
	if v != nil {
		if err := json.NewDecoder(bytes.NewReader(data)).Decode(v); err != nil {
			b.Fatalf("POST %s: %v", path, err)
		}
	}
}

// seqRTTs: n sequential 64-byte echo round trips on one new connection (after 5 of
// warm-up), pausing gap before each.
func seqRTTs(b *testing.B, addr string, n int, gap time.Duration) []time.Duration {
	c := dial(b, addr)
	defer c.Close()
	msg := make([]byte, 64)
	out := make([]time.Duration, 0, n)
	for i := range n + 5 {
		time.Sleep(gap)
		start := time.Now()
		if _, err := c.Write(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, msg); err != nil {
			b.Fatal(err)
		}
		if i >= 5 {
			out = append(out, time.Since(start))
		}
	}
	return out
}

// BenchmarkServedLatencyToxic reconciles the in-process latency benchmark with a
// measurement through a served proxy: one client, 100 sequential 64-byte round
// trips through a 50 ms downstream latency toxic added with the HTTP API; error =
// round trip − 50 ms (raw), and minus the median round trip through the same proxy
// without the toxic (pausing 50 ms between round trips, so the processes idle as
// they do under the toxic): the added error. Subjects: faultline's and Toxiproxy's
// API servers each in their own process, faultline in-process, and direct.
func BenchmarkServedLatencyToxic(b *testing.B) {
	zerolog.SetGlobalLevel(zerolog.Disabled)
	echo := echoServer(b)
	inproc := startProxy(b, echo)
	const n, lat = 100, 50 * time.Millisecond
	for range b.N {
		direct := pct(seqRTTs(b, echo, n, lat), 0.5)
		b.ReportMetric(us(direct), "direct-idle-rtt-p50-µs")
		raw := map[string]time.Duration{}
		for _, s := range []string{"faultline-served", "toxiproxy-served", "faultline-inproc"} {
			var addr string
			var addToxic, removeToxic func()
			if s == "faultline-inproc" {
				addr = inproc.Addr()
				addToxic = func() {
					if err := inproc.AddToxic(Toxic{Name: "l", Type: "latency", Stream: Downstream, Toxicity: 1, Attributes: map[string]any{"latency": 50}}); err != nil {
						b.Fatal(err)
					}
				}
				removeToxic = func() { _ = inproc.RemoveToxic("l") }
			} else {
				api := servedAPI(b, strings.TrimSuffix(s, "-served"))
				var pj struct {
					Listen string `json:"listen"`
				}
				apiPost(b, api, "/proxies", fmt.Sprintf(`{"name":"bench","listen":"127.0.0.1:0","upstream":%q,"enabled":true}`, echo), &pj)
				addr = pj.Listen
				addToxic = func() {
					apiPost(b, api, "/proxies/bench/toxics", `{"name":"l","type":"latency","stream":"downstream","toxicity":1,"attributes":{"latency":50}}`, nil)
				}
				removeToxic = func() {}
			}
			base := pct(seqRTTs(b, addr, n, lat), 0.5)
			addToxic()
			rtts := seqRTTs(b, addr, n, 0)
			removeToxic()
			errs, added := make([]time.Duration, n), make([]time.Duration, n)
			for i, d := range rtts {
				errs[i] = d - lat
				e := d - lat - base
				added[i] = max(e, -e)
			}
			raw[s] = pct(errs, 0.5)
			b.ReportMetric(us(base), s+"-idle-rtt-p50-µs")
			b.ReportMetric(us(pct(errs, 0.5)), s+"-raw-err-p50-µs")
			b.ReportMetric(us(pct(errs, 0.99)), s+"-raw-err-p99-µs")
			b.ReportMetric(us(pct(added, 0.5)), s+"-added-err-p50-µs")
			b.ReportMetric(us(pct(added, 0.99)), s+"-added-err-p99-µs")
		}
		b.ReportMetric(float64(raw["faultline-served"])/float64(raw["faultline-inproc"]), "served/inproc-raw-p50")
		b.ReportMetric(float64(raw["faultline-served"])/float64(raw["toxiproxy-served"]), "served/toxiproxy-raw-p50")
	}
}

// BenchmarkLatencyToxicLoaded is BenchmarkLatencyToxic50ms next to 4 processes per
// CPU that burn it (bounded: they exit after 2 minutes, or are killed at the end),
// as when a chaos experiment runs beside a loaded service or a CPU stress fault.
// The subjects take turns (3 rounds) so that changes of the load hit them alike.
func BenchmarkLatencyToxicLoaded(b *testing.B) {
	echo := echoServer(b)
	zerolog.SetGlobalLevel(zerolog.Disabled)
	subj := latencySubjects(b, echo)
	burners(b, 4*runtime.NumCPU(), 2*time.Minute)
	for range b.N {
		all := map[string][]time.Duration{}
		for range 3 {
			for _, s := range []string{"faultline", "toxiproxy"} {
				all[s] = append(all[s], subj[s].errors(b)...)
			}
		}
		reportLatencyErrors(b, all)
	}
}
