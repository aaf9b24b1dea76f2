package netfault

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/injectors"
	fixture "github.com/faultline-dev/faultline/internal/testenv/netns"
)

// memJournal keeps the last recorded state as JSON, like the runner's journal.
type memJournal struct {
	mu    sync.Mutex
	state json.RawMessage
	n     int
}

func (j *memJournal) Record(state any) error {
	b, err := json.Marshal(state)
	if err != nil {
		return err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.state, j.n = b, j.n+1
	return nil
}

// inject plans and injects f, failing the test on error; the revert is
// registered as cleanup too (idempotent).
func inject(t *testing.T, f injectors.Injector) (injectors.Revert, *memJournal) {
	t.Helper()
	ctx := context.Background()
	if _, err := f.Plan(ctx); err != nil {
		t.Fatalf("plan: %v", err)
	}
	j := &memJournal{}
	inj, err := f.Inject(ctx, j)
	if err != nil {
		t.Fatalf("inject: %v", err)
	}
	t.Logf("proof: %s", inj.Proof)
	if j.n == 0 {
		t.Fatal("nothing journaled")
	}
	t.Cleanup(func() { inj.Revert(context.Background()) })
	return inj.Revert, j
}

func revert(t *testing.T, r injectors.Revert) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r(ctx); err != nil {
		t.Fatalf("revert: %v", err)
	}
	if err := r(ctx); err != nil {
		t.Fatalf("second revert (must be idempotent): %v", err)
	}
}

func snapshot(t *testing.T, ns *fixture.NS) string {
	t.Helper()
	s, err := fixture.Snapshot(ns.Path)
	if err != nil {
		t.Fatalf("snapshot of %s: %v", ns.Path, err)
	}
	return s
}

func sameSnapshot(t *testing.T, ns *fixture.NS, before string) {
	t.Helper()
	if after := snapshot(t, ns); after != before {
		t.Fatalf("namespace %s changed:\nbefore:\n%s\nafter:\n%s", ns.Path, before, after)
	}
}

// serveTCP accepts connections in ns and copies everything it reads into counter
// (when not nil); it returns the listening port.
func serveTCP(t *testing.T, ns *fixture.NS, counter func(n int)) int {
	t.Helper()
	l, err := ns.Listen("tcp4", ":0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				buf := make([]byte, 64<<10)
				for {
					n, err := c.Read(buf)
					if counter != nil && n > 0 {
						counter(n)
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return l.Addr().(*net.TCPAddr).Port
}

// canConnect dials from ns to ip:port within timeout.
func canConnect(ns *fixture.NS, ip net.IP, port int, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := ns.Dial(ctx, "tcp4", net.JoinHostPort(ip.String(), strconv.Itoa(port)))
	if err != nil {
		return err
	}
	return c.Close()
}

// throughput sends as fast as it can from ns to ip:port for d and returns the rate
// in bytes/s the receiver saw, leaving out the first quarter (the bucket's burst).
func throughput(t *testing.T, from *fixture.NS, ip net.IP, port int, received func() int64, d time.Duration) float64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	c, err := from.Dial(ctx, "tcp4", net.JoinHostPort(ip.String(), strconv.Itoa(port)))
	if err != nil {
		t.Fatalf("connect for throughput: %v", err)
	}
	defer c.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 32<<10)
		for ctx.Err() == nil {
			c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
			if _, err := c.Write(buf); err != nil && !errors.Is(err, context.DeadlineExceeded) && !isTimeout(err) {
				return
			}
		}
	}()
	timer := time.NewTimer(d / 4)
	<-timer.C
	startBytes, start := received(), time.Now()
	<-ctx.Done()
	rate := float64(received()-startBytes) / time.Since(start).Seconds()
	c.Close()
	<-done
	return rate
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// counter is a goroutine-safe byte counter.
type counter struct {
	mu sync.Mutex
	n  int64
}

func (c *counter) add(n int)  { c.mu.Lock(); c.n += int64(n); c.mu.Unlock() }
func (c *counter) get() int64 { c.mu.Lock(); defer c.mu.Unlock(); return c.n }
