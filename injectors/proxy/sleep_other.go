//go:build !linux

package proxy

import "time"

type sleeper struct{}

func (s *sleeper) sleep(time.Duration) bool { return false }
func (s *sleeper) close()                   {}
