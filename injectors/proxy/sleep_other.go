//go:build !linux

package proxy

import "time"

// sleeper has no precise clock here: writers fall back to Go timers (see
// sleep_linux.go for the Linux timerfd one).
type sleeper struct{}

func (s *sleeper) ready() bool                       { return false }
func (s *sleeper) arm(time.Time, time.Duration) bool { return false }
func (s *sleeper) wait() bool                        { return false }
func (s *sleeper) interrupt()                        {}
func (s *sleeper) close()                            {}
