// Command checkout runs the example shop's checkout service (see package shop).
//
//	checkout --listen 127.0.0.1:18080 --payments-url http://127.0.0.1:18081 \
//	         [--breaker] [--timeout 150ms] [--breaker-timeout 2s] [--trip-after 3]
//
// With --breaker it is the resilient build (circuit breaker + fallback); without,
// the fragile one.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/faultline-dev/faultline/examples/shop"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "checkout:", err)
		os.Exit(1)
	}
}

// run serves checkout until ctx is done.
func run(ctx context.Context, args []string, _, stderr io.Writer) error {
	fs := flag.NewFlagSet("checkout", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg shop.CheckoutConfig
	fs.StringVar(&cfg.Addr, "listen", "127.0.0.1:18080", "address to listen on")
	fs.StringVar(&cfg.PaymentsURL, "payments-url", "http://127.0.0.1:18081", "base URL of payments (usually the fault proxy)")
	fs.BoolVar(&cfg.Breaker, "breaker", false, "resilient build: circuit breaker and fallback")
	fs.DurationVar(&cfg.Timeout, "timeout", 0, "payments call timeout (default 150ms with --breaker, 5s without)")
	fs.DurationVar(&cfg.BreakerTimeout, "breaker-timeout", shop.DefaultBreakerTimeout, "how long the breaker stays open before a half-open probe")
	fs.IntVar(&cfg.TripAfter, "trip-after", shop.DefaultTripAfter, "consecutive failures that open the breaker")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	cfg.Logf = log.New(stderr, "", log.LstdFlags|log.Lmicroseconds).Printf
	s, err := shop.StartCheckout(ctx, cfg)
	if err != nil {
		return err
	}
	<-ctx.Done()
	return s.Close()
}
