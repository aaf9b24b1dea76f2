package proxy

import (
	"io"
	"testing"
	"time"
)

// TestLongLatencyWaitInterrupted: data held by a 30 s latency toxic (one timerfd
// wait for the whole 30 s) is released as soon as the toxic is removed, shortened
// when it is updated, and a Close with data still held returns at once.
func TestLongLatencyWaitInterrupted(t *testing.T) {
	held := func(t *testing.T) (*Proxy, chan time.Duration) {
		p := startProxy(t, echoServer(t))
		c := dial(t, p.Addr())
		if _, err := roundTrip(t, c, []byte("warm"), time.Second); err != nil {
			t.Fatal(err)
		}
		if err := p.AddToxic(Toxic{Name: "lat", Type: "latency", Toxicity: 1, Attributes: map[string]any{"latency": 30000}}); err != nil {
			t.Fatal(err)
		}
		got := make(chan time.Duration, 1)
		go func() {
			start := time.Now()
			_ = c.SetDeadline(start.Add(20 * time.Second))
			buf := make([]byte, 4)
			if _, err := c.Write([]byte("ping")); err != nil {
				got <- -1
				return
			}
			if _, err := io.ReadFull(c, buf); err != nil {
				got <- -1
				return
			}
			got <- time.Since(start)
		}()
		time.Sleep(200 * time.Millisecond) // the reply is now held by the writer
		return p, got
	}
	t.Run("remove", func(t *testing.T) {
		p, got := held(t)
		if err := p.RemoveToxic("lat"); err != nil {
			t.Fatal(err)
		}
		if d := <-got; d < 0 || d > 10*time.Second {
			t.Fatalf("after removing the 30 s latency the reply took %v (-1: failed), want it released at the removal", d)
		}
	})
	t.Run("update", func(t *testing.T) {
		p, got := held(t)
		if _, err := p.UpdateToxic("lat", nil, map[string]any{"latency": 500}); err != nil {
			t.Fatal(err)
		}
		if d := <-got; d < 500*time.Millisecond || d > 10*time.Second {
			t.Fatalf("after updating the latency to 500 ms the reply took %v (-1: failed), want 500 ms after it was read", d)
		}
	})
	t.Run("close", func(t *testing.T) {
		p, got := held(t)
		start := time.Now()
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("Close with data held by a 30 s latency took %v", d)
		}
		if d := <-got; d != -1 {
			t.Fatalf("the held reply arrived after Close (%v)", d)
		}
	})
}

// TestBusyMachineUsesGoTimers: timerfd wake-ups late by more than busyLate on
// average (three in a row) mark the machine busy for busyFor (waits use Go timers); on-time ones and
// a lone late one do not; the first wait after busyFor may use the timerfd again.
func TestBusyMachineUsesGoTimers(t *testing.T) {
	reset := func() { busyUntil.Store(0); lateAvg.Store(0) } // other tests may have left it busy
	reset()
	defer reset()
	now := time.Now()
	if !preciseAllowed(now) {
		t.Fatal("a fresh process counts as busy")
	}
	for range 100 {
		notePreciseWake(40*time.Microsecond, now)
	}
	notePreciseWake(30*time.Millisecond, now) // a GC pause
	if !preciseAllowed(now) {
		t.Fatal("on-time wake-ups and one late one marked the machine busy")
	}
	for range 10 {
		notePreciseWake(40*time.Microsecond, now)
	}
	for range 2 {
		notePreciseWake(3*time.Millisecond, now)
	}
	if !preciseAllowed(now) {
		t.Fatal("two late wake-ups marked the machine busy")
	}
	notePreciseWake(3*time.Millisecond, now)
	if preciseAllowed(now.Add(busyFor - time.Millisecond)) {
		t.Fatalf("three wake-ups 3ms late in a row did not mark the machine busy for %v", busyFor)
	}
	if !preciseAllowed(now.Add(busyFor)) {
		t.Fatalf("still busy %v after", busyFor)
	}
	if got := lateAvg.Load(); got != 0 {
		t.Errorf("the average was not started afresh: %v", time.Duration(got))
	}
}
