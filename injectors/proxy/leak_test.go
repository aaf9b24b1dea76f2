package proxy

import (
	"net"
	"sync"
	"testing"
	"time"
)

// TestNoLeakAfterClose drives a proxy hard (live connections in the fast path, in
// the toxic path, blackholed and half-closed), closes it, and checks that every
// goroutine and file descriptor it made is gone.
func TestNoLeakAfterClose(t *testing.T) {
	upstream := echoServer(t)
	// Warm up runtime goroutines and fds (poller, timers) before counting.
	func() {
		p := startProxy(t, upstream)
		_, _ = roundTrip(t, dial(t, p.Addr()), []byte("warm"), time.Second)
		_ = p.Close()
	}()
	time.Sleep(50 * time.Millisecond)
	g0, fd0 := numGoroutine(), countFDs()

	p, err := New(Config{Name: "leak", Upstream: upstream})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	for range 20 {
		c, err := net.Dial("tcp", p.Addr())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		if _, err := roundTrip(t, c, []byte("hello"), time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.AddToxic(Toxic{Name: "lat", Type: "latency", Toxicity: 0.5, Attributes: map[string]any{"latency": 5}}); err != nil {
		t.Fatal(err)
	}
	if err := p.AddToxic(Toxic{Name: "hole", Type: "timeout", Stream: Upstream, Toxicity: 0.3}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = roundTrip(t, c, []byte("busy"), 100*time.Millisecond)
		}()
	}
	wg.Wait()
	_ = conns[0].(*net.TCPConn).CloseWrite()
	if g := numGoroutine(); g <= g0+20 {
		t.Fatalf("expected pump goroutines while connections live: %d (baseline %d)", g, g0)
	}
	start := time.Now()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Close took %v", d)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	for _, c := range conns {
		_ = c.Close()
	}
	var g, fd int
	if !eventually(3*time.Second, func() bool {
		g, fd = numGoroutine(), countFDs()
		return g <= g0+2 && fd <= fd0+2
	}) {
		t.Fatalf("after Close: %d goroutines (baseline %d), %d fds (baseline %d)", g, g0, fd, fd0)
	}
}
