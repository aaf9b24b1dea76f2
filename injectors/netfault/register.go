package netfault

import (
	"fmt"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/faultline-dev/faultline/injectors"
)

// Register adds networkLatency, networkLoss, networkCorrupt, networkDuplicate,
// networkReorder, networkBandwidth and networkPartition to r.
func Register(r *injectors.Registry) error {
	defs := []injectors.Definition{
		{Key: "networkLatency", Summary: "Delay packets leaving a network namespace's interfaces (netem).",
			NewSpec: func() any { return &LatencySpec{} }, New: newNetem},
		{Key: "networkLoss", Summary: "Drop a share of the packets leaving a network namespace's interfaces (netem).",
			NewSpec: func() any { return &LossSpec{} }, New: newNetem},
		{Key: "networkCorrupt", Summary: "Corrupt a share of the packets leaving a network namespace's interfaces (netem).",
			NewSpec: func() any { return &CorruptSpec{} }, New: newNetem},
		{Key: "networkDuplicate", Summary: "Duplicate a share of the packets leaving a network namespace's interfaces (netem).",
			NewSpec: func() any { return &DuplicateSpec{} }, New: newNetem},
		{Key: "networkReorder", Summary: "Reorder packets leaving a network namespace's interfaces (netem).",
			NewSpec: func() any { return &ReorderSpec{} }, New: newNetem},
		{Key: "networkBandwidth", Summary: "Limit the egress bandwidth of a network namespace's interfaces (tbf).",
			NewSpec: func() any { return &BandwidthSpec{} }, New: newBandwidth},
		{Key: "networkPartition", Summary: "Drop traffic between a network namespace and CIDRs/ports, per direction (nftables).",
			NewSpec: func() any { return &PartitionSpec{} }, New: func(spec any, env *injectors.Env) (injectors.Injector, error) {
				s, ok := spec.(*PartitionSpec)
				if !ok {
					return nil, fmt.Errorf("networkPartition: unexpected spec %T", spec)
				}
				return guard(newPartition(s, envOrEmpty(env)), "networkPartition", s.Target, s.CIDRs, s.Ports, env), nil
			}},
	}
	for _, d := range defs {
		d.Recover = recoverState
		if err := r.Register(d); err != nil {
			return err
		}
	}
	return nil
}

// newNetem is Definition.New of the netem faults.
func newNetem(spec any, env *injectors.Env) (injectors.Injector, error) {
	f := &qdiscFault{kind: "netem", env: envOrEmpty(env)}
	switch s := spec.(type) {
	case *LatencySpec:
		f.key, f.target, f.what = "networkLatency", s.Target, fmt.Sprintf("delay %s ±%s", s.Delay, s.Jitter)
	case *LossSpec:
		f.key, f.target, f.what = "networkLoss", s.Target, fmt.Sprintf("loss %g%%", s.Percent)
	case *CorruptSpec:
		f.key, f.target, f.what = "networkCorrupt", s.Target, fmt.Sprintf("corrupt %g%%", s.Percent)
	case *DuplicateSpec:
		f.key, f.target, f.what = "networkDuplicate", s.Target, fmt.Sprintf("duplicate %g%%", s.Percent)
	case *ReorderSpec:
		f.key, f.target, f.what = "networkReorder", s.Target, fmt.Sprintf("reorder %g%% (others delayed %s)", s.Percent, s.Delay)
	default:
		return nil, fmt.Errorf("netfault: unexpected spec %T", spec)
	}
	attrs := netemAttrs(spec)
	f.leaf = func(a netlink.QdiscAttrs) netlink.Qdisc { return netlink.NewNetem(a, attrs) }
	return guardQdisc(f, env), nil
}

// newBandwidth is Definition.New of networkBandwidth.
func newBandwidth(spec any, env *injectors.Env) (injectors.Injector, error) {
	s, ok := spec.(*BandwidthSpec)
	if !ok {
		return nil, fmt.Errorf("networkBandwidth: unexpected spec %T", spec)
	}
	rate, burst, limit := tbfParams(s)
	return guardQdisc(&qdiscFault{
		key: "networkBandwidth", kind: "tbf", target: s.Target, env: envOrEmpty(env),
		what: fmt.Sprintf("rate %d bit/s burst %d B limit %d B", rate*8, burst, limit),
		leaf: func(a netlink.QdiscAttrs) netlink.Qdisc { return tbfQdisc(s, a) },
	}, env), nil
}

// guardQdisc puts a qdisc fault behind the host-network guard (guard.go).
func guardQdisc(f *qdiscFault, env *injectors.Env) injectors.Injector {
	var cidrs []string
	var ports []int
	if d := f.target.Destinations; d != nil {
		cidrs, ports = d.CIDRs, d.Ports
	}
	return guard(f, f.key, f.target, cidrs, ports, env)
}

// envOrEmpty gives injectors built without a runner (Go users, tests) a run ID.
func envOrEmpty(env *injectors.Env) *injectors.Env {
	if env == nil {
		return &injectors.Env{RunID: fmt.Sprintf("adhoc-%d", time.Now().UnixNano())}
	}
	return env
}
