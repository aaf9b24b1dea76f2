package gameday

import (
	"reflect"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/faultline-dev/faultline/internal/kube"
)

func TestRulesGroupPermissionsPerNamespace(t *testing.T) {
	nss, rules := Rules([]kube.Permission{
		{Verb: "delete", Resource: "pods", Namespace: "shop"},
		{Verb: "list", Resource: "pods", Namespace: "shop"},
		{Verb: "list", Resource: "pods", Namespace: "shop"},
		{Verb: "patch", Group: "apps", Resource: "deployments", Namespace: "shop"},
		{Verb: "get", Group: "apps", Resource: "deployments", Namespace: "shop"},
		{Verb: "update", Group: "apps", Resource: "deployments", Subresource: "scale", Namespace: "api"},
		{Verb: "list", Resource: "nodes"},
	})
	if want := []string{"", "api", "shop"}; !reflect.DeepEqual(nss, want) {
		t.Fatalf("namespaces %v, want %v", nss, want)
	}
	want := map[string][]rbacv1.PolicyRule{
		"":    {{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"list"}}},
		"api": {{APIGroups: []string{"apps"}, Resources: []string{"deployments/scale"}, Verbs: []string{"update"}}},
		"shop": {
			{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"list", "delete"}},
			{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"get", "patch"}},
		},
	}
	if !reflect.DeepEqual(rules, want) {
		t.Fatalf("rules\n%v\nwant\n%v", rules, want)
	}
}
