package injectors

import (
	"fmt"
	"sort"
	"sync"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Validator is implemented by specs that check themselves after decoding. Paths in
// the returned errors are built from p (e.g. p.Child("count")), so the decoder can
// point at the YAML line and column of the offending field.
type Validator interface {
	Validate(p *field.Path) field.ErrorList
}

// Registry maps YAML keys to fault definitions. The zero value is not usable; use
// NewRegistry. It is safe for concurrent use.
type Registry struct {
	mu   sync.RWMutex
	defs map[string]Definition
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{defs: map[string]Definition{}} }

// Register adds d. Registering a key twice, or an incomplete definition, is an error.
func (r *Registry) Register(d Definition) error {
	if d.Key == "" || d.NewSpec == nil || d.New == nil {
		return fmt.Errorf("injectors: definition %q needs Key, NewSpec and New", d.Key)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.defs[d.Key]; dup {
		return fmt.Errorf("injectors: %q is already registered", d.Key)
	}
	r.defs[d.Key] = d
	return nil
}

// Lookup returns the definition for key.
func (r *Registry) Lookup(key string) (Definition, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	d, ok := r.defs[key]
	return d, ok
}

// Keys returns the registered keys, sorted.
func (r *Registry) Keys() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	keys := make([]string, 0, len(r.defs))
	for k := range r.defs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
