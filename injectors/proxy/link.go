package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// errEOF means the stream ended cleanly (and dst was half-closed).
var errEOF = errors.New("eof")

// link is one client connection and its upstream connection.
type link struct {
	p      *Proxy
	id     uint64
	client net.Conn
	up     net.Conn
	done   chan struct{} // closed by close()
	once   sync.Once

	tmu      sync.Mutex
	timers   []*time.Timer
	sleepers [2]*sleeper // per direction: the writer's, while it waits (under tmu)
}

// serve dials the upstream, runs both pumps and closes everything when they end.
func (l *link) serve(ctx context.Context) {
	defer l.p.wg.Done()
	d := net.Dialer{Timeout: 10 * time.Second, Control: l.p.control} // control: the upstream allow-list
	up, err := d.DialContext(ctx, "tcp", l.p.cfg.Upstream)
	if err != nil {
		_ = l.client.Close()
		return
	}
	l.up = up
	if !l.p.addLink(ctx, l) {
		l.close()
		return
	}
	// Both pumps run in new goroutines and this one ends: dialing grew its stack,
	// which a pump would otherwise keep (and the GC only halve) for the life of the
	// connection. Fresh goroutines start small (BenchmarkConns: memory per connection).
	downDone := make(chan struct{})
	l.p.wg.Add(2)
	go func() {
		defer l.p.wg.Done()
		defer close(downDone)
		l.runPump(dirDown, up, l.client)
	}()
	go func() {
		defer l.p.wg.Done()
		defer l.p.removeLink(l)
		l.runPump(dirUp, l.client, up)
		<-downDone
		l.close()
	}()
}

func (l *link) runPump(dir int, src, dst net.Conn) {
	pp := &pump{l: l, dir: dir, src: src, dst: dst}
	if err := pp.run(); err != errEOF {
		l.close()
	}
}

func (l *link) close() {
	l.once.Do(func() {
		close(l.done)
		_ = l.client.Close()
		if l.up != nil {
			_ = l.up.Close()
		}
		l.tmu.Lock()
		for _, t := range l.timers {
			t.Stop()
		}
		for _, s := range l.sleepers {
			if s != nil {
				s.interrupt()
			}
		}
		l.tmu.Unlock()
	})
}

// setSleeper records (or, with nil, forgets) the sleeper direction dir waits on, so
// that close interrupts it; false (nothing recorded) if the link is closed.
func (l *link) setSleeper(dir int, s *sleeper) bool {
	l.tmu.Lock()
	defer l.tmu.Unlock()
	if s != nil && l.closed() {
		return false
	}
	l.sleepers[dir] = s
	return true
}

// reset closes both connections with RST (SO_LINGER 0).
func (l *link) reset() {
	for _, c := range []net.Conn{l.client, l.up} {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
	}
	l.close()
}

func (l *link) closed() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}

// after runs f after d unless the link closed first.
func (l *link) after(d time.Duration, f func()) {
	l.tmu.Lock()
	defer l.tmu.Unlock()
	if l.closed() {
		return
	}
	l.timers = append(l.timers, time.AfterFunc(d, func() {
		if !l.closed() {
			f()
		}
	}))
}

// active reports whether toxic id currently applies to this link in direction dir.
func (l *link) active(dir int, id uint64) bool {
	c := l.p.chains[dir].Load()
	if c == nil {
		return false
	}
	for _, t := range c.toxics {
		if t.id == id {
			return t.affects(l.id)
		}
	}
	return false
}

func isDeadline(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
		return
	}
	_ = c.Close()
}

// tstate is per-connection state of one toxic.
type tstate struct {
	scheduled bool // timeout / reset_peer timer set
}

// pump moves the bytes of one direction.
//
//	fast path (no toxic applies):  src ──read/write loop (fastCopy)──▶ dst
//	slow path:  src ──reader (timeout, reset_peer, http_fault)──▶ queue ──writer
//	            (latency, slicer, bandwidth, limit_data, slow_close)──▶ dst
//
// The pump compares its chain snapshot with the current chain around every read
// (see fastCopy and the re-check after Read below), so the bytes it reads after a
// change go through the new chain.
type pump struct {
	l        *link
	dir      int
	src, dst net.Conn
	state    map[uint64]*tstate
	w        *writer
	http     *httpParser
	last     *chain
	eff      []*toxic
	pending  []byte // read by fastCopy across a chain change, not yet handled
}

func (pp *pump) st(t *toxic) *tstate {
	if pp.state == nil {
		pp.state = map[uint64]*tstate{}
	}
	s := pp.state[t.id]
	if s == nil {
		s = &tstate{}
		pp.state[t.id] = s
	}
	return s
}

// run returns errEOF after a clean end of stream, another error otherwise.
func (pp *pump) run() error {
	var buf []byte
	for {
		if c := pp.l.p.chains[pp.dir].Load(); c != pp.last || pp.last == nil {
			pp.last, pp.eff = c, c.effective(pp.l.id)
			pp.activate()
		}
		if pp.pending != nil { // read by the fast path across a chain change
			data := pp.pending
			pp.pending = nil
			if err := pp.handle(data, time.Now()); err != nil {
				pp.stopWriter()
				return err
			}
			continue
		}
		if len(pp.eff) == 0 && pp.w == nil && !pp.http.busy() {
			err := pp.fastCopy()
			switch {
			case err == nil:
				closeWrite(pp.dst)
				return errEOF
			case err == errKicked:
				continue
			case isDeadline(err):
				_ = pp.src.SetReadDeadline(time.Time{})
				continue
			default:
				return err
			}
		}
		if len(pp.eff) == 0 && !pp.http.busy() {
			pp.stopWriter()
			continue
		}
		if buf == nil {
			buf = make([]byte, 32<<10)
		}
		n, err := pp.src.Read(buf)
		if n > 0 {
			// The chain may have changed while Read waited: these bytes meet the new one.
			if c := pp.l.p.chains[pp.dir].Load(); c != pp.last {
				pp.last, pp.eff = c, c.effective(pp.l.id)
				pp.activate()
			}
			if herr := pp.handle(buf[:n], time.Now()); herr != nil {
				pp.stopWriter()
				return herr
			}
		}
		switch {
		case err == nil:
		case isDeadline(err):
			_ = pp.src.SetReadDeadline(time.Time{})
		case err == io.EOF:
			for _, t := range pp.eff {
				if t.kind == kTimeout || t.kind == kReset {
					pp.stopWriter()
					return err // a blackholed or resetting link closes on EOF
				}
			}
			pp.http.flush(pp)
			if pp.w == nil {
				pp.w = newWriter(pp)
			}
			pp.w.q <- chunk{eof: true}
			pp.stopWriter()
			return errEOF
		default:
			pp.stopWriter()
			return err
		}
	}
}

// activate schedules the timers of newly applying timeout / reset_peer toxics.
func (pp *pump) activate() {
	for _, t := range pp.eff {
		if t.kind == kTimeout && t.timeout > 0 {
			if s := pp.st(t); !s.scheduled {
				s.scheduled = true
				dir, id, l := pp.dir, t.id, pp.l
				l.after(t.timeout, func() {
					if l.active(dir, id) {
						l.close()
					}
				})
			}
		}
	}
}

// handle applies the reader-side toxics to data read at time at.
func (pp *pump) handle(data []byte, at time.Time) error {
	var rules []*toxic
	for _, t := range pp.eff {
		switch t.kind {
		case kTimeout:
			return nil // blackhole: drop
		case kReset:
			if t.timeout == 0 {
				pp.l.reset()
				return io.ErrClosedPipe
			}
			if s := pp.st(t); !s.scheduled {
				s.scheduled = true
				dir, id, l := pp.dir, t.id, pp.l
				l.after(t.timeout, func() {
					if l.active(dir, id) {
						l.reset()
					}
				})
			}
			return nil // data after the trigger is dropped until the reset
		case kHTTP:
			rules = append(rules, t)
		}
	}
	if len(rules) > 0 || pp.http.busy() {
		if pp.http == nil {
			pp.http = &httpParser{}
		}
		return pp.http.feed(pp, data, at, rules)
	}
	pp.forward(data, at)
	return nil
}

// forward queues a copy of data for the writer.
func (pp *pump) forward(data []byte, at time.Time) {
	if len(data) == 0 {
		return
	}
	if pp.w == nil { // started lazily: an idle connection under a toxic costs nothing
		pp.w = newWriter(pp)
	}
	c := chunk{data: append([]byte(nil), data...), at: at, jit: jitterRoll()}
	select {
	case pp.w.q <- c:
	case <-pp.l.done:
	}
}

func (pp *pump) stopWriter() {
	if pp.w == nil {
		return
	}
	close(pp.w.q)
	<-pp.w.done
	pp.w = nil
}
