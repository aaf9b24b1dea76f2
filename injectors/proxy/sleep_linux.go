//go:build linux

package proxy

import (
	"errors"
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// sleeper waits precisely on a timerfd, one per writer (created on first use, closed
// with the writer). Go timers are only as precise as the runtime's epoll_wait
// timeout, which has millisecond granularity: an idle process wakes up to 1 ms late.
// A timerfd is an fd event, so the poller wakes at its expiry (tens of µs late at
// most on a quiet machine) without spinning.
//
// A wait is ONE wake-up, for its whole length, by whichever comes first: the
// timerfd, or the read deadline set at the deadline itself (a Go runtime timer).
// When the process is busy, the runtime looks at its timers more often than it
// polls for fd events, so the deadline then wakes the writer as early as a plain Go
// timer would: never worse than a Go timer, as precise as the timerfd otherwise.
// (An earlier design slept on a Go timer until 2 ms before the deadline and on a
// timerfd for the rest: two wake-ups in quick succession, and under CPU load the
// second one often waited a whole scheduler slice of the competing processes: p99
// error up to 54 ms at load 7-9, worse than a plain Go timer.) A change of the
// toxics or the link's close interrupts the wait (interrupt moves the read deadline
// into the past), so nothing needs a Go timer next to it.
type sleeper struct {
	fd     int
	f      *os.File
	intr   atomic.Bool // interrupt was called since arm
	failed bool        // a read failed otherwise: use Go timers from now on
}

// ready creates the timerfd if needed; false if none can be used.
func (s *sleeper) ready() bool {
	if s.failed {
		return false
	}
	if s.f != nil {
		return true
	}
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return false
	}
	s.fd, s.f = fd, os.NewFile(uintptr(fd), "timerfd")
	return true
}

// arm sets the next wait to end at t: the timerfd early by early (the caller
// busy-waits the rest), the read deadline at t.
func (s *sleeper) arm(t time.Time, early time.Duration) bool {
	s.intr.Store(false)
	if err := s.f.SetReadDeadline(t); err != nil {
		return false
	}
	its := unix.ItimerSpec{Value: unix.NsecToTimespec(max(int64(time.Until(t)-early), 1))}
	return unix.TimerfdSettime(s.fd, 0, &its, nil) == nil
}

// wait blocks until the armed wait ends (true) or interrupt is called (false).
// Any other failure also returns false and retires the timerfd (see ready).
func (s *sleeper) wait() bool {
	var buf [8]byte
	_, err := s.f.Read(buf[:])
	switch {
	case err == nil:
		return true
	case errors.Is(err, os.ErrDeadlineExceeded):
		return !s.intr.Load()
	default:
		s.failed = true
		return false
	}
}

// interrupt ends the current or next wait early. Safe from any goroutine.
func (s *sleeper) interrupt() {
	s.intr.Store(true)
	_ = s.f.SetReadDeadline(time.Unix(1, 0))
}

func (s *sleeper) close() {
	if s.f != nil {
		_ = s.f.Close()
		s.f = nil
	}
}
