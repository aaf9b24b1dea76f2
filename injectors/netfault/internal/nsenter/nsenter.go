// Package nsenter runs a function inside a network namespace on a locked OS thread
// and switches the thread back afterwards. Nothing else in the process changes
// namespace: other goroutines never run on the switched thread.
package nsenter

import (
	"fmt"
	"runtime"

	"github.com/vishvananda/netns"
)

// Do runs fn with the calling goroutine's thread inside the network namespace at
// path. Sockets fn creates stay in that namespace after Do returns. If the thread
// cannot be switched back it stays locked, so the runtime discards it when the
// goroutine exits instead of reusing it in the wrong namespace.
func Do(path string, fn func() error) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("reading current network namespace: %w", err)
	}
	defer orig.Close()
	target, err := netns.GetFromPath(path)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("opening network namespace %s: %w", path, err)
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("entering network namespace %s: %w", path, err)
	}
	ferr := fn()
	if err := netns.Set(orig); err != nil {
		return fmt.Errorf("leaving network namespace %s: %w", path, err)
	}
	runtime.UnlockOSThread()
	return ferr
}

// Throwaway runs fn inside a new, empty network namespace that is destroyed when
// Throwaway returns (nothing keeps a reference to it). Used to probe kernel
// features without touching any real namespace.
func Throwaway(fn func() error) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("reading current network namespace: %w", err)
	}
	defer orig.Close()
	ns, err := netns.New() // unshare(CLONE_NEWNET): this thread is now inside it
	if err != nil {
		// netns.New switches only on success; make sure we are home anyway.
		if serr := netns.Set(orig); serr == nil {
			runtime.UnlockOSThread()
		}
		return fmt.Errorf("creating a throwaway network namespace: %w", err)
	}
	ferr := fn()
	if err := netns.Set(orig); err != nil {
		ns.Close()
		return fmt.Errorf("leaving throwaway network namespace: %w", err)
	}
	ns.Close()
	runtime.UnlockOSThread()
	return ferr
}
