package netfault

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline/injectors"
	fixture "github.com/faultline-dev/faultline/internal/testenv/netns"
)

// unguard returns the qdisc fault behind the host-network guard.
func unguard(i injectors.Injector) *qdiscFault {
	if g, ok := i.(*guarded); ok {
		i = g.Unwrap()
	}
	return i.(*qdiscFault)
}

func TestCoversAll(t *testing.T) {
	for _, c := range []struct {
		cidrs []string
		want  bool
	}{
		{nil, true},
		{[]string{"0.0.0.0/0"}, true},
		{[]string{"::/0"}, true},
		{[]string{"10.0.0.0/8", "0.0.0.0/0"}, true},
		{[]string{"0.0.0.0/1", "128.0.0.0/1"}, true},
		{[]string{"128.0.0.0/1", "0.0.0.0/2", "64.0.0.0/2"}, true},
		{[]string{"0.0.0.0/1"}, false},
		{[]string{"0.0.0.0/1", "128.0.0.0/2", "224.0.0.0/3"}, false},
		{[]string{"10.0.0.0/8"}, false},
		{[]string{"::/1", "8000::/1"}, true},
		{[]string{"127.0.0.1"}, false},
	} {
		if got := coversAll(c.cidrs); got != c.want {
			t.Errorf("coversAll(%v) = %v, want %v", c.cidrs, got, c.want)
		}
	}
}

// planWith builds a fault through the registry with a blast radius and plans it.
// Planning changes nothing: no fault here is ever injected.
func planWith(t *testing.T, key string, spec any, br injectors.BlastRadius) (injectors.Plan, error) {
	t.Helper()
	r := injectors.NewRegistry()
	if err := Register(r); err != nil {
		t.Fatal(err)
	}
	d, _ := r.Lookup(key)
	inj, err := d.New(spec, &injectors.Env{RunID: "guard-test", BlastRadius: br})
	if err != nil {
		t.Fatal(err)
	}
	return inj.Plan(context.Background())
}

// TestHostWideFaultsRefused: in the runner's own network namespace (by default,
// by its pid, by its namespace file), a fault that covers every address is refused
// at plan time, naming the opt-in; the same fault in a fresh namespace, a narrowed
// one, or one opted in plans, and the opted-in plan says what it will cut.
func TestHostWideFaultsRefused(t *testing.T) {
	fixture.RequireRoot(t)
	own := []Target{{}, {PID: os.Getpid()}, {NetNS: "/proc/self/ns/net"}}
	for _, tg := range own {
		for _, spec := range []struct {
			key  string
			spec any
		}{
			{"networkPartition", &PartitionSpec{Target: tg, CIDRs: []string{"0.0.0.0/0"}, Direction: "both"}},
			{"networkPartition", &PartitionSpec{Target: tg, CIDRs: []string{"::/0"}}},
			{"networkPartition", &PartitionSpec{Target: tg, Ports: []int{22}}},
			{"networkPartition", &PartitionSpec{Target: tg, CIDRs: []string{"0.0.0.0/1", "128.0.0.0/1"}}},
			{"networkLoss", &LossSpec{Target: tg, Percent: 100}},
			{"networkBandwidth", &BandwidthSpec{Target: Target{PID: tg.PID, NetNS: tg.NetNS, Destinations: &Destinations{Ports: []int{443}}}, Rate: "1kbit"}},
		} {
			name := fmt.Sprintf("%s %+v", spec.key, spec.spec)
			_, err := planWith(t, spec.key, spec.spec, injectors.BlastRadius{})
			if err == nil || !strings.Contains(err.Error(), "host-network guard") ||
				!strings.Contains(err.Error(), "safety.blastRadius.allowHostNetwork: true") {
				t.Errorf("%s: err = %v, want the host-network guard's refusal naming the opt-in", name, err)
			}
		}
	}
	// Narrowed to some addresses: not host-wide.
	if _, err := planWith(t, "networkPartition", &PartitionSpec{CIDRs: []string{"192.0.2.0/24"}}, injectors.BlastRadius{}); err != nil {
		t.Errorf("narrowed partition in the own namespace: %v", err)
	}
	// Opted in: planned, and the plan says what it will cut.
	p, err := planWith(t, "networkPartition", &PartitionSpec{CIDRs: []string{"0.0.0.0/0"}, Ports: []int{22}},
		injectors.BlastRadius{AllowHostNetwork: true})
	if err != nil {
		t.Fatalf("opted in: %v", err)
	}
	if !strings.Contains(p.Action, "HOST-WIDE") || !strings.Contains(p.Action, "every connection of this host to 0.0.0.0/0 (every address) on ports 22") {
		t.Errorf("opted-in plan does not say what it cuts: %q", p.Action)
	}
	// Another namespace: the same fault is not host-wide.
	pair := fixture.NewPair(t)
	if _, err := planWith(t, "networkPartition", &PartitionSpec{Target: Target{NetNS: pair.A.Name}, CIDRs: []string{"0.0.0.0/0"}}, injectors.BlastRadius{}); err != nil {
		t.Errorf("0.0.0.0/0 in a fresh namespace: %v", err)
	}
}
