package injectors

import "time"

// Union is implemented (on the pointer) by a spec struct one of whose keys holds a
// value whose Go type depends on another key, as in Kubernetes objects:
// `chaosMesh: {kind: StressChaos, spec: {...}}`. The experiment decoder reads the
// discriminator key as a normal field, then decodes the variant key strictly (unknown
// keys, types, line:col) into the value NewVariant returns and hands it to
// SetVariant; `chaos schema` describes each variant. The Go field holding the
// variant must be hidden from the decoder (`yaml:"-"`).
type Union interface {
	// UnionKeys names the discriminator and the variant keys, e.g. "kind", "spec".
	UnionKeys() (discriminator, variant string)
	// Variants lists the valid discriminator values, sorted.
	Variants() []string
	// NewVariant returns a pointer to a new zero value of the variant type for the
	// discriminator value d, or nil when d is not one of Variants.
	NewVariant(d string) any
	// SetVariant stores a value NewVariant returned, once decoded.
	SetVariant(v any)
}

// Schedule is how the runner means to run one fault.
type Schedule struct {
	// Duration the fault stays active before the runner reverts it.
	Duration time.Duration
	// RevertTimeout bounds each revert (safety.revertTimeout).
	RevertTimeout time.Duration
}

// Scheduled is implemented by injectors that want to know their fault's schedule
// before Plan, e.g. to give an object they create in a cluster an expiry of its own
// (a dead-man's switch that ends the fault if the runner dies). The runner calls
// Schedule once, right after Definition.New.
type Scheduled interface {
	Schedule(s Schedule)
}
