package proxy

import (
	"math/rand/v2"
	"sync/atomic"
	"time"
)

// chunk is data read at time at, waiting to be written; eof asks for the close.
type chunk struct {
	data []byte
	at   time.Time
	jit  float64 // in [-1, 1): this chunk's share of the jitter
	eof  bool
}

func jitterRoll() float64 { return rand.Float64()*2 - 1 }

// spinMargin is the last stretch before a deadline spent busy-waiting.
const spinMargin = 10 * time.Microsecond

// The timerfd wait is precise on a quiet machine (10-40 µs late) but, when the CPU
// is contended, worse than a plain Go timer: its wake-up goes through the network
// poller to another thread (two wake-ups, each waiting for a CPU), where a Go timer
// wakes the thread that waits for it (one). Measured next to 4 CPU burners per core
// (BenchmarkLatencyToxicLoaded): timerfd p50 error 1.8-2.6 ms, Go timers 1.0 ms,
// Toxiproxy 1.0 ms. So the waits keep a moving average of how late their timerfd
// woke up (each wake-up weighs 1/4, counted at most 2*busyLate late); when it
// passes busyLate (three late wake-ups in a row) the machine counts as
// busy for busyFor: the waits then use Go timers, and after that the timerfd is
// tried again. A lone late wake-up (a GC pause, one scheduling hiccup) does not
// switch: on a quiet machine the average stays in the tens of µs.
const (
	busyLate = time.Millisecond
	busyFor  = time.Second
)

// busyUntil is when the machine stops counting as busy (ns on the monotonic clock
// from clockStart) and lateAvg the moving average of timerfd lateness (ns); shared
// by every proxy of the process, as the load is.
var (
	busyUntil, lateAvg atomic.Int64
	clockStart         = time.Now()
)

// preciseAllowed reports whether a wait starting at now may use the timerfd.
func preciseAllowed(now time.Time) bool { return int64(now.Sub(clockStart)) >= busyUntil.Load() }

// notePreciseWake records how late a timerfd wait woke up at now.
func notePreciseWake(late time.Duration, now time.Time) {
	for {
		old := lateAvg.Load()
		avg := old + (int64(min(max(late, 0), 2*busyLate))-old)/4
		busy := avg > int64(busyLate)
		if busy {
			avg = 0 // start afresh when the timerfd is tried again
		}
		if lateAvg.CompareAndSwap(old, avg) {
			if busy {
				busyUntil.Store(int64(now.Add(busyFor).Sub(clockStart)))
			}
			return
		}
	}
}

// writer is the slow path's second half: it applies the write-side toxics of the
// current chain (re-read at every wait, so a removed toxic stops delaying at once)
// and writes to dst. It is owned by its pump, which closes q and waits for done.
type writer struct {
	pp       *pump
	q        chan chunk
	done     chan struct{}
	timer    *time.Timer
	last     *chain
	eff      []*toxic
	nextFree time.Time        // bandwidth pacing
	dead     bool             // write failed: discard the rest
	passed   map[uint64]int64 // limit_data: bytes written per toxic
	sl       sleeper
}

func newWriter(pp *pump) *writer {
	w := &writer{pp: pp, q: make(chan chunk, 64), done: make(chan struct{}), timer: time.NewTimer(time.Hour)}
	w.timer.Stop()
	pp.l.p.wg.Add(1)
	go w.run()
	return w
}

func (w *writer) run() {
	defer w.pp.l.p.wg.Done()
	defer close(w.done)
	defer w.timer.Stop()
	defer w.sl.close()
	for c := range w.q {
		if w.dead {
			continue
		}
		if c.eof {
			w.slowClose()
			closeWrite(w.pp.dst)
			continue
		}
		if !w.send(c) {
			w.dead = true
			w.pp.l.close()
		}
	}
}

// current returns the write-side toxics now in force and the channel that is closed
// at the next change (loaded first, so no change is missed).
func (w *writer) current() ([]*toxic, <-chan struct{}) {
	ch := *w.pp.l.p.changed.Load()
	if c := w.pp.l.p.chains[w.pp.dir].Load(); c != w.last || w.last == nil {
		w.last, w.eff = c, c.effective(w.pp.l.id)
	}
	return w.eff, ch
}

// waitUntil sleeps until t. It returns (true, true) when t is reached, (false, true)
// when the toxics changed first (recompute t), and (_, false) when the link closed.
func (w *writer) waitUntil(t time.Time, changed <-chan struct{}) (reached, alive bool) {
	d := time.Until(t)
	if d <= 0 {
		return true, true
	}
	if d > spinMargin && preciseAllowed(time.Now()) && w.sl.ready() && w.sl.arm(t, spinMargin) {
		return w.preciseWait(t, changed)
	}
	if d > spinMargin { // no timerfd, or a busy machine: a Go timer
		w.timer.Reset(d)
		select {
		case <-w.timer.C:
		case <-changed:
			w.timer.Stop()
			return false, true
		case <-w.pp.l.done:
			w.timer.Stop()
			return false, false
		}
	}
	spinUntil(t)
	return true, !w.pp.l.closed()
}

// preciseWait waits on the armed sleeper. Its timerfd wakes some 10-40 µs late on
// a quiet machine: it is armed spinMargin early and the rest is busy-waited without
// yielding (runtime.Gosched would keep the scheduler from polling the network,
// delaying every other connection). The sleeper is registered with the proxy (a
// toxic change interrupts it) and the link (its close does) for the wait.
func (w *writer) preciseWait(t time.Time, changed <-chan struct{}) (reached, alive bool) {
	l, p := w.pp.l, w.pp.l.p
	if !l.setSleeper(w.pp.dir, &w.sl) {
		return false, false
	}
	p.smu.Lock()
	p.sleeping[&w.sl] = struct{}{}
	p.smu.Unlock()
	expired, woke := false, time.Time{}
	select {
	case <-changed: // changed before registration: publishLocked did not see us
	default:
		expired = w.sl.wait()
		woke = time.Now()
	}
	p.smu.Lock()
	delete(p.sleeping, &w.sl)
	p.smu.Unlock()
	l.setSleeper(w.pp.dir, nil)
	if l.closed() {
		return false, false
	}
	if !expired {
		return false, true
	}
	notePreciseWake(woke.Sub(t), woke)
	spinUntil(t)
	return true, true
}

func spinUntil(t time.Time) {
	for time.Now().Before(t) {
	}
}

// send applies latency, slicer, bandwidth and limit_data to c and writes it.
// It returns false when the link must close.
func (w *writer) send(c chunk) bool {
	for { // latency: deadline = arrival + latency ± jitter; never accumulates
		eff, ch := w.current()
		var lat time.Duration
		for _, t := range eff {
			if t.kind == kLatency {
				lat += t.latency + time.Duration(c.jit*float64(t.jitter))
			}
		}
		if lat <= 0 {
			break
		}
		reached, alive := w.waitUntil(c.at.Add(lat), ch)
		if !alive {
			return false
		}
		if reached {
			break
		}
	}
	data := c.data
	for len(data) > 0 {
		eff, ch := w.current()
		var slicer, limit *toxic
		var rate int64
		for _, t := range eff {
			switch t.kind {
			case kSlicer:
				slicer = t
			case kLimit:
				limit = t
			case kBandwidth:
				if t.rate > 0 && (rate == 0 || t.rate < rate) {
					rate = t.rate
				}
			}
		}
		n := len(data)
		if slicer != nil {
			n = min(n, sliceSize(slicer))
		}
		if rate > 0 {
			n = min(n, max(int(rate/10), 1)) // at most 100 ms of data per write
			now := time.Now()
			if w.nextFree.Before(now) {
				w.nextFree = now
			}
			reached, alive := w.waitUntil(w.nextFree, ch)
			if !alive {
				return false
			}
			if !reached {
				continue
			}
			w.nextFree = w.nextFree.Add(time.Duration(int64(n) * int64(time.Second) / rate))
		}
		if limit != nil {
			if w.passed == nil {
				w.passed = map[uint64]int64{}
			}
			n = int(min(int64(n), max(limit.limit-w.passed[limit.id], 0)))
		}
		if n > 0 {
			if _, err := w.pp.dst.Write(data[:n]); err != nil {
				return false
			}
		}
		data = data[n:]
		if limit != nil {
			w.passed[limit.id] += int64(n)
			if w.passed[limit.id] >= limit.limit {
				return false
			}
		}
		if slicer != nil && slicer.delay > 0 && len(data) > 0 {
			if _, alive := w.waitUntil(time.Now().Add(slicer.delay), ch); !alive {
				return false
			}
		}
	}
	return true
}

// slowClose waits for the slow_close delays before the close is passed on.
func (w *writer) slowClose() {
	start := time.Now()
	for {
		eff, ch := w.current()
		var d time.Duration
		for _, t := range eff {
			if t.kind == kSlowClose {
				d = max(d, t.delay)
			}
		}
		reached, alive := w.waitUntil(start.Add(d), ch)
		if reached || !alive {
			return
		}
	}
}

// sliceSize picks one slice length: average ± variation.
func sliceSize(t *toxic) int {
	n := t.avgSize
	if t.sizeVar > 0 {
		n += rand.IntN(2*t.sizeVar+1) - t.sizeVar
	}
	return max(n, 1)
}
