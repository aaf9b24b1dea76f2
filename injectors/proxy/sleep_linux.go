//go:build linux

package proxy

import (
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// sleeper sleeps precisely. Go timers are only as precise as the runtime's
// epoll_wait timeout, which has millisecond granularity: an idle process wakes up
// to 1 ms late. A timerfd is an fd event, so the poller wakes at its expiry (tens of
// µs late at most) without spinning. One timerfd per writer, closed with it.
type sleeper struct {
	fd int
	f  *os.File
}

// sleep waits for d; false if no timerfd could be used (then the caller spins).
func (s *sleeper) sleep(d time.Duration) bool {
	if s.f == nil {
		fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
		if err != nil {
			return false
		}
		s.fd, s.f = fd, os.NewFile(uintptr(fd), "timerfd")
	}
	its := unix.ItimerSpec{Value: unix.NsecToTimespec(max(int64(d), 1))}
	if err := unix.TimerfdSettime(s.fd, 0, &its, nil); err != nil {
		return false
	}
	var buf [8]byte
	_, err := s.f.Read(buf[:])
	return err == nil
}

func (s *sleeper) close() {
	if s.f != nil {
		_ = s.f.Close()
		s.f = nil
	}
}
