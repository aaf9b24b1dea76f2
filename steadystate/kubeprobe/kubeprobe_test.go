package kubeprobe

import (
	"context"
	"errors"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/faultline-dev/faultline/internal/kube"
	"github.com/faultline-dev/faultline/steadystate"
)

func i32(v int32) *int32 { return &v }

func TestValidate(t *testing.T) {
	p := field.NewPath("spec", "steadyState", "probes").Index(0).Child("kubernetes")
	tests := []struct {
		name string
		spec Spec
		want []string // "field: message fragment"
	}{
		{"selector ok", Spec{Selector: "app=web", ReadyAtLeast: i32(2)}, nil},
		{"selector equals desired", Spec{Selector: "app=web", ReadyEqualsDesired: true}, nil},
		{"workload ok", Spec{Workload: &WorkloadSpec{Kind: "StatefulSet", Name: "db"}, ReadyAtLeast: i32(1)}, nil},
		{"object ok", Spec{Object: &ObjectSpec{APIVersion: "v1", Kind: "Namespace", Name: "x", JSONPath: "{.status.phase}", Equals: "Active"}}, nil},
		{"no mode", Spec{}, []string{"spec.steadyState.probes[0].kubernetes: Required value: must set one of selector, workload, object"}},
		{"two modes", Spec{Selector: "a=b", ReadyAtLeast: i32(1), Workload: &WorkloadSpec{Name: "w"}},
			[]string{"kubernetes: Forbidden: must set only one of"}},
		{"selector needs a comparison", Spec{Selector: "app=web"}, []string{"kubernetes.readyAtLeast: Required value"}},
		{"bad selector", Spec{Selector: "app in (", ReadyAtLeast: i32(1)}, []string{"kubernetes.selector: Invalid value"}},
		{"bad kind", Spec{Workload: &WorkloadSpec{Kind: "DaemonSet", Name: "x"}}, []string{`kubernetes.workload.kind: Unsupported value: "DaemonSet"`}},
		{"workload without name", Spec{Workload: &WorkloadSpec{}}, []string{"kubernetes.workload.name: Required value"}},
		{"equals desired with workload", Spec{Workload: &WorkloadSpec{Name: "x"}, ReadyEqualsDesired: true}, []string{"kubernetes.readyEqualsDesired: Invalid value"}},
		{"object incomplete", Spec{Object: &ObjectSpec{APIVersion: "v1", JSONPath: "{.a"}},
			[]string{"kubernetes.object.kind: Required value", "kubernetes.object.name: Required value", "kubernetes.object.jsonPath: Invalid value"}},
		{"negative", Spec{Selector: "a=b", ReadyAtLeast: i32(-1)}, []string{"kubernetes.readyAtLeast: Invalid value: -1: must be >= 0"}},
		{"bad namespace", Spec{Namespace: "Shop", Selector: "a=b", ReadyAtLeast: i32(1)}, []string{"kubernetes.namespace: Invalid value"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			errs := tc.spec.Validate(p)
			if len(errs) != len(tc.want) {
				t.Fatalf("got %d errors %v, want %d %v", len(errs), errs, len(tc.want), tc.want)
			}
			if len(errs) == 0 {
				return
			}
			got := errs.ToAggregate().Error()
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("%q does not contain %q", got, w)
				}
			}
		})
	}
}

func TestNoKubernetesTargetIsErrored(t *testing.T) {
	for _, env := range []*steadystate.Env{nil, {}, {Kube: func() (*kube.Client, error) { return nil, errors.New("no target") }}} {
		o := New(Spec{Selector: "a=b", ReadyAtLeast: i32(1)}, env).Probe(context.Background())
		if o.Status != steadystate.StatusErrored || o.Time.IsZero() || o.Detail == "" {
			t.Errorf("got %+v, want an errored observation with time and detail", o)
		}
	}
}

func TestRegister(t *testing.T) {
	r := steadystate.NewRegistry()
	if err := Register(r); err != nil {
		t.Fatal(err)
	}
	if err := Register(r); err == nil {
		t.Error("registering twice must fail")
	}
	d, ok := r.Probe("kubernetes")
	if !ok {
		t.Fatal("kubernetes probe not registered")
	}
	if _, ok := d.NewSpec().(*Spec); !ok {
		t.Errorf("NewSpec returned %T", d.NewSpec())
	}
}
