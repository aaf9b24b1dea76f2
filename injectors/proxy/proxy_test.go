package proxy

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestPassThroughLargeAndHalfClose(t *testing.T) {
	p := startProxy(t, echoServer(t))
	c := dial(t, p.Addr())
	data := make([]byte, 4<<20)
	_, _ = rand.Read(data)
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(data)
		_ = c.(*net.TCPConn).CloseWrite()
		errc <- err
	}()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("write: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("echo through proxy: got %d bytes, want %d identical", len(got), len(data))
	}
}

// TestLatencyLiveAddAndRemove: a latency toxic added on a live connection delays
// every round trip by at least its latency, and its removal ends the delay. Every
// round trip must be at least the latency; the upper bounds are checked on the
// fastest of three, so that a loaded machine's scheduling spike cannot fail it but a
// latency applied twice (or not removed) still does.
func TestLatencyLiveAddAndRemove(t *testing.T) {
	for _, stream := range []string{Downstream, Upstream} {
		t.Run(stream, func(t *testing.T) {
			p := startProxy(t, echoServer(t))
			c := dial(t, p.Addr())
			msg := []byte("ping")
			fastest := func(what string, atLeast, below time.Duration) {
				t.Helper()
				best := time.Hour
				for range 3 {
					d, err := roundTrip(t, c, msg, 2*time.Second)
					if err != nil || d < atLeast {
						t.Fatalf("%s: round trip %v (%v), want at least %v", what, d, err, atLeast)
					}
					best = min(best, d)
				}
				if best >= below {
					t.Fatalf("%s: fastest of 3 round trips %v, want below %v", what, best, below)
				}
			}
			fastest("baseline", 0, 50*time.Millisecond)
			if err := p.AddToxic(Toxic{Name: "lat", Type: "latency", Stream: stream, Toxicity: 1,
				Attributes: map[string]any{"latency": 100}}); err != nil {
				t.Fatal(err)
			}
			fastest("with 100ms latency on the live connection", 100*time.Millisecond, 190*time.Millisecond)
			if err := p.RemoveToxic("lat"); err != nil {
				t.Fatal(err)
			}
			fastest("after removal", 0, 50*time.Millisecond)
		})
	}
}

// TestLatencyJitterBounds: latency 30 ± 10 ms never answers sooner than 20 ms, its
// answers spread, and their median stays within the bounds (the median, not the
// slowest: a loaded machine adds its own delays on top).
func TestLatencyJitterBounds(t *testing.T) {
	p := startProxy(t, echoServer(t))
	if err := p.AddToxic(Toxic{Type: "latency", Toxicity: 1, Attributes: map[string]any{"latency": 30, "jitter": 10}}); err != nil {
		t.Fatal(err)
	}
	c := dial(t, p.Addr())
	var all []time.Duration
	for range 21 {
		d, err := roundTrip(t, c, []byte("x"), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, d)
	}
	slices.Sort(all)
	lo, median, hi := all[0], all[len(all)/2], all[len(all)-1]
	if lo < 20*time.Millisecond || median > 40*time.Millisecond+5*time.Millisecond || hi-lo < 3*time.Millisecond {
		t.Fatalf("latency 30±10ms: round trips from %v (median %v) to %v, want none below 20ms, the median within 45ms, and spread", lo, median, hi)
	}
}

func TestBandwidth(t *testing.T) {
	p := startProxy(t, echoServer(t))
	if err := p.AddToxic(Toxic{Name: "bw", Type: "bandwidth", Toxicity: 1, Attributes: map[string]any{"rate": 256}}); err != nil {
		t.Fatal(err)
	}
	c := dial(t, p.Addr())
	msg := bytes.Repeat([]byte("b"), 128<<10) // 0.5 s at 256 KB/s
	d, err := roundTrip(t, c, msg, 5*time.Second)
	if err != nil || d < 400*time.Millisecond || d > 2*time.Second {
		t.Fatalf("128 KiB at 256 KB/s: %v (%v), want about 500ms", d, err)
	}
	if err := p.RemoveToxic("bw"); err != nil {
		t.Fatal(err)
	}
	if d, err := roundTrip(t, c, msg, 5*time.Second); err != nil || d > 250*time.Millisecond {
		t.Fatalf("after removal: %v (%v), want < 250ms", d, err)
	}
}

func TestSlowClose(t *testing.T) {
	p := startProxy(t, echoServer(t))
	if err := p.AddToxic(Toxic{Type: "slow_close", Toxicity: 1, Attributes: map[string]any{"delay": 200}}); err != nil {
		t.Fatal(err)
	}
	c := dial(t, p.Addr())
	if _, err := roundTrip(t, c, []byte("x"), time.Second); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_ = c.(*net.TCPConn).CloseWrite()
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, err := c.Read(make([]byte, 1))
	if d := time.Since(start); n != 0 || err != io.EOF || d < 200*time.Millisecond || d > time.Second {
		t.Fatalf("close passed on after %v (n=%d err=%v), want EOF after >= 200ms", d, n, err)
	}
}

func TestTimeoutBlackholeAndClose(t *testing.T) {
	p := startProxy(t, echoServer(t))
	c := dial(t, p.Addr())
	if _, err := roundTrip(t, c, []byte("x"), time.Second); err != nil {
		t.Fatal(err)
	}
	if err := p.AddToxic(Toxic{Name: "hole", Type: "timeout", Stream: Upstream, Toxicity: 1, Attributes: map[string]any{"timeout": 0}}); err != nil {
		t.Fatal(err)
	}
	if _, err := roundTrip(t, c, []byte("lost"), 300*time.Millisecond); !isTimeout(err) {
		t.Fatalf("blackholed live connection: %v, want a read timeout", err)
	}
	start := time.Now()
	if err := p.RemoveToxic("hole"); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second { // Toxiproxy issue 558: 25 s
		t.Fatalf("removing a blackhole with a hung connection took %v", d)
	}
	if _, err := roundTrip(t, c, []byte("back"), time.Second); err != nil {
		t.Fatalf("after removal the connection must work again: %v", err)
	}
	// With a timeout the connection is closed after it.
	if err := p.AddToxic(Toxic{Name: "to", Type: "timeout", Toxicity: 1, Attributes: map[string]any{"timeout": 100}}); err != nil {
		t.Fatal(err)
	}
	c2 := dial(t, p.Addr())
	start = time.Now()
	_, _ = c2.Write([]byte("x"))
	_ = c2.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, err := c2.Read(make([]byte, 1))
	if d := time.Since(start); err == nil || isTimeout(err) || d < 90*time.Millisecond || d > 600*time.Millisecond {
		t.Fatalf("timeout 100ms: read ended after %v with %v, want a close after about 100ms", d, err)
	}
	// The connection that was idle when the toxic was added is closed too.
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Fatalf("idle live connection under timeout 100ms: %v, want it closed", err)
	}
}

func TestResetPeer(t *testing.T) {
	p := startProxy(t, echoServer(t))
	if err := p.AddToxic(Toxic{Name: "rst", Type: "reset_peer", Stream: Upstream, Toxicity: 1}); err != nil {
		t.Fatal(err)
	}
	c := dial(t, p.Addr())
	if _, err := roundTrip(t, c, []byte("x"), time.Second); !isReset(err) {
		t.Fatalf("reset_peer: %v, want connection reset by peer", err)
	}
	if err := p.UpdateToxicTimeout(t, "rst", 150); err != nil {
		t.Fatal(err)
	}
	c2 := dial(t, p.Addr())
	start := time.Now()
	_, err := roundTrip(t, c2, []byte("x"), 2*time.Second)
	if d := time.Since(start); !isReset(err) || d < 140*time.Millisecond || d > 700*time.Millisecond {
		t.Fatalf("reset_peer timeout 150: %v after %v, want a reset after about 150ms", err, d)
	}
	if err := p.RemoveToxic("rst"); err != nil {
		t.Fatal(err)
	}
	if _, err := roundTrip(t, dial(t, p.Addr()), []byte("x"), time.Second); err != nil {
		t.Fatalf("after removal: %v", err)
	}
}

// UpdateToxicTimeout is a test helper around UpdateToxic.
func (p *Proxy) UpdateToxicTimeout(t *testing.T, name string, ms int) error {
	_, err := p.UpdateToxic(name, nil, map[string]any{"timeout": ms})
	return err
}

func TestSlicer(t *testing.T) {
	p := startProxy(t, echoServer(t))
	if err := p.AddToxic(Toxic{Type: "slicer", Toxicity: 1,
		Attributes: map[string]any{"average_size": 10, "size_variation": 4, "delay": 2000}}); err != nil {
		t.Fatal(err)
	}
	c := dial(t, p.Addr())
	msg := bytes.Repeat([]byte("s"), 200)
	start := time.Now()
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 1024)
	reads, total, biggest := 0, 0, 0
	for total < len(msg) {
		n, err := c.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		reads, total, biggest = reads+1, total+n, max(biggest, n)
	}
	if d := time.Since(start); reads < 10 || biggest > 14 || d < 25*time.Millisecond {
		t.Fatalf("slicer 10±4 bytes every 2ms: %d reads, biggest %d, %v; want >= 10 reads of <= 14 bytes over >= 25ms", reads, biggest, d)
	}
}

func TestLimitData(t *testing.T) {
	p := startProxy(t, echoServer(t))
	if err := p.AddToxic(Toxic{Type: "limit_data", Toxicity: 1, Attributes: map[string]any{"bytes": 100}}); err != nil {
		t.Fatal(err)
	}
	c := dial(t, p.Addr())
	_, _ = c.Write(bytes.Repeat([]byte("l"), 300))
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	got, err := io.ReadAll(c)
	if len(got) != 100 || (err != nil && !isReset(err)) {
		t.Fatalf("limit_data 100: read %d bytes then %v, want exactly 100 then close", len(got), err)
	}
}

func TestToxicityAffectsAboutHalf(t *testing.T) {
	p := startProxy(t, echoServer(t))
	if err := p.AddToxic(Toxic{Type: "reset_peer", Stream: Upstream, Toxicity: 0.5}); err != nil {
		t.Fatal(err)
	}
	const n = 200
	var mu sync.Mutex
	reset := 0
	var wg sync.WaitGroup
	sem := make(chan struct{}, 20)
	for range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := net.Dial("tcp", p.Addr())
			if err != nil {
				return
			}
			defer c.Close()
			if _, err := roundTrip(t, c, []byte("x"), 2*time.Second); err != nil {
				mu.Lock()
				reset++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	// Binomial(200, 0.5): sd ≈ 7; ±35 is 5 sd.
	if reset < n/2-35 || reset > n/2+35 {
		t.Fatalf("toxicity 0.5: %d of %d connections reset, want about %d", reset, n, n/2)
	}
}

func TestDown(t *testing.T) {
	p := startProxy(t, echoServer(t))
	c := dial(t, p.Addr())
	if _, err := roundTrip(t, c, []byte("x"), time.Second); err != nil {
		t.Fatal(err)
	}
	addr := p.Addr()
	if err := p.SetEnabled(false); err != nil {
		t.Fatal(err)
	}
	if _, err := roundTrip(t, c, []byte("x"), time.Second); err == nil || isTimeout(err) {
		t.Fatalf("existing connection while down: %v, want it cut", err)
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("dial while down: %v, want connection refused", err)
	}
	if err := p.SetEnabled(true); err != nil {
		t.Fatal(err)
	}
	if p.Addr() != addr {
		t.Fatalf("re-enabled on %s, want the same address %s", p.Addr(), addr)
	}
	if _, err := roundTrip(t, dial(t, addr), []byte("x"), time.Second); err != nil {
		t.Fatalf("after up: %v", err)
	}
}

func TestBadDefinitions(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	p, err := New(Config{Name: "busy", Listen: busy.Addr().String(), Upstream: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err == nil || !strings.Contains(err.Error(), "address already in use") ||
		!strings.Contains(err.Error(), busy.Addr().String()) {
		t.Fatalf("port in use: %v", err)
	}
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Name: "", Upstream: "127.0.0.1:1"}, "proxy name"},
		{Config{Name: "a b", Upstream: "127.0.0.1:1"}, "proxy name"},
		{Config{Name: "x", Upstream: "127.0.0.1"}, "upstream \"127.0.0.1\": must be host:port"},
		{Config{Name: "x", Upstream: "127.0.0.1:99999"}, "invalid port"},
		{Config{Name: "x", Upstream: ":80"}, "missing host"},
		{Config{Name: "x", Listen: "nope", Upstream: "127.0.0.1:1"}, "listen \"nope\""},
	} {
		if _, err := New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want error containing %q", tc.cfg, err, tc.want)
		}
	}
	unk, err := New(Config{Name: "unk", Upstream: "no-such-host.invalid:80"})
	if err != nil {
		t.Fatal(err)
	}
	if err := unk.Start(); err == nil || !strings.Contains(err.Error(), "no-such-host.invalid") {
		t.Fatalf("unknown upstream host: %v", err)
	}

	q := startProxy(t, "127.0.0.1:1")
	for _, tc := range []struct {
		tx   Toxic
		want error
		msg  string
	}{
		{Toxic{Type: "nope"}, ErrInvalidToxicType, "known: bandwidth"},
		{Toxic{Type: "latency", Stream: "sideways"}, ErrInvalidToxicStream, "sideways"},
		{Toxic{Type: "latency", Attributes: map[string]any{"latency": -1}}, ErrInvalidToxic, "latency must be >= 0"},
		{Toxic{Type: "latency", Attributes: map[string]any{"latncy": 1}}, ErrInvalidToxic, `unknown attribute "latncy"`},
		{Toxic{Type: "latency", Attributes: map[string]any{"latency": "1s"}}, ErrInvalidToxic, "must be an integer"},
		{Toxic{Type: "latency", Toxicity: 2}, ErrInvalidToxic, "toxicity must be between 0 and 1"},
		{Toxic{Type: "slicer", Attributes: map[string]any{"average_size": 10, "size_variation": 10}}, ErrInvalidToxic, "size_variation must be less"},
		{Toxic{Type: "http_fault", Attributes: map[string]any{"action": "explode"}}, ErrInvalidToxic, "action must be one of"},
		{Toxic{Type: "http_fault", Attributes: map[string]any{"status": 42}}, ErrInvalidToxic, "status must be between"},
		{Toxic{Type: "http_fault", Stream: Downstream}, ErrInvalidToxic, "stream must be upstream"},
		{Toxic{Type: "http_fault", Attributes: map[string]any{"header": "nocolon"}}, ErrInvalidToxic, "Name: value"},
	} {
		err := q.AddToxic(tc.tx)
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("AddToxic(%+v) = %v, want %v containing %q", tc.tx, err, tc.want, tc.msg)
		}
	}
	if len(q.Toxics()) != 0 {
		t.Fatalf("invalid toxics must not be added: %v", q.Toxics())
	}
	if err := q.AddToxic(Toxic{Name: "dup", Type: "latency"}); err != nil {
		t.Fatal(err)
	}
	if err := q.AddToxic(Toxic{Name: "dup", Type: "timeout"}); !errors.Is(err, ErrToxicExists) {
		t.Fatalf("duplicate name: %v", err)
	}
	if err := q.RemoveToxic("absent"); !errors.Is(err, ErrToxicNotFound) {
		t.Fatalf("remove absent: %v", err)
	}
}
