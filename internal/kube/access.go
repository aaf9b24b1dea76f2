package kube

import (
	"context"
	"errors"
	"fmt"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// ErrMissingPermission is wrapped by CheckAccess's error when RBAC denies a verb.
var ErrMissingPermission = errors.New("kube: missing permission")

// Permission is one verb on one resource, in one namespace ("" for cluster-wide).
type Permission struct {
	Verb        string // get, list, watch, create, update, patch, delete
	Group       string // "" for the core group, "apps"
	Resource    string // plural: pods, deployments
	Subresource string // e.g. "scale"
	Namespace   string
}

// String reads as in an error message: "delete pods in namespace shop",
// "patch deployments.apps in namespace shop", "list nodes".
func (p Permission) String() string {
	res := p.Resource
	if p.Group != "" {
		res += "." + p.Group
	}
	if p.Subresource != "" {
		res += "/" + p.Subresource
	}
	if p.Namespace == "" {
		return p.Verb + " " + res
	}
	return p.Verb + " " + res + " in namespace " + p.Namespace
}

// CheckAccess asks the API server, with one SelfSubjectAccessReview per
// permission, whether the client's identity may do each of perms. When some are
// denied it returns an error wrapping ErrMissingPermission that names all of them
// and the identity, e.g. "missing permission: delete pods in namespace shop (as
// system:serviceaccount:chaos:faultline)". It creates nothing but the reviews.
func CheckAccess(ctx context.Context, cs kubernetes.Interface, perms ...Permission) error {
	var missing []string
	for _, p := range perms {
		r := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Namespace: p.Namespace, Verb: p.Verb, Group: p.Group, Resource: p.Resource, Subresource: p.Subresource,
			},
		}}
		res, err := cs.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, r, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("checking permission to %s: %w", p, err)
		}
		if !res.Status.Allowed {
			missing = append(missing, p.String())
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return &MissingPermissionError{Missing: missing, User: WhoAmI(ctx, cs)}
}

// MissingPermissionError names the permissions RBAC denied and the identity asking.
// errors.Is(err, ErrMissingPermission) holds for it.
type MissingPermissionError struct {
	Missing []string // Permission.String() of each denied permission
	User    string
}

func (e *MissingPermissionError) Error() string {
	word := "permission"
	if len(e.Missing) > 1 {
		word = "permissions"
	}
	return fmt.Sprintf("missing %s: %s (as %s)", word, strings.Join(e.Missing, "; "), e.User)
}

// Is makes errors.Is(err, ErrMissingPermission) true.
func (e *MissingPermissionError) Is(target error) bool { return target == ErrMissingPermission }

// WhoAmI returns the user name the client authenticates as (SelfSubjectReview),
// or "unknown user" when the server cannot say.
func WhoAmI(ctx context.Context, cs kubernetes.Interface) string {
	res, err := cs.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil || res.Status.UserInfo.Username == "" {
		return "unknown user"
	}
	return res.Status.UserInfo.Username
}
