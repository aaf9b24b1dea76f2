package gameday

import (
	"fmt"
	"slices"
	"sort"

	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/faultline-dev/faultline/experiments"
	"github.com/faultline-dev/faultline/injectors"
	"github.com/faultline-dev/faultline/internal/kube"
	"github.com/faultline-dev/faultline/steadystate"
)

// Permissions computes what running exps needs from the Kubernetes API: every fault
// and probe that implements kube.Needer, built from its spec (no I/O). Local faults
// and probes need nothing.
func Permissions(exps []*experiments.Experiment, reg experiments.Registries) ([]kube.Permission, error) {
	var perms []kube.Permission
	for _, e := range exps {
		env := &injectors.Env{RunID: "render", Experiment: e.Metadata.Name, Logf: func(string, ...any) {}, Resources: map[string]any{},
			Kube: func() (*kube.Client, error) { return nil, fmt.Errorf("gameday render does not connect") }, BlastRadius: e.Spec.Safety.BlastRadius}
		senv := &steadystate.Env{RunID: "render", Logf: func(string, ...any) {}, Kube: env.Kube}
		for _, f := range e.Spec.Faults {
			def, ok := reg.Injectors.Lookup(f.Kind)
			if !ok {
				return nil, fmt.Errorf("%s: fault %q: unknown kind %q", e.Source, f.Name, f.Kind)
			}
			inj, err := def.New(f.Spec, env)
			if err != nil {
				return nil, fmt.Errorf("%s: fault %q: %w", e.Source, f.Name, err)
			}
			if n, ok := inj.(kube.Needer); ok {
				perms = append(perms, n.Permissions()...)
			}
		}
		for _, p := range e.Spec.SteadyState.Probes {
			def, ok := reg.Probes.Probe(p.Kind)
			if !ok {
				return nil, fmt.Errorf("%s: probe %q: unknown kind %q", e.Source, p.Name, p.Kind)
			}
			pr, err := def.New(p.Spec, senv)
			if err != nil {
				return nil, fmt.Errorf("%s: probe %q: %w", e.Source, p.Name, err)
			}
			if n, ok := pr.(kube.Needer); ok {
				perms = append(perms, n.Permissions()...)
			}
		}
	}
	return perms, nil
}

// Rules groups permissions by namespace ("" = cluster-wide) into RBAC rules: one
// rule per API group and resource, verbs sorted, namespaces sorted.
func Rules(perms []kube.Permission) (namespaces []string, rules map[string][]rbacv1.PolicyRule) {
	type key struct{ ns, group, resource string }
	verbs := map[key][]string{}
	for _, p := range perms {
		res := p.Resource
		if p.Subresource != "" {
			res += "/" + p.Subresource
		}
		k := key{p.Namespace, p.Group, res}
		if !slices.Contains(verbs[k], p.Verb) {
			verbs[k] = append(verbs[k], p.Verb)
		}
	}
	keys := make([]key, 0, len(verbs))
	for k := range verbs {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		return a.ns+"\x00"+a.group+"\x00"+a.resource < b.ns+"\x00"+b.group+"\x00"+b.resource
	})
	rules = map[string][]rbacv1.PolicyRule{}
	for _, k := range keys {
		v := verbs[k]
		sort.Slice(v, func(i, j int) bool { return verbOrder(v[i]) < verbOrder(v[j]) })
		if _, seen := rules[k.ns]; !seen {
			namespaces = append(namespaces, k.ns)
		}
		rules[k.ns] = append(rules[k.ns], rbacv1.PolicyRule{APIGroups: []string{k.group}, Resources: []string{k.resource}, Verbs: v})
	}
	return namespaces, rules
}

func verbOrder(v string) int {
	if i := slices.Index([]string{"get", "list", "watch", "create", "update", "patch", "delete"}, v); i >= 0 {
		return i
	}
	return 100
}
