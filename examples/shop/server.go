// Package shop is a small example system for Faultline: a checkout service that
// charges through a payments service over HTTP, usually through a fault proxy.
//
//	probe ──GET /checkout──▶ checkout ──POST /charge──▶ [fault proxy] ──▶ payments
//	                           │
//	                           ├─ resilient: gobreaker around the call, 150 ms client
//	                           │  timeout, fallback {"status":"accepted","payment":"deferred"},
//	                           │  X-Circuit-State header, GET /breaker, GET /metrics
//	                           └─ fragile: no breaker, 5 s client timeout, errors → 502
//
// The same code runs in-process (StartPayments, StartCheckout, used by the tests)
// and as binaries (cmd/payments, cmd/checkout, used by the demo and the CLI
// experiments in experiments/).
package shop

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// Server is one running shop service. Close stops it and waits for it.
type Server struct {
	// URL is the base URL, e.g. "http://127.0.0.1:18080".
	URL string
	// Addr is the address it listens on, e.g. "127.0.0.1:18080".
	Addr string

	srv       *http.Server
	done      chan struct{} // closed when Serve has returned
	stopWatch func() bool   // stops the ctx watcher
	onClose   func()        // releases what the handler holds (idle client connections)
	closeOnce sync.Once
	closeErr  error
}

// serve listens on addr and serves h until Close is called or ctx is done.
func serve(ctx context.Context, name, addr string, h http.Handler) (*Server, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("starting %s on %s: %w", name, addr, err)
	}
	s := &Server{
		Addr: ln.Addr().String(),
		URL:  "http://" + ln.Addr().String(),
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 5 * time.Second,
		},
		done: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ln) // returns http.ErrServerClosed after Close
	}()
	s.stopWatch = context.AfterFunc(ctx, func() { _ = s.Close() })
	return s, nil
}

// Close stops the server: it stops accepting, gives in-flight requests up to one
// second, then cuts them. It waits for the serving goroutine and is idempotent.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		if s.stopWatch != nil {
			s.stopWatch()
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := s.srv.Shutdown(ctx); err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				err = s.srv.Close()
			}
			s.closeErr = err
		}
		<-s.done
		if s.onClose != nil {
			s.onClose()
		}
	})
	return s.closeErr
}

// logf calls f when it is set.
func logf(f func(string, ...any), format string, args ...any) {
	if f != nil {
		f(format, args...)
	}
}

// sleep waits for d or until ctx is done; it reports whether d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
