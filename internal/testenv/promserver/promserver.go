// Package promserver starts a real Prometheus server for tests: Debian's
// `prometheus` package (/usr/bin/prometheus, installed by .ci/run), scraping the
// test's own services on free loopback ports with a short scrape interval.
//
//	srv := promserver.Start(t, promserver.Options{Targets: []promserver.Target{
//		{Job: "checkout", Address: checkout.Addr},
//	}})
//	srv.WaitForScrape(ctx, t)          // polls until every target's first sample landed
//	... prometheus probe at srv.URL ...
//	srv.Stop()                          // optional: t.Cleanup stops it anyway
//
// The server runs in its own process group with a temporary config and TSDB, listens
// on 127.0.0.1:<free port> (retried on a port race), and is killed if the test binary
// dies (Pdeathsig, from a thread that lives as long as the server). Nothing here
// sleeps a fixed time: readiness and the first scrape are polled with a deadline.
package promserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// DefaultBinary is Debian's Prometheus.
const DefaultBinary = "/usr/bin/prometheus"

// DefaultScrapeInterval is Options.ScrapeInterval when zero.
const DefaultScrapeInterval = 200 * time.Millisecond

// Target is one service Prometheus scrapes.
type Target struct {
	Job     string // job label (required, unique)
	Address string // host:port
	Path    string // metrics path (default /metrics)
}

// Options configure Start.
type Options struct {
	Targets        []Target
	ScrapeInterval time.Duration // default 200ms
	Binary         string        // default /usr/bin/prometheus
}

// Server is a running Prometheus.
type Server struct {
	URL  string // http://127.0.0.1:PORT, the API base URL
	Addr string // 127.0.0.1:PORT
	API  v1.API

	dir      string
	log      string
	done     chan struct{} // closed when the process exited
	pid      int
	stopOnce sync.Once
}

// Start starts Prometheus and waits until it is ready (not until it has scraped:
// see WaitForScrape). It skips the test when the binary is missing, unless CI is
// set, where it fails: CI installs the package. The server is stopped on cleanup.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	if o.Binary == "" {
		o.Binary = DefaultBinary
	}
	if _, err := os.Stat(o.Binary); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("prometheus not installed (%v); .ci/run installs Debian's package", err)
		}
		t.Skipf("needs a real Prometheus at %s: apt-get install prometheus (%v)", o.Binary, err)
	}
	if o.ScrapeInterval == 0 {
		o.ScrapeInterval = DefaultScrapeInterval
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte(config(o)), 0o644); err != nil {
		t.Fatal(err)
	}
	var lastErr error
	for range 3 { // a free port may be taken between our probe and Prometheus' bind
		s, err := start(o.Binary, cfg, dir)
		if err == nil {
			t.Cleanup(s.Stop)
			return s
		}
		lastErr = err
	}
	t.Fatalf("starting prometheus: %v", lastErr)
	return nil
}

// config is a prometheus.yml scraping every target every interval.
func config(o Options) string {
	var b strings.Builder
	fmt.Fprintf(&b, "global:\n  scrape_interval: %s\n  scrape_timeout: %s\n  evaluation_interval: 1m\nscrape_configs:\n",
		model.Duration(o.ScrapeInterval), model.Duration(o.ScrapeInterval))
	for _, tg := range o.Targets {
		path := tg.Path
		if path == "" {
			path = "/metrics"
		}
		fmt.Fprintf(&b, "  - job_name: %q\n    metrics_path: %q\n    static_configs:\n      - targets: [%q]\n", tg.Job, path, tg.Address)
	}
	return b.String()
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// start runs one attempt: spawn, then poll /-/ready until it answers 200 or the
// process exits.
func start(bin, cfg, dir string) (*Server, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data-"+strings.ReplaceAll(addr, ":", "-"))
	s := &Server{URL: "http://" + addr, Addr: addr, dir: dir, log: filepath.Join(dir, "prometheus.log"), done: make(chan struct{})}
	f, err := os.OpenFile(s.log, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd := exec.Command(bin, "--config.file="+cfg, "--storage.tsdb.path="+data,
		"--web.listen-address="+addr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	started := make(chan error, 1)
	go func() { // owned by s: ends when the process exits, which Stop guarantees
		// Pdeathsig fires when the forking *thread* exits: fork from a thread that
		// lives exactly as long as the child (never unlocked, so it exits with us).
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			close(s.done)
			return
		}
		s.pid = cmd.Process.Pid
		started <- nil
		_ = cmd.Wait()
		close(s.done)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	c, err := api.NewClient(api.Config{Address: s.URL})
	if err != nil {
		s.Stop()
		return nil, err
	}
	s.API = v1.NewAPI(c)
	if err := s.waitReady(30 * time.Second); err != nil {
		s.Stop()
		return nil, fmt.Errorf("%w; log:\n%s", err, s.Log())
	}
	return s, nil
}

func (s *Server) waitReady(d time.Duration) error {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	client := &http.Client{Timeout: time.Second}
	for {
		resp, err := client.Get(s.URL + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.done:
			return errors.New("prometheus exited before it was ready")
		case <-deadline.C:
			return fmt.Errorf("prometheus not ready after %s", d)
		case <-tick.C:
		}
	}
}

// Log returns what Prometheus wrote so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(s.log)
	return string(b)
}

// Stop terminates Prometheus (SIGTERM to its group, SIGKILL after 5 s) and waits
// for it. It is idempotent; afterwards the URL refuses connections.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		if s.pid == 0 {
			<-s.done
			return
		}
		_ = syscall.Kill(-s.pid, syscall.SIGTERM)
		t := time.NewTimer(5 * time.Second)
		defer t.Stop()
		select {
		case <-s.done:
		case <-t.C:
			_ = syscall.Kill(-s.pid, syscall.SIGKILL)
			<-s.done
		}
	})
}

// WaitFor polls query (every 50ms) until it returns at least one series or sample
// and returns the result; it fails the test when ctx ends first.
func (s *Server) WaitFor(ctx context.Context, t testing.TB, query string) model.Value {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last string
	for {
		v, _, err := s.API.Query(ctx, query, time.Time{})
		switch {
		case err != nil:
			last = err.Error()
		case nonEmpty(v):
			return v
		default:
			last = "empty result"
		}
		select {
		case <-ctx.Done():
			t.Fatalf("prometheus: %s never returned data (last: %s); log:\n%s", query, last, s.Log())
			return nil
		case <-tick.C:
		}
	}
}

// WaitForScrape waits until every target of the server has been scraped
// successfully (up == 1), i.e. its first samples have landed.
func (s *Server) WaitForScrape(ctx context.Context, t testing.TB, jobs ...string) {
	t.Helper()
	for _, j := range jobs {
		s.WaitFor(ctx, t, fmt.Sprintf(`up{job=%q} == 1`, j))
	}
}

func nonEmpty(v model.Value) bool {
	switch v := v.(type) {
	case model.Vector:
		return len(v) > 0
	case model.Matrix:
		return len(v) > 0
	case *model.Scalar, *model.String:
		return true
	}
	return false
}
