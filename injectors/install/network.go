package install

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/faultline-dev/faultline/injectors"
	"github.com/faultline-dev/faultline/injectors/chaosmesh"
	"github.com/faultline-dev/faultline/injectors/netfault"
)

// registerNetwork adds the network faults: netlink where the runner is (netfault),
// and, for a `target: {pods: ...}`, Chaos Mesh in the cluster (chaosmesh). One
// vocabulary, two engines; this is the one place that joins them.
func registerNetwork(r *injectors.Registry) error {
	nf := injectors.NewRegistry()
	if err := netfault.Register(nf); err != nil {
		return err
	}
	for _, key := range nf.Keys() {
		d, _ := nf.Lookup(key)
		if err := r.Register(withPods(d)); err != nil {
			return err
		}
	}
	return nil
}

// withPods routes a pods-targeted spec to Chaos Mesh, everything else to d.
func withPods(d injectors.Definition) injectors.Definition {
	netlinkNew, netlinkRecover := d.New, d.Recover
	d.Summary += " With target.pods: a Chaos Mesh NetworkChaos on the selected pods."
	d.New = func(spec any, env *injectors.Env) (injectors.Injector, error) {
		n, ok, err := podsNetwork(d.Key, spec)
		if err != nil {
			return nil, err
		}
		if ok {
			return chaosmesh.NewNetwork(n, env)
		}
		return netlinkNew(spec, env)
	}
	d.Recover = func(ctx context.Context, env *injectors.Env, state json.RawMessage) error {
		if chaosmesh.IsState(state) {
			return chaosmesh.Recover(ctx, env, state)
		}
		if netlinkRecover == nil {
			return nil
		}
		return netlinkRecover(ctx, env, state)
	}
	return d
}

// podsNetwork translates a network fault's spec with target.pods into Chaos Mesh's
// terms; ok is false when the spec has no pods target.
func podsNetwork(key string, spec any) (chaosmesh.Network, bool, error) {
	var t netfault.Target
	n := chaosmesh.Network{Key: key}
	switch s := spec.(type) {
	case *netfault.LatencySpec:
		t = s.Target
		n.Action, n.Latency, n.Jitter, n.Correlation = chaosmesh.ActionDelay, s.Delay, s.Jitter, s.Correlation
	case *netfault.LossSpec:
		t = s.Target
		n.Action, n.Percent, n.Correlation = chaosmesh.ActionLoss, s.Percent, s.Correlation
	case *netfault.CorruptSpec:
		t = s.Target
		n.Action, n.Percent, n.Correlation = chaosmesh.ActionCorrupt, s.Percent, s.Correlation
	case *netfault.DuplicateSpec:
		t = s.Target
		n.Action, n.Percent, n.Correlation = chaosmesh.ActionDuplicate, s.Percent, s.Correlation
	case *netfault.ReorderSpec:
		t = s.Target
		n.Action, n.Latency, n.Reorder, n.Correlation, n.Gap = chaosmesh.ActionDelay, s.Delay, s.Percent, s.Correlation, s.Gap
	case *netfault.BandwidthSpec:
		t = s.Target
		rate, burst, limit := s.Params()
		n.Action, n.BitsPerSecond, n.BurstBytes, n.LimitBytes = chaosmesh.ActionBandwidth, rate*8, burst, limit
	case *netfault.PartitionSpec:
		t = s.Target
		n.Action, n.Direction, n.ExternalTargets = chaosmesh.ActionPartition, s.Direction, s.CIDRs
		if n.Direction == "" {
			n.Direction = "both"
		}
	default:
		return n, false, fmt.Errorf("%s: unexpected spec %T", key, spec)
	}
	if t.Pods == nil {
		return n, false, nil
	}
	n.Pods = *t.Pods
	if len(t.Interfaces) == 1 {
		n.Device = t.Interfaces[0]
	}
	if t.Destinations != nil {
		n.ExternalTargets = append(n.ExternalTargets, t.Destinations.CIDRs...)
	}
	return n, true, nil
}
