package netfault

import (
	"errors"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// errPods refuses a pods target where no engine for it was wired in.
var errPods = errors.New("target.pods needs the Chaos Mesh engine: build the registry with injectors/install")

// validatePods checks a `target: {pods: ...}` block: the selector, and what a
// NetworkChaos cannot express (the runner's namespaces, several interfaces, ports).
func validatePods(p *field.Path, t *Target) field.ErrorList {
	errs := t.Pods.Validate(p.Child("pods"))
	if t.NetNS != "" {
		errs = append(errs, field.Forbidden(p.Child("netns"), "must not be set together with pods"))
	}
	if t.PID != 0 {
		errs = append(errs, field.Forbidden(p.Child("pid"), "must not be set together with pods"))
	}
	if len(t.Interfaces) > 1 {
		errs = append(errs, field.Invalid(p.Child("interfaces"), t.Interfaces, "with pods, at most one interface (Chaos Mesh's device; default eth0)"))
	}
	if t.Destinations != nil && len(t.Destinations.Ports) > 0 {
		errs = append(errs, field.Forbidden(p.Child("destinations", "ports"), "Chaos Mesh filters pod traffic by address only; use cidrs"))
	}
	return errs
}

// podsOnly returns errPods when t targets pods: the netlink engine acts where the
// runner is, never on pods.
func podsOnly(t Target) error {
	if t.Pods != nil {
		return errPods
	}
	return nil
}

// Params returns the token bucket a bandwidth fault uses: bytes per second, burst
// and queue limit in bytes, with the defaults filled in.
func (s *BandwidthSpec) Params() (bytesPerSecond, burst, limit uint64) { return tbfParams(s) }

// validatePartitionPods refuses what a pods-targeted partition cannot express.
func validatePartitionPods(p *field.Path, s *PartitionSpec) field.ErrorList {
	if s.Target.Pods == nil {
		return nil
	}
	var errs field.ErrorList
	if len(s.Ports) > 0 {
		errs = append(errs, field.Forbidden(p.Child("ports"), "Chaos Mesh partitions pods by address only; use cidrs"))
	}
	if s.VerifyWith != "" {
		errs = append(errs, field.Forbidden(p.Child("verifyWith"), "not supported with target.pods (the runner is not in the pods' network)"))
	}
	return errs
}
