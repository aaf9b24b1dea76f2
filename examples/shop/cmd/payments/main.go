// Command payments runs the example shop's payments service (see package shop).
//
//	payments --listen 127.0.0.1:18082 [--latency 0s]
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
		fmt.Fprintln(os.Stderr, "payments:", err)
		os.Exit(1)
	}
}

// run serves payments until ctx is done.
func run(ctx context.Context, args []string, _, stderr io.Writer) error {
	fs := flag.NewFlagSet("payments", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg shop.PaymentsConfig
	fs.StringVar(&cfg.Addr, "listen", "127.0.0.1:18082", "address to listen on")
	fs.DurationVar(&cfg.Latency, "latency", 0, "delay added to every charge")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg.Logf = log.New(stderr, "", log.LstdFlags|log.Lmicroseconds).Printf
	s, err := shop.StartPayments(ctx, cfg)
	if err != nil {
		return err
	}
	<-ctx.Done()
	return s.Close()
}
