package netfault

import (
	"context"
	"strings"
	"testing"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/faultline-dev/faultline/injectors"
	fixture "github.com/faultline-dev/faultline/internal/testenv/netns"
)

// lookAlikes puts, on veth pairs of its own, a user's objects that resemble Faultline's into ns: pfifo fa01:,
// tbf fa03: (odd major), htb fa04: with two classes, pfifo fa06:, and the inet tables
// faultline_mine and faultline_x_0123abcd (a rule without Faultline's comment).
func lookAlikes(t *testing.T, ns *fixture.NS) {
	t.Helper()
	h, err := ns.Handle()
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	add := func(name string) netlink.Link {
		la := netlink.NewLinkAttrs()
		la.Name = name
		if err := h.LinkAdd(&netlink.Veth{LinkAttrs: la, PeerName: name + "p"}); err != nil {
			t.Fatalf("dummy %s: %v", name, err)
		}
		l, err := h.LinkByName(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
		return l
	}
	root := func(l netlink.Link, major uint16) netlink.QdiscAttrs {
		return netlink.QdiscAttrs{LinkIndex: l.Attrs().Index, Parent: netlink.HANDLE_ROOT, Handle: netlink.MakeHandle(major, 0)}
	}
	d0, d1, d2, d3 := add("user0"), add("user1"), add("user2"), add("user3")
	qs := []netlink.Qdisc{
		&netlink.GenericQdisc{QdiscAttrs: root(d0, 0xfa01), QdiscType: "pfifo"},
		tbfQdisc(&BandwidthSpec{Rate: "1mbit"}, root(d1, 0xfa03)),
		netlink.NewHtb(root(d2, 0xfa04)),
		&netlink.GenericQdisc{QdiscAttrs: root(d3, 0xfa06), QdiscType: "pfifo"},
	}
	for _, q := range qs {
		if err := h.QdiscAdd(q); err != nil {
			t.Fatalf("adding %s: %v", q.Type(), err)
		}
	}
	for minor := uint16(1); minor <= 2; minor++ {
		c := netlink.NewHtbClass(netlink.ClassAttrs{LinkIndex: d2.Attrs().Index, Parent: netlink.MakeHandle(0xfa04, 0), Handle: netlink.MakeHandle(0xfa04, minor)},
			netlink.HtbClassAttrs{Rate: 1e6, Ceil: 1e6})
		if err := h.ClassAdd(c); err != nil {
			t.Fatalf("htb class: %v", err)
		}
	}
	fd, err := netns.GetFromPath(ns.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	conn, err := nftables.New(nftables.WithNetNSFd(int(fd)))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"faultline_mine", "faultline_x_0123abcd"} {
		tb := conn.AddTable(&nftables.Table{Name: name, Family: nftables.TableFamilyINet})
		ch := conn.AddChain(&nftables.Chain{Name: "output", Table: tb, Type: nftables.ChainTypeFilter,
			Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityFilter})
		conn.AddRule(&nftables.Rule{Table: tb, Chain: ch, Exprs: []expr.Any{&expr.Counter{}},
			UserData: userdata.AppendString(nil, userdata.TypeComment, "mine")})
	}
	if err := conn.Flush(); err != nil {
		t.Fatalf("nftables: %v", err)
	}
}

// TestSweepLeavesLookAlikes: a sweep removes a real fault's qdisc and table and
// leaves every look-alike, saying which and why.
func TestSweepLeavesLookAlikes(t *testing.T) {
	p := fixture.NewPair(t)
	lookAlikes(t, p.A)
	before := snapshot(t, p.A)
	r := injectors.NewRegistry()
	if err := Register(r); err != nil {
		t.Fatal(err)
	}
	env := &injectors.Env{RunID: "sweep-1"}
	for key, spec := range map[string]any{
		"networkBandwidth": &BandwidthSpec{Target: Target{NetNS: p.A.Path, Interfaces: []string{p.A.Link}}, Rate: "8mbit"},
		"networkPartition": &PartitionSpec{Target: Target{NetNS: p.A.Path}, CIDRs: []string{p.B.IP.String()}},
	} {
		d, _ := r.Lookup(key)
		f, err := d.New(spec, env)
		if err != nil {
			t.Fatal(err)
		}
		inject(t, f) // left behind, as by a killed runner
	}
	res, err := Sweep(context.Background(), []string{p.A.Path}, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("removed:\n%s\nleft:\n%s", strings.Join(res.Removed, "\n"), strings.Join(res.Left, "\n"))
	if len(res.Removed) != 2 || !strings.Contains(res.Removed[0], "tbf") || !strings.Contains(res.Removed[1], "faultline_sweep-1_") {
		t.Fatalf("removed %v, want the fault's tbf and table", res.Removed)
	}
	for _, want := range []string{
		"qdisc pfifo fa01: on user0: Faultline's root qdiscs have even handles",
		"qdisc tbf fa03: on user1: Faultline's root qdiscs have even handles",
		"qdisc htb fa04: on user2: an htb with 2 classes is not Faultline's",
		"qdisc pfifo fa06: on user3: kind pfifo is not one Faultline creates",
		"table inet faultline_mine: not named as Faultline names its tables",
		`table inet faultline_x_0123abcd: a rule in chain output lacks the comment "faultline run <runID>"`,
	} {
		if !strings.Contains(strings.Join(res.Left, "\n"), want) {
			t.Errorf("left does not say %q", want)
		}
	}
	sameSnapshot(t, p.A, before) // every look-alike is still there
}
