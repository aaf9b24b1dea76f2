package chaosmesh

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/chaos-mesh/chaos-mesh/api/genericwebhook"
	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"

	"github.com/faultline-dev/faultline/injectors"
	"github.com/faultline-dev/faultline/internal/podtarget"
)

// Network actions.
const (
	ActionDelay     = "delay"
	ActionLoss      = "loss"
	ActionDuplicate = "duplicate"
	ActionCorrupt   = "corrupt"
	ActionBandwidth = "bandwidth"
	ActionPartition = "partition"
)

// Network is a network fault on pods in Faultline's vocabulary (networkLatency,
// networkLoss, ... with `target: {pods: ...}`), carried out as a NetworkChaos.
// injectors/install fills it from the network faults' specs.
type Network struct {
	Key  string // YAML key, for messages: "networkLatency"
	Pods podtarget.Pods
	// Device is the pods' interface; "" = Chaos Mesh's default (eth0).
	Device string
	Action string // one of the Action* constants
	// delay (and reorder, which delays the other packets)
	Latency, Jitter time.Duration
	// Percent of packets lost, duplicated, corrupted or (with delay) reordered.
	Percent, Correlation float64
	Reorder              float64
	Gap                  int
	// bandwidth: BitsPerSecond, BurstBytes (Chaos Mesh's buffer), LimitBytes (queue).
	BitsPerSecond, BurstBytes, LimitBytes uint64
	// Direction (to, from, both) and ExternalTargets (CIDRs or IPs) of the traffic.
	Direction       string
	ExternalTargets []string
}

// NewNetwork builds the injector of a pods-targeted network fault.
func NewNetwork(n Network, env *injectors.Env) (injectors.Injector, error) {
	sel, err := fromPods(&n.Pods)
	if err != nil {
		return nil, fmt.Errorf("%s: target.pods: %w", n.Key, err)
	}
	spec := &v1alpha1.NetworkChaosSpec{PodSelector: sel, Device: n.Device, ExternalTargets: n.ExternalTargets}
	if n.Direction != "" {
		spec.Direction = v1alpha1.Direction(n.Direction)
	}
	pct := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	var what string
	switch n.Action {
	case ActionDelay:
		spec.Action = v1alpha1.DelayAction
		spec.Delay = &v1alpha1.DelaySpec{Latency: n.Latency.String(), Jitter: n.Jitter.String(), Correlation: pct(n.Correlation)}
		what = fmt.Sprintf("delay %s ±%s", n.Latency, n.Jitter)
		if n.Reorder > 0 {
			spec.Delay.Reorder = &v1alpha1.ReorderSpec{Reorder: pct(n.Reorder), Correlation: pct(n.Correlation), Gap: n.Gap}
			what = fmt.Sprintf("reorder %g%% (others delayed %s)", n.Reorder, n.Latency)
		}
	case ActionLoss:
		spec.Action = v1alpha1.LossAction
		spec.Loss = &v1alpha1.LossSpec{Loss: pct(n.Percent), Correlation: pct(n.Correlation)}
		what = fmt.Sprintf("loss %g%%", n.Percent)
	case ActionDuplicate:
		spec.Action = v1alpha1.DuplicateAction
		spec.Duplicate = &v1alpha1.DuplicateSpec{Duplicate: pct(n.Percent), Correlation: pct(n.Correlation)}
		what = fmt.Sprintf("duplicate %g%%", n.Percent)
	case ActionCorrupt:
		spec.Action = v1alpha1.CorruptAction
		spec.Corrupt = &v1alpha1.CorruptSpec{Corrupt: pct(n.Percent), Correlation: pct(n.Correlation)}
		what = fmt.Sprintf("corrupt %g%%", n.Percent)
	case ActionBandwidth:
		if n.BitsPerSecond == 0 || n.BurstBytes == 0 || n.LimitBytes == 0 || n.BurstBytes > 1<<32-1 || n.LimitBytes > 1<<32-1 {
			return nil, fmt.Errorf("%s: rate, burst and limit must be > 0 (burst and limit below 4 GiB)", n.Key)
		}
		spec.Action = v1alpha1.BandwidthAction
		spec.Bandwidth = &v1alpha1.BandwidthSpec{Rate: fmt.Sprintf("%dbps", max(1, n.BitsPerSecond/8)),
			Buffer: uint32(n.BurstBytes), Limit: uint32(n.LimitBytes)}
		what = fmt.Sprintf("rate %d bit/s burst %d B limit %d B", n.BitsPerSecond, n.BurstBytes, n.LimitBytes)
	case ActionPartition:
		spec.Action = v1alpha1.PartitionAction
		what = "partition " + directionOr(n.Direction)
		if len(n.ExternalTargets) > 0 {
			what += " " + strings.Join(n.ExternalTargets, ", ")
		}
	default:
		return nil, fmt.Errorf("%s: unknown network action %q", n.Key, n.Action)
	}
	f := &fault{key: n.Key, kind: kinds[v1alpha1.KindNetworkChaos], spec: spec, namespace: sel.Selector.Namespaces[0], what: what, env: envOrEmpty(env)}
	// Chaos Mesh's own webhook rules, as the API server would apply them.
	obj, err := f.kind.newObject(spec, f.namespace, "validate")
	if err != nil {
		return nil, err
	}
	genericwebhook.Default(obj)
	if errs := genericwebhook.Validate(obj); len(errs) > 0 {
		return nil, fmt.Errorf("%s: Chaos Mesh refuses this NetworkChaos: %w", n.Key, errs.ToAggregate())
	}
	return f, nil
}

func directionOr(d string) string {
	if d == "" {
		return "to"
	}
	return d
}
