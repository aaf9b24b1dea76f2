// Package buildcache holds what the test environments share to build a tool once
// from the Go module proxy and cache it by version (the control plane, Chaos Mesh's
// controller): an exclusive build lock that concurrent test processes wait on, the
// search for the build module's directory, and the helpers their error messages use.
package buildcache

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Lock takes an exclusive flock on path, polling so that ctx can cancel the wait.
// what names the build in its messages ("the control plane"); logf (not nil) is told
// once when another process holds the lock. The returned function releases it.
func Lock(ctx context.Context, path, what string, logf func(string, ...any)) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	announced := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		if !announced {
			logf("waiting for another process building %s (lock %s)", what, path)
			announced = true
		}
		t := time.NewTimer(500 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			f.Close()
			return nil, fmt.Errorf("waiting for the %s build lock: %w", what, ctx.Err())
		case <-t.C:
		}
	}
}

// FindDir finds a build directory, the first of: $env when set; build/ next to
// sourceDir (the caller's own source directory, from runtime.Caller); rel (a path
// from the repository root, e.g. internal/testenv/controlplane/build) in the working
// directory or one above it. A directory counts when it holds marker (e.g.
// kube/go.mod). what names it in the error.
func FindDir(env, sourceDir, rel, marker, what string) (string, error) {
	if d := os.Getenv(env); d != "" {
		return d, nil
	}
	ok := func(d string) bool {
		_, err := os.Stat(filepath.Join(d, marker))
		return err == nil
	}
	if sourceDir != "" && filepath.IsAbs(sourceDir) {
		if d := filepath.Join(sourceDir, "build"); ok(d) {
			return d, nil
		}
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	for d := wd; ; d = filepath.Dir(d) {
		if c := filepath.Join(d, rel); ok(c) {
			return c, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("%s not found above %s; set $%s", what, wd, env)
		}
	}
}

// JoinEnv appends add to a comma-separated environment value (GONOSUMDB).
func JoinEnv(old, add string) string {
	if old == "" {
		return add
	}
	return old + "," + add
}

// Tail returns the last n lines of s.
func Tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
