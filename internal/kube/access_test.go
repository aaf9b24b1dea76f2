package kube

import (
	"errors"
	"testing"
)

func TestPermissionString(t *testing.T) {
	for _, tc := range []struct {
		p    Permission
		want string
	}{
		{Permission{Verb: "delete", Resource: "pods", Namespace: "shop"}, "delete pods in namespace shop"},
		{Permission{Verb: "patch", Group: "apps", Resource: "deployments", Namespace: "shop"}, "patch deployments.apps in namespace shop"},
		{Permission{Verb: "update", Group: "apps", Resource: "deployments", Subresource: "scale", Namespace: "x"}, "update deployments.apps/scale in namespace x"},
		{Permission{Verb: "list", Resource: "nodes"}, "list nodes"},
	} {
		if got := tc.p.String(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.p, got, tc.want)
		}
	}
}

func TestMissingPermissionError(t *testing.T) {
	var err error = &MissingPermissionError{Missing: []string{"delete pods in namespace shop"}, User: "system:serviceaccount:chaos:faultline"}
	if got, want := err.Error(), "missing permission: delete pods in namespace shop (as system:serviceaccount:chaos:faultline)"; got != want {
		t.Errorf("%q, want %q", got, want)
	}
	if !errors.Is(err, ErrMissingPermission) {
		t.Error("errors.Is(err, ErrMissingPermission) is false")
	}
	err = &MissingPermissionError{Missing: []string{"a", "b"}, User: "u"}
	if got, want := err.Error(), "missing permissions: a; b (as u)"; got != want {
		t.Errorf("%q, want %q", got, want)
	}
}
