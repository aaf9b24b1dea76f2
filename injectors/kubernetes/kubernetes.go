// Package kubernetes implements the Kubernetes fault family:
//
//   - podKill: delete pods chosen by namespace, label/field selector and mode;
//     proof: every chosen pod's UID is gone. Nothing to revert (their controllers
//     re-create them; that healing is what experiments measure).
//   - deploymentScale: scale a Deployment or StatefulSet (to 0: a dependency outage);
//     the original replica count is saved on the object (annotations) and in the
//     journal first; revert and Recover restore it.
//   - badRollout: start a rollout that can never become ready (an unpullable image or
//     a failing command); the original pod template is saved on the object and in
//     the journal first; revert restores it unless something else (the platform's
//     automated rollback) already did.
//
// Every fault checks, in Plan, the experiment's blast radius (protected
// namespaces, maxPods, maxPercent, no empty selector without allowAll) and the
// caller's RBAC permissions (SelfSubjectAccessReview), so that a refused or
// forbidden fault fails before anything is changed.
//
// Objects changed are annotated with AnnotationRunID; the annotations are removed
// again by revert.
package kubernetes

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/faultline-dev/faultline/injectors"
	"github.com/faultline-dev/faultline/internal/kube"
)

// Annotations written on objects a fault changes.
const (
	AnnotationRunID            = "faultline.dev/run-id"
	AnnotationOriginalReplicas = "faultline.dev/original-replicas"
	AnnotationOriginalTemplate = "faultline.dev/original-template"
)

// DefaultProtectedNamespaces are never touched, whatever the experiment says.
var DefaultProtectedNamespaces = []string{"kube-system", "kube-public", "kube-node-lease"}

// ErrBlastRadius is wrapped by Plan errors that refuse a fault for exceeding the
// experiment's blast radius.
var ErrBlastRadius = errors.New("blast radius exceeded")

// Register adds podKill, deploymentScale and badRollout to r.
func Register(r *injectors.Registry) error {
	for _, d := range []injectors.Definition{podKillDefinition(), deploymentScaleDefinition(), badRolloutDefinition()} {
		if err := r.Register(d); err != nil {
			return err
		}
	}
	return nil
}

// client returns the Kubernetes client of env.
func client(env *injectors.Env) (*kube.Client, error) {
	if env == nil || env.Kube == nil {
		return nil, errors.New("no kubernetes target: set spec.target.kubernetes")
	}
	c, err := env.Kube()
	if err != nil {
		return nil, err
	}
	return c, nil
}

// checkNamespace refuses a protected namespace.
func checkNamespace(b injectors.BlastRadius, ns string) error {
	if slices.Contains(DefaultProtectedNamespaces, ns) || slices.Contains(b.ProtectedNamespaces, ns) {
		return fmt.Errorf("%w: namespace %s is protected (protected: %s)", ErrBlastRadius, ns,
			strings.Join(protected(b), ", "))
	}
	return nil
}

func protected(b injectors.BlastRadius) []string {
	out := slices.Clone(DefaultProtectedNamespaces)
	for _, ns := range b.ProtectedNamespaces {
		if !slices.Contains(out, ns) {
			out = append(out, ns)
		}
	}
	return out
}

// checkCount refuses hitting n pods of matched when over maxPods or maxPercent.
func checkCount(b injectors.BlastRadius, what string, n, matched int) error {
	if b.MaxPods > 0 && n > b.MaxPods {
		return fmt.Errorf("%w: %s would hit %d pods, more than maxPods %d", ErrBlastRadius, what, n, b.MaxPods)
	}
	if b.MaxPercent > 0 && matched > 0 && n*100 > b.MaxPercent*matched {
		return fmt.Errorf("%w: %s would hit %d of %d matched pods (%d%%), more than maxPercent %d%%",
			ErrBlastRadius, what, n, matched, n*100/matched, b.MaxPercent)
	}
	return nil
}
