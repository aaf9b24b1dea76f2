package netns

import (
	"context"
	"net"
	"os"
	"strconv"
	"testing"
	"time"
)

func TestPair(t *testing.T) {
	var paths []string
	t.Run("pair", func(t *testing.T) {
		p := NewPair(t)
		paths = []string{p.A.Path, p.B.Path}
		l, err := p.B.Listen("tcp4", ":0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		go func() {
			if c, err := l.Accept(); err == nil {
				c.Close()
			}
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		c, err := p.A.Dial(ctx, "tcp4", net.JoinHostPort(p.B.IP.String(), strconv.Itoa(l.Addr().(*net.TCPAddr).Port)))
		if err != nil {
			t.Fatalf("A cannot reach B: %v", err)
		}
		c.Close()
		// The listener lives in B, not in the test's own namespace.
		if _, err := net.DialTimeout("tcp4", l.Addr().String(), 200*time.Millisecond); err == nil {
			t.Fatal("B's listener reachable from the host namespace")
		}
		s1, err := Snapshot(p.A.Path)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
		if s2, _ := Snapshot(p.A.Path); s1 != s2 {
			t.Fatalf("snapshot not stable:\n%s\nvs\n%s", s1, s2)
		}
	})
	for _, p := range paths {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s still exists after the test: %v", p, err)
		}
	}
}
