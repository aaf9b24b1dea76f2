// Command chaosmesh builds (once, cached by version) Chaos Mesh's
// chaos-controller-manager for the tests: `go run ./internal/testenv/chaosmesh/cmd/chaosmesh build`
// (`make testenv` runs it).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/faultline-dev/faultline/internal/testenv/chaosmesh"
)

func main() {
	if len(os.Args) != 2 || os.Args[1] != "build" {
		fmt.Fprintln(os.Stderr, "usage: chaosmesh build")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	bin, err := chaosmesh.EnsureController(ctx, func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) })
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(bin)
}
