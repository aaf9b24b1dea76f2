//go:build unix

package proxy

import (
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"syscall"
)

// errKicked: the chain changed; the pump must look again.
var errKicked = errors.New("chain changed")

func envInt(k string, d int) int {
	if v, err := strconv.Atoi(os.Getenv(k)); err == nil {
		return v
	}
	return d
}

var (
	xBuf     = envInt("FL_BUF", 256<<10)
	xSock    = envInt("FL_SOCK", 0)
	xSkip    = envInt("FL_SKIP", 1)
	xPool    = envInt("FL_POOL", 1)
)

// bufPool holds the fast path's buffers. A pump takes one only once data is
// readable and gives it back after writing, so idle connections hold none.
var bufPool = sync.Pool{New: func() any { b := make([]byte, xBuf); return &b }}

func (pp *pump) fastCopy() error {
	src, ok := pp.src.(syscall.Conn)
	if !ok {
		return pp.genericCopy()
	}
	dst, ok := pp.dst.(syscall.Conn)
	if !ok {
		return pp.genericCopy()
	}
	rc, err := src.SyscallConn()
	if err != nil {
		return err
	}
	wc, err := dst.SyscallConn()
	if err != nil {
		return err
	}
	if xSock > 0 {
		if t, ok := pp.src.(*net.TCPConn); ok {
			_ = t.SetReadBuffer(xSock)
		}
		if t, ok := pp.dst.(*net.TCPConn); ok {
			_ = t.SetWriteBuffer(xSock)
		}
	}
	chains := &pp.l.p.chains[pp.dir]
	var bp *[]byte
	defer func() {
		if bp != nil {
			bufPool.Put(bp)
		}
	}()
	var n int
	var rerr, werr error
	kicked, eof := false, false
	var wbuf []byte
	write := func(fd uintptr) bool {
		for len(wbuf) > 0 {
			m, err := syscall.Write(int(fd), wbuf)
			if err == syscall.EINTR {
				continue
			}
			if err == syscall.EAGAIN {
				return false
			}
			if err != nil {
				werr = &net.OpError{Op: "write", Net: "tcp", Err: err}
				return true
			}
			wbuf = wbuf[m:]
		}
		return true
	}
	err = rc.Read(func(fd uintptr) bool {
		for {
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
				rerr = nil
				if xPool == 1 {
					bufPool.Put(bp) // idle: hold no buffer while waiting
					bp = nil
				}
				return false
			}
			if rerr != nil {
				return true
			}
			if n == 0 {
				eof = true
				return true
			}
			if chains.Load() != pp.last {
				pp.pending = append([]byte(nil), (*bp)[:n]...)
				kicked = true
				return true
			}
			wbuf = (*bp)[:n]
			if err := wc.Write(write); err != nil {
				werr = err
			}
			if werr != nil {
				return true
			}
			if xSkip == 1 && n < len(*bp) {
				if xPool == 1 {
					bufPool.Put(bp)
					bp = nil
				}
				return false
			}
		}
	})
	switch {
	case kicked:
		return errKicked
	case werr != nil:
		return werr
	case err != nil:
		return err
	case rerr != nil:
		return &net.OpError{Op: "read", Net: "tcp", Err: rerr}
	case eof:
		return nil
	}
	return nil
}

// genericCopy is the fallback for connections without a file descriptor.
func (pp *pump) genericCopy() error {
	_, err := io.Copy(pp.dst, pp.src)
	return err
}
var _ = io.EOF
