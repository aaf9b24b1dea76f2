package netfault

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	fixture "github.com/faultline-dev/faultline/internal/testenv/netns"
)

const mbit8 = 1_000_000 // 8 Mbit/s in bytes/s

func within(got, want, tol float64) bool { return got >= want*(1-tol) && got <= want*(1+tol) }

// TestBandwidth measures real TCP throughput from A to B through a tbf of
// 8 Mbit/s on A's veth: within 20%; and unlimited again after revert.
func TestBandwidth(t *testing.T) {
	p := fixture.NewPair(t)
	var got counter
	port := serveTCP(t, p.B, got.add)
	free := throughput(t, p.A, p.B.IP, port, got.get, 400*time.Millisecond)
	if free < 10*mbit8 {
		t.Fatalf("link too slow to test: %.0f B/s before the fault", free)
	}
	before := snapshot(t, p.A)
	r, j := inject(t, newFault(t, "networkBandwidth", &BandwidthSpec{Target: Target{NetNS: p.A.Name}, Rate: "8mbit"}, "bw"))
	if !strings.Contains(string(j.state), `"kind":"tbf"`) || !strings.Contains(string(j.state), `"before":"noqueue 0:"`) {
		t.Fatalf("journal state %s", j.state)
	}
	limited := throughput(t, p.A, p.B.IP, port, got.get, 2*time.Second)
	t.Logf("throughput: %.0f B/s free, %.0f B/s limited to %d B/s", free, limited, mbit8)
	if !within(limited, mbit8, 0.20) {
		t.Errorf("limited throughput %.0f B/s not within 20%% of %d B/s", limited, mbit8)
	}
	revert(t, r)
	sameSnapshot(t, p.A, before)
	after := throughput(t, p.A, p.B.IP, port, got.get, 400*time.Millisecond)
	if after < 10*mbit8 {
		t.Errorf("throughput after revert %.0f B/s: still limited", after)
	}
}

// TestBandwidthDestinations: with destinations, only traffic to the listed port
// is shaped (htb + u32 → tbf); another port runs at full speed.
func TestBandwidthDestinations(t *testing.T) {
	p := fixture.NewPair(t)
	var slow, fast counter
	slowPort := serveTCP(t, p.B, slow.add)
	fastPort := serveTCP(t, p.B, fast.add)
	before := snapshot(t, p.A)
	spec := &BandwidthSpec{Target: Target{NetNS: p.A.Name, Destinations: &Destinations{CIDRs: []string{p.B.IP.String()}, Ports: []int{slowPort}}}, Rate: "8mbit"}
	r, _ := inject(t, newFault(t, "networkBandwidth", spec, "bw-dst"))
	limited := throughput(t, p.A, p.B.IP, slowPort, slow.get, 2*time.Second)
	other := throughput(t, p.A, p.B.IP, fastPort, fast.get, 400*time.Millisecond)
	t.Logf("to port %d: %.0f B/s; to port %d: %.0f B/s", slowPort, limited, fastPort, other)
	if !within(limited, mbit8, 0.20) {
		t.Errorf("shaped throughput %.0f B/s not within 20%% of %d B/s", limited, mbit8)
	}
	if other < 10*mbit8 {
		t.Errorf("unselected traffic shaped too: %.0f B/s", other)
	}
	revert(t, r)
	sameSnapshot(t, p.A, before)
}

// TestPreexistingSurvives: routes, an ingress qdisc, a user's nftables table and
// a qdisc on another interface are untouched by a partition and a bandwidth
// fault; a root qdisc someone configured makes Plan and Inject refuse.
func TestPreexistingSurvives(t *testing.T) {
	p := fixture.NewPair(t)
	h, err := p.A.Handle()
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	link, err := h.LinkByName(p.A.Link)
	if err != nil {
		t.Fatal(err)
	}
	routes := []*netlink.Route{
		{Dst: mustNet("10.99.0.0/24"), Gw: p.B.IP, LinkIndex: link.Attrs().Index},
		{Dst: mustNet("10.98.0.0/24"), Type: unix.RTN_BLACKHOLE},
		{Dst: mustNet("10.97.0.0/24"), Gw: p.B.IP, LinkIndex: link.Attrs().Index, Table: 100},
	}
	for _, r := range routes {
		if err := h.RouteAdd(r); err != nil {
			t.Fatalf("route %v: %v", r.Dst, err)
		}
	}
	if err := h.RuleAdd(&netlink.Rule{Table: 100, Priority: 100, Family: unix.AF_INET, Mark: 7, Mask: ptr(uint32(0xff)), Goto: -1, Flow: -1, SuppressIfgroup: -1, SuppressPrefixlen: -1}); err != nil {
		t.Fatalf("rule: %v", err)
	}
	if err := h.QdiscAdd(&netlink.Ingress{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: link.Attrs().Index, Parent: netlink.HANDLE_INGRESS, Handle: netlink.MakeHandle(0xffff, 0)}}); err != nil {
		t.Fatalf("ingress qdisc: %v", err)
	}
	la := netlink.NewLinkAttrs()
	la.Name = "other0"
	if err := h.LinkAdd(&netlink.Veth{LinkAttrs: la, PeerName: "other1"}); err != nil {
		t.Fatal(err)
	}
	other, _ := h.LinkByName("other0")
	if err := h.QdiscAdd(tbfQdisc(&BandwidthSpec{Rate: "1mbit"}, netlink.QdiscAttrs{LinkIndex: other.Attrs().Index, Parent: netlink.HANDLE_ROOT, Handle: netlink.MakeHandle(1, 0)})); err != nil {
		t.Fatalf("user tbf: %v", err)
	}
	userTable(t, p.A)
	before := snapshot(t, p.A)
	t.Logf("before:\n%s", before)

	// other0 has a user's root qdisc: a fault on every interface must refuse.
	all := newFault(t, "networkBandwidth", &BandwidthSpec{Target: Target{NetNS: p.A.Name}, Rate: "8mbit"}, "pre")
	if _, err := all.Plan(context.Background()); err == nil || !strings.Contains(err.Error(), "interface other0 has a root qdisc tbf 1: that Faultline did not create; refusing") {
		t.Fatalf("plan over a user's root qdisc: %v", err)
	}
	j := &memJournal{}
	if _, err := all.Inject(context.Background(), j); err == nil || j.n != 0 {
		t.Fatalf("inject over a user's root qdisc: err %v, journaled %d", err, j.n)
	}
	sameSnapshot(t, p.A, before)

	bw := newFault(t, "networkBandwidth", &BandwidthSpec{Target: Target{NetNS: p.A.Name, Interfaces: []string{p.A.Link}}, Rate: "8mbit"}, "pre")
	rb, _ := inject(t, bw)
	again := newFault(t, "networkLatency", &LatencySpec{Target: Target{NetNS: p.A.Name, Interfaces: []string{p.A.Link}}, Delay: time.Millisecond}, "pre2")
	if _, err := again.Plan(context.Background()); err == nil {
		t.Fatal("a second qdisc fault on the same interface was planned")
	}
	part := newFault(t, "networkPartition", &PartitionSpec{Target: Target{NetNS: p.A.Name}, CIDRs: []string{"10.99.0.0/24", "10.213.0.2"}}, "pre")
	rp, _ := inject(t, part)
	revert(t, rp)
	revert(t, rb)
	sameSnapshot(t, p.A, before)
}

func ptr[T any](v T) *T { return &v }

func mustNet(s string) *net.IPNet {
	_, n, err := net.ParseCIDR(s)
	if err != nil {
		panic(err)
	}
	return n
}

// userTable adds an nftables table that is not ours to ns.
func userTable(t *testing.T, ns *fixture.NS) {
	t.Helper()
	err := ns.Do(func() error {
		c, err := nftables.New()
		if err != nil {
			return err
		}
		tb := c.AddTable(&nftables.Table{Name: "user_filter", Family: nftables.TableFamilyINet})
		c.AddChain(&nftables.Chain{Name: "in", Table: tb, Type: nftables.ChainTypeFilter, Hooknum: nftables.ChainHookInput, Priority: nftables.ChainPriorityFilter})
		return c.Flush()
	})
	if err != nil {
		t.Fatalf("user nftables table: %v", err)
	}
}

// TestBadTargets: a missing namespace or interface fails at plan, a bad CIDR at
// validation; nothing is journaled or changed.
func TestBadTargets(t *testing.T) {
	p := fixture.NewPair(t)
	before := snapshot(t, p.A)
	cases := []struct {
		name string
		key  string
		spec any
		want string
	}{
		{"missing namespace", "networkBandwidth", &BandwidthSpec{Target: Target{NetNS: "fl-no-such-ns"}, Rate: "1mbit"}, "network namespace /run/netns/fl-no-such-ns does not exist"},
		{"missing pid", "networkPartition", &PartitionSpec{Target: Target{PID: 1 << 30}, CIDRs: []string{"10.0.0.1"}}, "network namespace /proc/1073741824/ns/net does not exist"},
		{"missing interface", "networkBandwidth", &BandwidthSpec{Target: Target{NetNS: p.A.Name, Interfaces: []string{"eth9"}}, Rate: "1mbit"}, `interface "eth9" not found in network namespace ` + p.A.Path},
		{"missing interface partition", "networkPartition", &PartitionSpec{Target: Target{NetNS: p.A.Name, Interfaces: []string{"eth9"}}, CIDRs: []string{"10.0.0.1"}}, `interface "eth9" not found`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFault(t, c.key, c.spec, "bad")
			if _, err := f.Plan(context.Background()); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("plan: %v, want %q", err, c.want)
			}
			j := &memJournal{}
			if _, err := f.Inject(context.Background(), j); err == nil || !strings.Contains(err.Error(), c.want) || j.n != 0 {
				t.Fatalf("inject: %v (journaled %d), want %q", err, j.n, c.want)
			}
		})
	}
	t.Run("bad cidr", func(t *testing.T) {
		errs := (&PartitionSpec{Target: Target{NetNS: p.A.Name}, CIDRs: []string{"10.213.0.300/32"}}).Validate(nil)
		if len(errs) != 1 || !strings.Contains(errs[0].Error(), `cidrs[0]: Invalid value: "10.213.0.300/32": must be a CIDR`) {
			t.Fatalf("errors %v", errs)
		}
	})
	sameSnapshot(t, p.A, before)
}

// TestNetemLatency measures the delay with real TCP round trips. It needs
// sch_netem, which this project's CI kernel lacks: it skips there.
func TestNetemLatency(t *testing.T) {
	fixture.RequireRoot(t)
	if err := ProbeQdisc("netem"); errors.Is(err, ErrUnsupported) {
		t.Skip(err.Error())
	} else if err != nil {
		t.Fatal(err)
	}
	p := fixture.NewPair(t)
	l, err := p.B.Listen("tcp4", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() { // echo server
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 1)
				for {
					if _, err := c.Read(buf); err != nil {
						return
					}
					c.Write(buf)
				}
			}()
		}
	}()
	c, err := p.A.Dial(context.Background(), "tcp4", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rtt := func() time.Duration {
		best := time.Hour
		for range 5 {
			start := time.Now()
			c.Write([]byte{1})
			buf := make([]byte, 1)
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.Read(buf); err != nil {
				t.Fatal(err)
			}
			best = min(best, time.Since(start))
		}
		return best
	}
	base := rtt()
	before := snapshot(t, p.A)
	r, _ := inject(t, newFault(t, "networkLatency", &LatencySpec{Target: Target{NetNS: p.A.Name}, Delay: 50 * time.Millisecond}, "lat"))
	delayed := rtt()
	t.Logf("rtt %s before, %s with 50ms netem delay", base, delayed)
	if delayed < 50*time.Millisecond || delayed > 50*time.Millisecond+base+30*time.Millisecond {
		t.Errorf("round trip %s with a 50ms delay", delayed)
	}
	revert(t, r)
	sameSnapshot(t, p.A, before)
	if after := rtt(); after > base+20*time.Millisecond {
		t.Errorf("round trip %s after revert (was %s)", after, base)
	}
}

// TestNetemUnsupported: on a kernel without sch_netem, a netem fault fails at
// plan with the precise reason and changes nothing.
func TestNetemUnsupported(t *testing.T) {
	fixture.RequireRoot(t)
	if ProbeQdisc("netem") == nil {
		t.Skip("kernel has sch_netem")
	}
	p := fixture.NewPair(t)
	before := snapshot(t, p.A)
	f := newFault(t, "networkLoss", &LossSpec{Target: Target{NetNS: p.A.Name}, Percent: 10}, "nonetem")
	_, err := f.Plan(context.Background())
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "kernel lacks sch_netem (CONFIG_NET_SCH_NETEM)") {
		t.Fatalf("plan: %v", err)
	}
	j := &memJournal{}
	if _, err := f.Inject(context.Background(), j); !errors.Is(err, ErrUnsupported) || j.n != 0 {
		t.Fatalf("inject: %v, journaled %d", err, j.n)
	}
	sameSnapshot(t, p.A, before)
}

// TestSecondQdiscFaultLeavesTheFirstAlone: two qdisc faults of one run on the same
// interface share a handle. The second cannot be added, and its failure must not
// delete the first one's qdisc (it undoes only what it created itself).
func TestSecondQdiscFaultLeavesTheFirstAlone(t *testing.T) {
	p := fixture.NewPair(t)
	before := snapshot(t, p.A)
	r, _ := inject(t, newFault(t, "networkBandwidth", &BandwidthSpec{Target: Target{NetNS: p.A.Name}, Rate: "8mbit"}, "same-run"))
	during := snapshot(t, p.A)
	second := newFault(t, "networkBandwidth", &BandwidthSpec{Target: Target{NetNS: p.A.Name}, Rate: "1mbit"}, "same-run")
	if _, err := second.Inject(context.Background(), &memJournal{}); err == nil {
		t.Fatal("a second root qdisc on the same interface was accepted")
	}
	if got := snapshot(t, p.A); got != during {
		t.Fatalf("the failed second fault changed the first one's qdisc:\nduring:\n%s\nnow:\n%s", during, got)
	}
	// When both pass preflight at once, the loser's apply finds the root taken: it
	// must say it created nothing, so that its undo deletes nothing.
	h, err := p.A.Handle()
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	link, err := h.LinkByName(p.A.Link)
	if err != nil {
		t.Fatal(err)
	}
	f := unguard(second)
	made, err := apply(h, buildLayout(link.Attrs().Index, runMajor("same-run"), nil, f.leaf))
	if err == nil || made {
		t.Fatalf("apply over an existing root: made=%v err=%v, want made=false and an error", made, err)
	}
	revert(t, r)
	sameSnapshot(t, p.A, before)
}
