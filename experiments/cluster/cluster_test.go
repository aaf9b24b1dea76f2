package cluster

import (
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"
)

func TestObjectNameIsDNS1123(t *testing.T) {
	for _, exp := range []string{"web-heals", "Checkout_Survives payments", strings.Repeat("x", 300)} {
		name := ObjectName(exp, "20261130t081502-3f9a1c")
		if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
			t.Errorf("ObjectName(%q) = %q: %v", exp, name, errs)
		}
		if !strings.HasSuffix(name, "-20261130t081502-3f9a1c") {
			t.Errorf("ObjectName(%q) = %q lacks the run ID", exp, name)
		}
	}
	if v := labelValue(strings.Repeat("a", 70) + "!"); len(validation.IsValidLabelValue(v)) > 0 {
		t.Errorf("labelValue gives an invalid label value %q", v)
	}
}

func TestLeaseAlive(t *testing.T) {
	now := time.Now()
	lease := func(renewedAgo time.Duration, seconds int32) *coordinationv1.Lease {
		return &coordinationv1.Lease{Spec: coordinationv1.LeaseSpec{
			RenewTime: &metav1.MicroTime{Time: now.Add(-renewedAgo)}, LeaseDurationSeconds: ptr.To(seconds)}}
	}
	if !LeaseAlive(lease(time.Second, 10), now) {
		t.Error("a lease renewed 1s ago with 10s is dead")
	}
	if LeaseAlive(lease(11*time.Second, 10), now) {
		t.Error("a lease renewed 11s ago with 10s is alive")
	}
	if LeaseAlive(&coordinationv1.Lease{}, now) {
		t.Error("a lease never renewed is alive")
	}
}
