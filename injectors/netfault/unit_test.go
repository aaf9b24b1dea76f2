package netfault

import (
	"strings"
	"testing"
	"time"

	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/faultline-dev/faultline/injectors"
)

func TestValidate(t *testing.T) {
	p := field.NewPath("spec", "faults").Index(0).Child("x")
	cases := []struct {
		name string
		spec injectors.Validator
		want string // substring of the joined errors; "" = valid
	}{
		{"latency ok", &LatencySpec{Target: Target{NetNS: "blue"}, Delay: 100 * time.Millisecond, Jitter: 10 * time.Millisecond}, ""},
		{"latency no delay", &LatencySpec{}, "spec.faults[0].x.delay: Invalid value: \"0s\": must be > 0"},
		{"latency jitter > delay", &LatencySpec{Delay: time.Millisecond, Jitter: time.Second}, "x.jitter"},
		{"latency correlation", &LatencySpec{Delay: time.Millisecond, Correlation: 101}, "x.correlation"},
		{"netns and pid", &LossSpec{Target: Target{NetNS: "a", PID: 3}, Percent: 5}, "x.target.pid: Invalid value: 3: must not be set together with netns"},
		{"loss zero", &LossSpec{}, "x.percent: Invalid value: 0: must be > 0 and <= 100"},
		{"corrupt ok", &CorruptSpec{Percent: 1}, ""},
		{"duplicate too big", &DuplicateSpec{Percent: 150}, "x.percent"},
		{"reorder needs delay", &ReorderSpec{Percent: 25}, "x.delay"},
		{"bad interface", &LossSpec{Percent: 1, Target: Target{Interfaces: []string{"a-very-long-interface-name"}}}, "x.target.interfaces[0]"},
		{"bad destination cidr", &LossSpec{Percent: 1, Target: Target{Destinations: &Destinations{CIDRs: []string{"10.0.0.0/33"}}}}, "x.target.destinations.cidrs[0]: Invalid value: \"10.0.0.0/33\""},
		{"bad port", &LossSpec{Percent: 1, Target: Target{Destinations: &Destinations{Ports: []int{70000}}}}, "x.target.destinations.ports[0]: Invalid value: 70000: must be between 1 and 65535"},
		{"empty destinations", &LossSpec{Percent: 1, Target: Target{Destinations: &Destinations{}}}, "x.target.destinations: Required value"},
		{"bandwidth ok", &BandwidthSpec{Rate: "8mbit", Burst: "32kb", Limit: "64kb"}, ""},
		{"bandwidth bad rate", &BandwidthSpec{Rate: "fast"}, "x.rate: Invalid value: \"fast\": must be a rate such as 8mbit"},
		{"bandwidth bad burst", &BandwidthSpec{Rate: "1mbit", Burst: "lots"}, "x.burst"},
		{"partition ok", &PartitionSpec{CIDRs: []string{"10.0.0.0/8", "fd00::1"}, Ports: []int{80}, Direction: "from", VerifyWith: "10.0.0.1:80"}, ""},
		{"partition bad cidr", &PartitionSpec{CIDRs: []string{"10.0.0/8"}}, "x.cidrs[0]: Invalid value: \"10.0.0/8\": must be a CIDR"},
		{"partition nothing", &PartitionSpec{}, "x.cidrs: Required value"},
		{"partition direction", &PartitionSpec{CIDRs: []string{"10.0.0.1"}, Direction: "sideways"}, "x.direction: Unsupported value: \"sideways\""},
		{"partition verify", &PartitionSpec{CIDRs: []string{"10.0.0.1"}, VerifyWith: "10.0.0.1"}, "x.verifyWith"},
		{"partition destinations", &PartitionSpec{CIDRs: []string{"10.0.0.1"}, Target: Target{Destinations: &Destinations{Ports: []int{1}}}}, "x.target.destinations: Forbidden"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			errs := c.spec.Validate(p)
			got := errs.ToAggregate()
			switch {
			case c.want == "" && got != nil:
				t.Fatalf("unexpected errors: %v", got)
			case c.want != "" && (got == nil || !strings.Contains(got.Error(), c.want)):
				t.Fatalf("errors %v, want one containing %q", got, c.want)
			}
		})
	}
}

func TestParseQuantities(t *testing.T) {
	rates := map[string]uint64{"8mbit": 8_000_000, "1.5gbit": 1_500_000_000, "512kbit": 512_000, "2mbps": 16_000_000, "100": 100, "10bit": 10}
	for in, want := range rates {
		if got, err := parseRate(in); err != nil || got != want {
			t.Errorf("parseRate(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	sizes := map[string]uint64{"32kb": 32768, "1mb": 1 << 20, "1500": 1500, "1500b": 1500, "64k": 65536}
	for in, want := range sizes {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "mbit", "-1mbit", "1xbit"} {
		if _, err := parseRate(bad); err == nil {
			t.Errorf("parseRate(%q) accepted", bad)
		}
	}
}

// newFault builds an injector through the registry, as the runner does.
func newFault(t *testing.T, key string, spec any, runID string) injectors.Injector {
	t.Helper()
	r := injectors.NewRegistry()
	if err := Register(r); err != nil {
		t.Fatal(err)
	}
	d, ok := r.Lookup(key)
	if !ok {
		t.Fatalf("%s not registered", key)
	}
	if v, ok := spec.(injectors.Validator); ok {
		if errs := v.Validate(field.NewPath("spec")); len(errs) > 0 {
			t.Fatalf("invalid spec: %v", errs.ToAggregate())
		}
	}
	inj, err := d.New(spec, &injectors.Env{RunID: runID, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	return inj
}

func TestNetemRequests(t *testing.T) {
	attrs := netlink.QdiscAttrs{LinkIndex: 7, Parent: netlink.HANDLE_ROOT, Handle: netlink.MakeHandle(0xfa10, 0)}
	want := func(na netlink.NetemQdiscAttrs) *netlink.Netem { return netlink.NewNetem(attrs, na) }
	cases := []struct {
		key  string
		spec any
		want *netlink.Netem
	}{
		{"networkLatency", &LatencySpec{Delay: 100 * time.Millisecond, Jitter: 10 * time.Millisecond, Correlation: 25, Limit: 500},
			want(netlink.NetemQdiscAttrs{Latency: 100_000, Jitter: 10_000, DelayCorr: 25, Limit: 500})},
		{"networkLoss", &LossSpec{Percent: 10, Correlation: 50}, want(netlink.NetemQdiscAttrs{Loss: 10, LossCorr: 50})},
		{"networkCorrupt", &CorruptSpec{Percent: 2, Correlation: 5}, want(netlink.NetemQdiscAttrs{CorruptProb: 2, CorruptCorr: 5})},
		{"networkDuplicate", &DuplicateSpec{Percent: 3}, want(netlink.NetemQdiscAttrs{Duplicate: 3})},
		{"networkReorder", &ReorderSpec{Percent: 25, Correlation: 50, Delay: 10 * time.Millisecond, Gap: 5},
			want(netlink.NetemQdiscAttrs{Latency: 10_000, ReorderProb: 25, ReorderCorr: 50, Gap: 5})},
	}
	for _, c := range cases {
		t.Run(c.key, func(t *testing.T) {
			f := unguard(newFault(t, c.key, c.spec, "run-1"))
			if f.kind != "netem" || f.key != c.key {
				t.Fatalf("kind %q key %q", f.kind, f.key)
			}
			got, ok := f.leaf(attrs).(*netlink.Netem)
			if !ok {
				t.Fatalf("leaf is %T", f.leaf(attrs))
			}
			if *got != *c.want {
				t.Fatalf("netem request\n got %+v\nwant %+v", *got, *c.want)
			}
			if got.Attrs().Handle != attrs.Handle || got.Attrs().LinkIndex != 7 {
				t.Fatalf("attrs %+v", got.Attrs())
			}
		})
	}
	// Absolute values for one case, independent of the library's constructor:
	// 10% is 10/100 of 2^32-1; the latency is in kernel ticks of 100ms.
	n := unguard(newFault(t, "networkLoss", &LossSpec{Percent: 10}, "r")).leaf(attrs).(*netlink.Netem)
	if want := uint32(429496729); diff(n.Loss, want) > 512 || n.Limit != 1000 {
		t.Fatalf("loss %d limit %d", n.Loss, n.Limit)
	}
}

func TestTbfRequest(t *testing.T) {
	attrs := netlink.QdiscAttrs{LinkIndex: 3, Parent: netlink.HANDLE_ROOT, Handle: netlink.MakeHandle(0xfa00, 0)}
	q := tbfQdisc(&BandwidthSpec{Rate: "8mbit", Burst: "32kb", Limit: "64kb"}, attrs)
	if q.Rate != 1_000_000 || q.Limit != 65536 || q.Buffer != netlink.Xmittime(1_000_000, 32768) {
		t.Fatalf("tbf %+v", q)
	}
	_, burst, limit := tbfParams(&BandwidthSpec{Rate: "100mbit"})
	if burst != 125_000 || limit != 125_000+2_500_000 {
		t.Fatalf("defaults: burst %d limit %d", burst, limit)
	}
}

func TestLayoutWithDestinations(t *testing.T) {
	dst := &Destinations{CIDRs: []string{"10.1.2.0/24", "fd00::/64"}, Ports: []int{5432}}
	l := buildLayout(9, 0xfa20, dst, func(a netlink.QdiscAttrs) netlink.Qdisc { return &netlink.Tbf{QdiscAttrs: a} })
	htb, ok := l.Root.(*netlink.Htb)
	if !ok || htb.Handle != 0xfa200000 || htb.Parent != netlink.HANDLE_ROOT || htb.Defcls != 0 {
		t.Fatalf("root %+v", l.Root)
	}
	if l.Class.Handle != 0xfa200001 || l.Class.Parent != 0xfa200000 {
		t.Fatalf("class %+v", l.Class.ClassAttrs)
	}
	if l.Leaf.Attrs().Parent != 0xfa200001 || l.Leaf.Attrs().Handle != 0xfa210000 {
		t.Fatalf("leaf %+v", l.Leaf.Attrs())
	}
	if len(l.Filters) != 2 {
		t.Fatalf("%d filters", len(l.Filters))
	}
	v4, v6 := l.Filters[0], l.Filters[1]
	if v4.Protocol != unix.ETH_P_IP || v4.Priority != 1 || v4.ClassId != 0xfa200001 || v4.Parent != 0xfa200000 {
		t.Fatalf("v4 filter %+v", v4.FilterAttrs)
	}
	wantV4 := []netlink.TcU32Key{{Off: 16, Val: 0x0a010200, Mask: 0xffffff00}, {Off: 20, Val: 5432, Mask: 0xffff}}
	if v4.Sel.Nkeys != 2 || v4.Sel.Keys[0] != wantV4[0] || v4.Sel.Keys[1] != wantV4[1] || v4.Sel.Flags != netlink.TC_U32_TERMINAL {
		t.Fatalf("v4 sel %+v", v4.Sel)
	}
	wantV6 := []netlink.TcU32Key{{Off: 24, Val: 0xfd000000, Mask: ^uint32(0)}, {Off: 28, Val: 0, Mask: ^uint32(0)}, {Off: 40, Val: 5432, Mask: 0xffff}}
	if v6.Protocol != unix.ETH_P_IPV6 || v6.Priority != 2 || v6.Sel.Nkeys != 3 {
		t.Fatalf("v6 filter %+v %+v", v6.FilterAttrs, v6.Sel)
	}
	for i, k := range wantV6 {
		if v6.Sel.Keys[i] != k {
			t.Fatalf("v6 key %d = %+v, want %+v", i, v6.Sel.Keys[i], k)
		}
	}
	plain := buildLayout(9, 0xfa20, nil, func(a netlink.QdiscAttrs) netlink.Qdisc { return &netlink.Tbf{QdiscAttrs: a} })
	if plain.Root != plain.Leaf || plain.Class != nil || plain.Root.Attrs().Parent != netlink.HANDLE_ROOT {
		t.Fatalf("plain layout %+v", plain)
	}
}

func TestHandlesAndNames(t *testing.T) {
	seen := map[uint16]bool{}
	for i := range 1000 {
		m := runMajor("run-" + string(rune('a'+i%26)) + time.Duration(i).String())
		if !ownedMajor(m) || !ownedMajor(m+1) || m%2 != 0 {
			t.Fatalf("major %#x out of range", m)
		}
		seen[m] = true
	}
	if len(seen) < 32 {
		t.Fatalf("only %d distinct majors", len(seen))
	}
	if ownedMajor(1) || ownedMajor(0xfb00) {
		t.Fatal("foreign majors counted as ours")
	}
	if got := tableName("20261123-0700 run/1"); got != "faultline_20261123-0700run1_" {
		t.Fatalf("tableName %q", got)
	}
}

func TestPartitionRules(t *testing.T) {
	s := &PartitionSpec{CIDRs: []string{"10.0.0.0/8", "fd00::/16"}, Ports: []int{80, 443}, Direction: "to", Target: Target{Interfaces: []string{"eth0"}}}
	r := partitionRules(s)
	// 1 iface × 2 cidrs × 2 protos × 2 ports, in output and forward; none in input.
	if len(r["output"]) != 8 || len(r["forward"]) != 8 || len(r["input"]) != 0 {
		t.Fatalf("rules per chain: output %d forward %d input %d", len(r["output"]), len(r["forward"]), len(r["input"]))
	}
	first := r["output"][0]
	if m, ok := first[0].(*expr.Meta); !ok || m.Key != expr.MetaKeyOIFNAME {
		t.Fatalf("first expr %#v", first[0])
	}
	pl, ok := first[4].(*expr.Payload)
	if !ok || pl.Offset != 16 || pl.Len != 4 || pl.Base != expr.PayloadBaseNetworkHeader {
		t.Fatalf("daddr payload %#v", first[4])
	}
	if v, ok := first[len(first)-1].(*expr.Verdict); !ok || v.Kind != expr.VerdictDrop {
		t.Fatalf("last expr %#v", first[len(first)-1])
	}
	from := partitionRules(&PartitionSpec{CIDRs: []string{"192.0.2.1"}, Direction: "from"})
	if len(from["input"]) != 1 || len(from["forward"]) != 1 || len(from["output"]) != 0 {
		t.Fatalf("from: %v", from)
	}
	in := from["input"][0]
	if pl, ok := in[2].(*expr.Payload); !ok || pl.Offset != 12 {
		t.Fatalf("saddr payload %#v", in[2])
	}
	both := partitionRules(&PartitionSpec{Ports: []int{53}})
	// ports only: any v4 and any v6 address, tcp and udp, both directions.
	if len(both["output"]) != 4 || len(both["input"]) != 4 || len(both["forward"]) != 8 {
		t.Fatalf("both: output %d input %d forward %d", len(both["output"]), len(both["input"]), len(both["forward"]))
	}
}
