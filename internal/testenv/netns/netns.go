// Package netns is a test fixture: fresh network namespaces joined by a veth
// pair, removed when the test ends, plus helpers to run code inside them (on a
// locked OS thread that is switched back) and to snapshot a namespace's qdiscs,
// classes, filters, routes, rules and nftables tables for before/after checks.
//
//	ns A (/run/netns/fl-<id>-a)            ns B (/run/netns/fl-<id>-b)
//	  veth-a 10.213.0.1/30  ◀──────────▶  veth-b 10.213.0.2/30
package netns

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// NS is one namespace made for a test.
type NS struct {
	Name string // bind-mounted at Path
	Path string // /run/netns/<Name>
	Link string // the veth end inside this namespace
	IP   net.IP // its address
	Mask int    // its prefix length
}

// Pair is two namespaces joined by veth.
type Pair struct{ A, B *NS }

// RequireRoot skips the test unless it runs with CAP_NET_ADMIN (as root).
func RequireRoot(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: skipping the tests that build network namespaces")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root (CAP_NET_ADMIN)")
	}
}

// NewPair creates namespaces A and B joined by veth-a (10.213.0.1/30) and
// veth-b (10.213.0.2/30), both up with lo up. They are deleted at t.Cleanup.
func NewPair(t testing.TB) *Pair {
	t.Helper()
	RequireRoot(t)
	id := randomID()
	a := &NS{Name: "fl-" + id + "-a", Link: "veth-a", IP: net.IPv4(10, 213, 0, 1).To4(), Mask: 30}
	b := &NS{Name: "fl-" + id + "-b", Link: "veth-b", IP: net.IPv4(10, 213, 0, 2).To4(), Mask: 30}
	for _, n := range []*NS{a, b} {
		if err := create(n); err != nil {
			t.Fatalf("creating namespace: %v", err)
		}
		t.Cleanup(func() { netns.DeleteNamed(n.Name) })
	}
	if err := join(a, b); err != nil {
		t.Fatalf("joining namespaces: %v", err)
	}
	return &Pair{A: a, B: b}
}

// NewNamed creates a namespace called name whose veth peer lives in the caller's
// own (host) namespace: host side hostLink with hostIP, namespace side "veth0"
// with nsIP, both /30. Deleting the namespace (at t.Cleanup) deletes the pair.
// Traffic from the host to nsIP crosses the pair, so faults in the namespace
// are seen by probes running on the host.
func NewNamed(t testing.TB, name, hostLink string, hostIP, nsIP net.IP) (host, inner *NS) {
	t.Helper()
	RequireRoot(t)
	netns.DeleteNamed(name) // a leftover of an earlier killed run
	inner = &NS{Name: name, Link: "veth0", IP: nsIP.To4(), Mask: 30}
	if err := create(inner); err != nil {
		t.Fatalf("creating namespace: %v", err)
	}
	t.Cleanup(func() { netns.DeleteNamed(name) })
	host = &NS{Path: "/proc/self/ns/net", Link: hostLink, IP: hostIP.To4(), Mask: 30}
	if l, err := netlink.LinkByName(hostLink); err == nil {
		netlink.LinkDel(l) // leftover
	}
	if err := join(host, inner); err != nil {
		t.Fatalf("joining host and %s: %v", name, err)
	}
	return host, inner
}

func randomID() string {
	var b [3]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// create makes a named namespace without leaving any thread inside it.
func create(n *NS) error {
	n.Path = "/run/netns/" + n.Name
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer orig.Close()
	h, err := netns.NewNamed(n.Name) // the thread is now inside it
	if err != nil {
		netns.Set(orig)
		runtime.UnlockOSThread()
		return err
	}
	h.Close()
	if err := netns.Set(orig); err != nil {
		return err // thread stays locked and dies with its goroutine
	}
	runtime.UnlockOSThread()
	lh, err := n.Handle()
	if err != nil {
		return err
	}
	defer lh.Close()
	lo, err := lh.LinkByName("lo")
	if err != nil {
		return err
	}
	return lh.LinkSetUp(lo)
}

// join creates the veth pair between a and b, addresses it and brings it up.
func join(a, b *NS) error {
	ha, err := a.Handle()
	if err != nil {
		return err
	}
	defer ha.Close()
	hb, err := b.Handle()
	if err != nil {
		return err
	}
	defer hb.Close()
	fdB, err := netns.GetFromPath(b.Path)
	if err != nil {
		return err
	}
	defer fdB.Close()
	la := netlink.NewLinkAttrs()
	la.Name = a.Link
	if err := ha.LinkAdd(&netlink.Veth{LinkAttrs: la, PeerName: b.Link, PeerNamespace: netlink.NsFd(int(fdB))}); err != nil {
		return fmt.Errorf("adding veth %s/%s: %w", a.Link, b.Link, err)
	}
	for _, side := range []struct {
		h *netlink.Handle
		n *NS
	}{{ha, a}, {hb, b}} {
		l, err := side.h.LinkByName(side.n.Link)
		if err != nil {
			return err
		}
		addr := &netlink.Addr{IPNet: &net.IPNet{IP: side.n.IP, Mask: net.CIDRMask(side.n.Mask, 32)}}
		if err := side.h.AddrAdd(l, addr); err != nil {
			return fmt.Errorf("addressing %s: %w", side.n.Link, err)
		}
		// No IPv6 link-local address: it would appear seconds later (after DAD)
		// and make before/after snapshots differ for reasons of its own.
		if err := side.h.LinkSetIP6AddrGenMode(l, 1 /* IN6_ADDR_GEN_MODE_NONE */); err != nil {
			return fmt.Errorf("addr_gen_mode of %s: %w", side.n.Link, err)
		}
		if err := side.h.LinkSetUp(l); err != nil {
			return err
		}
	}
	// The kernel attaches the default qdisc and marks the link up asynchronously
	// (linkwatch); wait for it, so snapshots taken now stay valid.
	for _, side := range []struct {
		h *netlink.Handle
		n *NS
	}{{ha, a}, {hb, b}} {
		if err := waitReady(side.h, side.n.Link); err != nil {
			return err
		}
	}
	return nil
}

func waitReady(h *netlink.Handle, name string) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		l, err := h.LinkByName(name)
		if err != nil {
			return err
		}
		qs, err := h.QdiscList(l)
		if err != nil {
			return err
		}
		ready := l.Attrs().OperState == netlink.OperUp
		for _, q := range qs {
			if q.Attrs().Parent == netlink.HANDLE_ROOT && q.Type() == "noop" {
				ready = false
			}
		}
		if ready {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not up after 5s (state %s)", name, l.Attrs().OperState)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Handle returns a netlink handle bound to the namespace (caller closes it).
func (n *NS) Handle() (*netlink.Handle, error) {
	fd, err := netns.GetFromPath(n.Path)
	if err != nil {
		return nil, err
	}
	defer fd.Close()
	return netlink.NewHandleAt(fd, unix.NETLINK_ROUTE)
}

// Do runs fn on a locked OS thread inside the namespace and switches back.
// Sockets created by fn stay in the namespace.
func (n *NS) Do(fn func() error) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer orig.Close()
	target, err := netns.GetFromPath(n.Path)
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		runtime.UnlockOSThread()
		return err
	}
	ferr := fn()
	if err := netns.Set(orig); err != nil {
		return fmt.Errorf("switching back from %s: %w", n.Path, err) // thread stays locked
	}
	runtime.UnlockOSThread()
	return ferr
}

// Listen opens a listener inside the namespace.
func (n *NS) Listen(network, addr string) (net.Listener, error) {
	var l net.Listener
	err := n.Do(func() (err error) { l, err = net.Listen(network, addr); return })
	return l, err
}

// ListenPacket opens a packet socket inside the namespace.
func (n *NS) ListenPacket(network, addr string) (net.PacketConn, error) {
	var c net.PacketConn
	err := n.Do(func() (err error) { c, err = net.ListenPacket(network, addr); return })
	return c, err
}

// Dial connects from inside the namespace.
func (n *NS) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := n.Do(func() (err error) { c, err = (&net.Dialer{}).DialContext(ctx, network, addr); return })
	return c, err
}
