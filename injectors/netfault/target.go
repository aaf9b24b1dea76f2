package netfault

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/faultline-dev/faultline/injectors"
)

const (
	capNetAdmin = 12
	capSysAdmin = 21
	selfNS      = "/proc/self/ns/net"
)

// nsPath turns a target into the path of its namespace file.
func nsPath(t Target) string {
	switch {
	case t.PID > 0:
		return fmt.Sprintf("/proc/%d/ns/net", t.PID)
	case strings.Contains(t.NetNS, "/"):
		return t.NetNS
	case t.NetNS != "":
		return filepath.Join("/run/netns", t.NetNS)
	}
	return selfNS
}

// nsConn is an open network namespace: a netlink handle bound to it (made with
// NewHandleAt, so no thread of ours ever switches) and the namespace's fd for
// nftables connections.
type nsConn struct {
	path  string
	inode uint64
	self  bool // the runner's own namespace
	fd    netns.NsHandle
	h     *netlink.Handle
	conn  *nftables.Conn // lazily opened, one socket for the whole call
}

func nsInode(path string) (uint64, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

// openNS checks privileges and opens the namespace at path; with route, also a
// NETLINK_ROUTE handle in it (c.h, nil otherwise).
func openNS(path string, route bool) (*nsConn, error) {
	ino, err := nsInode(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("network namespace %s does not exist", path)
	}
	if err != nil {
		return nil, fmt.Errorf("network namespace %s: %w", path, err)
	}
	selfIno, err := nsInode(selfNS)
	if err != nil {
		return nil, fmt.Errorf("reading own network namespace: %w", err)
	}
	self := ino == selfIno
	if err := checkCaps(self, path); err != nil {
		return nil, err
	}
	fd, err := netns.GetFromPath(path)
	if err != nil {
		return nil, fmt.Errorf("opening network namespace %s: %w", path, err)
	}
	if !route {
		return &nsConn{path: path, inode: ino, self: self, fd: fd}, nil
	}
	// NETLINK_ROUTE only: by default a Handle also opens a NETLINK_NETFILTER
	// socket, and closing one of those can wait for an RCU grace period (see Close).
	var h *netlink.Handle
	if self {
		h, err = netlink.NewHandle(unix.NETLINK_ROUTE)
	} else {
		h, err = netlink.NewHandleAt(fd, unix.NETLINK_ROUTE)
	}
	if err != nil {
		fd.Close()
		return nil, fmt.Errorf("netlink socket in network namespace %s: %w", path, err)
	}
	return &nsConn{path: path, inode: ino, self: self, fd: fd, h: h}, nil
}

// Close closes the namespace's sockets, synchronously: nothing is left to an
// ownerless goroutine. Releasing a NETLINK_NETFILTER socket right after a
// delete makes the kernel finish nf_tables' pending destroy work first (an RCU
// grace period); that wait is part of the revert that caused it.
func (c *nsConn) Close() {
	if c.conn != nil {
		_ = c.conn.CloseLasting()
		c.conn = nil
	}
	if c.h != nil {
		c.h.Close()
		c.h = nil
	}
	c.fd.Close()
}

// nft returns the nftables connection to the namespace: one lasting netlink
// socket, opened on first use and closed by Close.
func (c *nsConn) nft() (*nftables.Conn, error) {
	if c.conn != nil {
		return c.conn, nil
	}
	opts := []nftables.ConnOption{nftables.AsLasting()}
	if !c.self {
		opts = append(opts, nftables.WithNetNSFd(int(c.fd)))
	}
	conn, err := nftables.New(opts...)
	if err != nil {
		return nil, err
	}
	c.conn = conn
	return conn, nil
}

// checkCaps reads the effective capabilities of this process.
func checkCaps(self bool, path string) error {
	eff, err := effectiveCaps()
	if err != nil {
		return fmt.Errorf("reading capabilities: %w", err)
	}
	if eff&(1<<capNetAdmin) == 0 {
		return fmt.Errorf("network faults need CAP_NET_ADMIN (run as root or grant it)")
	}
	if !self && eff&(1<<capSysAdmin) == 0 {
		return fmt.Errorf("entering network namespace %s needs CAP_SYS_ADMIN", path)
	}
	return nil
}

func effectiveCaps() (uint64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CapEff:"); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	return 0, errors.New("no CapEff line in /proc/self/status")
}

// selectLinks resolves the interface names of a target (default: every
// non-loopback interface of the namespace).
func selectLinks(c *nsConn, names []string) ([]netlink.Link, error) {
	if len(names) == 0 {
		all, err := c.h.LinkList()
		if err != nil {
			return nil, fmt.Errorf("listing interfaces of %s: %w", c.path, err)
		}
		var links []netlink.Link
		for _, l := range all {
			if l.Attrs().Flags&net.FlagLoopback == 0 {
				links = append(links, l)
			}
		}
		if len(links) == 0 {
			return nil, fmt.Errorf("network namespace %s has no interface but lo: %w", c.path, injectors.ErrNoTargets)
		}
		return links, nil
	}
	links := make([]netlink.Link, 0, len(names))
	for _, n := range names {
		l, err := c.h.LinkByName(n)
		if err != nil {
			var nf netlink.LinkNotFoundError
			if errors.As(err, &nf) {
				return nil, fmt.Errorf("interface %q not found in network namespace %s", n, c.path)
			}
			return nil, fmt.Errorf("looking up interface %q in %s: %w", n, c.path, err)
		}
		links = append(links, l)
	}
	return links, nil
}
