package main

import (
	"bytes"
	"context"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the logger and the test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var listening = regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)`)

func TestRun(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	var stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--listen", "127.0.0.1:0", "--payments-url", "http://127.0.0.1:1", "--breaker", "--breaker-timeout", "1s"}, nil, &stderr)
	}()
	var url string
	for deadline := time.Now().Add(5 * time.Second); url == ""; time.Sleep(10 * time.Millisecond) {
		if m := listening.FindStringSubmatch(stderr.String()); m != nil {
			url = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("no listening line after 5s: %q", stderr.String())
		}
	}
	resp, err := http.Get(url + "/checkout")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-Circuit-State") != "closed" {
		t.Errorf("GET /checkout with payments unreachable: %d %q, want the fallback", resp.StatusCode, resp.Header.Get("X-Circuit-State"))
	}
	if !strings.Contains(stderr.String(), "half-open after 1s") {
		t.Errorf("flags not applied: %q", stderr.String())
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("run did not return 5s after cancel")
	}
}

func TestRunBadArgs(t *testing.T) {
	for _, args := range [][]string{{"--nope"}, {"extra"}, {"--payments-url", "ftp://x"}, {"--listen", "256.0.0.1:1"}} {
		var stderr syncBuffer
		if err := run(t.Context(), args, nil, &stderr); err == nil {
			t.Errorf("run %v: no error", args)
		}
	}
}
