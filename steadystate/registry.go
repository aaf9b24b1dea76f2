package steadystate

import (
	"fmt"
	"sort"
	"sync"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Validator is implemented by specs that check themselves after decoding; paths are
// built from p so that errors point at the right YAML line and column.
type Validator interface {
	Validate(p *field.Path) field.ErrorList
}

// Registry maps YAML keys to probe and assertion definitions. Use NewRegistry.
type Registry struct {
	mu         sync.RWMutex
	probes     map[string]Definition
	assertions map[string]AssertionDefinition
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{probes: map[string]Definition{}, assertions: map[string]AssertionDefinition{}}
}

// Register adds a probe kind; a duplicate key is an error.
func (r *Registry) Register(d Definition) error {
	if d.Key == "" || d.NewSpec == nil || d.New == nil {
		return fmt.Errorf("steadystate: probe %q needs Key, NewSpec and New", d.Key)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.probes[d.Key]; dup {
		return fmt.Errorf("steadystate: probe %q is already registered", d.Key)
	}
	r.probes[d.Key] = d
	return nil
}

// RegisterAssertion adds an assertion kind; a duplicate key is an error.
func (r *Registry) RegisterAssertion(d AssertionDefinition) error {
	if d.Key == "" || d.NewSpec == nil || d.New == nil {
		return fmt.Errorf("steadystate: assertion %q needs Key, NewSpec and New", d.Key)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.assertions[d.Key]; dup {
		return fmt.Errorf("steadystate: assertion %q is already registered", d.Key)
	}
	r.assertions[d.Key] = d
	return nil
}

// Probe returns the probe definition for key.
func (r *Registry) Probe(key string) (Definition, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	d, ok := r.probes[key]
	return d, ok
}

// Assertion returns the assertion definition for key.
func (r *Registry) Assertion(key string) (AssertionDefinition, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	d, ok := r.assertions[key]
	return d, ok
}

// ProbeKeys returns the registered probe keys, sorted.
func (r *Registry) ProbeKeys() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return sortedKeys(r.probes)
}

// AssertionKeys returns the registered assertion keys, sorted.
func (r *Registry) AssertionKeys() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return sortedKeys(r.assertions)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
