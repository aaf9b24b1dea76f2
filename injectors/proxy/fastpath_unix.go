//go:build unix

package proxy

import (
	"errors"
	"io"
	"net"
	"sync"
	"syscall"
)

// errKicked: the chain changed; the pump must look again.
var errKicked = errors.New("chain changed")

// bufPool holds the fast path's buffers. A pump takes one only once data is
// readable and gives it back after writing, so idle connections hold none.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// fastCopy moves bytes from src to dst until EOF (nil), a chain change (errKicked)
// or an error: one read(2) and one write per chunk, no goroutine hop, no lock.
//
// The chain is compared with the pump's snapshot right before each read (inside the
// RawConn callback: no read at all once it changed) and right after it: bytes read
// across a change go to the new chain (pp.pending), so data sent after AddToxic or
// RemoveToxic returned always meets the new chain.
//
// Measured on loopback (2 cores) and not kept, since none helped beyond noise and
// some hurt: splice(2) through io.Copy with its 1 MiB pipe (about 40% fewer bytes per
// second); 4 MiB SO_RCVBUF/SO_SNDBUF on both legs (same throughput, and it turns off
// receive autotuning); a 1 MiB buffer; writing to dst from inside the read
// callback. Skipping the read that returns EAGAIN after a short read is NOT safe: the
// readiness edge of a FIN that came in with the data can be merged with the data's,
// so the pump would wait for ever (seen as a hang of BenchmarkThroughput).
func (pp *pump) fastCopy() error {
	src, ok := pp.src.(syscall.Conn)
	if !ok {
		return pp.genericCopy()
	}
	rc, err := src.SyscallConn()
	if err != nil {
		return err
	}
	chains := &pp.l.p.chains[pp.dir]
	var bp *[]byte
	defer func() {
		if bp != nil {
			bufPool.Put(bp)
		}
	}()
	for {
		var n int
		var rerr error
		kicked := false
		err := rc.Read(func(fd uintptr) bool {
			if chains.Load() != pp.last {
				kicked = true
				return true
			}
			if bp == nil {
				bp = bufPool.Get().(*[]byte)
			}
			for {
				n, rerr = syscall.Read(int(fd), *bp)
				if rerr != syscall.EINTR {
					break
				}
			}
			if rerr == syscall.EAGAIN {
				bufPool.Put(bp) // idle: hold no buffer while waiting
				bp = nil
				return false
			}
			return true
		})
		switch {
		case kicked:
			return errKicked
		case err != nil:
			return err
		case rerr != nil:
			return &net.OpError{Op: "read", Net: "tcp", Err: rerr}
		case n <= 0:
			return nil // EOF
		}
		if chains.Load() != pp.last {
			// The chain changed between the check and the read: these bytes may
			// have been sent after the change, so the new chain must see them.
			pp.pending = append([]byte(nil), (*bp)[:n]...)
			return errKicked
		}
		if _, err := pp.dst.Write((*bp)[:n]); err != nil {
			return err
		}
		bufPool.Put(bp)
		bp = nil
	}
}

// genericCopy is the fallback for connections without a file descriptor.
func (pp *pump) genericCopy() error {
	_, err := io.Copy(pp.dst, pp.src)
	return err
}
