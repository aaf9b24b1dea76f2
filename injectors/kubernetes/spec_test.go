package kubernetes

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/faultline-dev/faultline/injectors"
)

func TestValidate(t *testing.T) {
	p := field.NewPath("spec", "faults").Index(0)
	tests := []struct {
		name string
		spec injectors.Validator
		want []string
	}{
		{"podKill ok", &PodKillSpec{Namespaces: []string{"shop"}, LabelSelector: "app=web", Mode: ModeFixedPercent, Value: 30, GracePeriod: time.Second}, nil},
		{"podKill defaults", &PodKillSpec{LabelSelector: "app=web"}, nil},
		{"podKill bad selector", &PodKillSpec{LabelSelector: "app in ("}, []string{"spec.faults[0].labelSelector: Invalid value"}},
		{"podKill bad field selector", &PodKillSpec{LabelSelector: "a=b", FieldSelector: "spec.nodeName"}, []string{"spec.faults[0].fieldSelector: Invalid value"}},
		{"podKill bad mode", &PodKillSpec{Mode: "some"}, []string{`spec.faults[0].mode: Unsupported value: "some": supported values: "one", "all", "fixed", "fixedPercent", "randomMaxPercent"`}},
		{"podKill fixed needs value", &PodKillSpec{Mode: ModeFixed}, []string{"spec.faults[0].value: Invalid value: 0: must be >= 1"}},
		{"podKill percent range", &PodKillSpec{Mode: ModeRandomMaxPercent, Value: 101}, []string{"value: Invalid value: 101: must be between 1 and 100"}},
		{"podKill value with one", &PodKillSpec{Value: 2}, []string{"value: Invalid value: 2: must be unset with mode one or all"}},
		{"podKill bad namespace", &PodKillSpec{Namespaces: []string{"ok", "Not_OK"}}, []string{"spec.faults[0].namespaces[1]: Invalid value"}},
		{"podKill negative grace", &PodKillSpec{GracePeriod: -time.Second}, []string{"gracePeriod: Invalid value: \"-1s\": must be >= 0"}},
		{"scale ok", &DeploymentScaleSpec{Name: "db", Kind: "StatefulSet", Replicas: 1}, nil},
		{"scale needs name", &DeploymentScaleSpec{}, []string{"spec.faults[0].name: Required value"}},
		{"scale bad kind", &DeploymentScaleSpec{Name: "x", Kind: "DaemonSet"}, []string{`kind: Unsupported value: "DaemonSet"`}},
		{"scale negative", &DeploymentScaleSpec{Name: "x", Replicas: -1}, []string{"replicas: Invalid value: -1: must be >= 0"}},
		{"rollout ok", &BadRolloutSpec{Name: "api", Containers: []string{"app"}}, nil},
		{"rollout empty container", &BadRolloutSpec{Name: "api", Containers: []string{""}}, []string{"containers[0]: Required value"}},
		{"rollout image whitespace", &BadRolloutSpec{Name: "api", Image: "a b"}, []string{"image: Invalid value"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			errs := tc.spec.Validate(p)
			if len(errs) != len(tc.want) {
				t.Fatalf("got %v, want %v", errs, tc.want)
			}
			for i, w := range tc.want {
				if !strings.Contains(errs[i].Error(), w) {
					t.Errorf("%q does not contain %q", errs[i].Error(), w)
				}
			}
		})
	}
}

func pods(n int) []podRef {
	var out []podRef
	for i := range n {
		out = append(out, podRef{Namespace: "ns", Name: fmt.Sprintf("p%02d", i), UID: types.UID(fmt.Sprint(i))})
	}
	return out
}

func TestChoose(t *testing.T) {
	tests := []struct {
		mode     string
		value    int
		n        int
		min, max int
	}{
		{"", 0, 10, 1, 1}, {ModeOne, 0, 10, 1, 1}, {ModeAll, 0, 10, 10, 10},
		{ModeFixed, 3, 10, 3, 3}, {ModeFixed, 30, 10, 10, 10},
		{ModeFixedPercent, 30, 10, 3, 3}, {ModeFixedPercent, 1, 10, 1, 1}, {ModeFixedPercent, 100, 7, 7, 7},
		{ModeRandomMaxPercent, 50, 10, 1, 5}, {ModeRandomMaxPercent, 1, 10, 1, 1},
	}
	for _, tc := range tests {
		for range 50 {
			got := choose(pods(tc.n), tc.mode, tc.value)
			if len(got) < tc.min || len(got) > tc.max {
				t.Fatalf("%s %d of %d: chose %d, want %d..%d", tc.mode, tc.value, tc.n, len(got), tc.min, tc.max)
			}
			seen := map[types.UID]bool{}
			for _, p := range got {
				if seen[p.UID] {
					t.Fatalf("%s: pod %s chosen twice", tc.mode, p.Name)
				}
				seen[p.UID] = true
			}
		}
	}
}

func TestBlastRadius(t *testing.T) {
	if err := checkNamespace(injectors.BlastRadius{}, "kube-node-lease"); !errors.Is(err, ErrBlastRadius) {
		t.Errorf("default protected namespace allowed: %v", err)
	}
	if err := checkNamespace(injectors.BlastRadius{ProtectedNamespaces: []string{"prod"}}, "prod"); err == nil ||
		!strings.Contains(err.Error(), "protected: kube-system, kube-public, kube-node-lease, prod") {
		t.Errorf("configured protected namespace: %v", err)
	}
	if err := checkNamespace(injectors.BlastRadius{}, "shop"); err != nil {
		t.Errorf("shop: %v", err)
	}
	br := injectors.BlastRadius{MaxPods: 3, MaxPercent: 50}
	for _, tc := range []struct {
		n, matched int
		ok         bool
	}{{3, 6, true}, {4, 10, false}, {3, 5, false}, {1, 2, true}} {
		err := checkCount(br, "podKill", tc.n, tc.matched)
		if (err == nil) != tc.ok {
			t.Errorf("%d of %d: %v", tc.n, tc.matched, err)
		}
	}
}

func TestRegister(t *testing.T) {
	r := injectors.NewRegistry()
	if err := Register(r); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(r.Keys(), ","); got != "badRollout,deploymentScale,podKill" {
		t.Errorf("keys %s", got)
	}
	if err := Register(r); err == nil {
		t.Error("registering twice must fail")
	}
}
