// Command chaos runs Faultline experiments: it validates them, injects their faults,
// watches their steady-state probes, always takes the faults back out, and writes a
// report that says, with numbers, whether the system held.
//
// Exit codes of `chaos run`: 0 passed, 1 failed, 2 invalid input or usage (nothing was
// touched), 3 aborted, errored or not steady (every fault was reverted).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
)

func main() {
	err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr)
	os.Exit(exitCode(err, os.Stderr))
}

// exitError carries an exit code; its message (if any) was already printed.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// exitCode maps run's error to the process exit code, printing unprinted errors.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintln(stderr, "chaos:", ee.msg)
		}
		return ee.code
	}
	fmt.Fprintln(stderr, "chaos:", err)
	return 2 // cobra usage errors and the like
}
