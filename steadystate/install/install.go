// Package install registers Faultline's built-in probes and assertions. It is the one
// place that lists them.
package install

import (
	"errors"

	"github.com/faultline-dev/faultline/steadystate"
	"github.com/faultline-dev/faultline/steadystate/circuitbreaker"
	"github.com/faultline-dev/faultline/steadystate/execprobe"
	"github.com/faultline-dev/faultline/steadystate/httpprobe"
	"github.com/faultline-dev/faultline/steadystate/kubeprobe"
	"github.com/faultline-dev/faultline/steadystate/promprobe"
	"github.com/faultline-dev/faultline/steadystate/rollback"
	"github.com/faultline-dev/faultline/steadystate/selfhealing"
	"github.com/faultline-dev/faultline/steadystate/tcpprobe"
)

// Register adds every built-in probe and assertion kind to r.
func Register(r *steadystate.Registry) error {
	return errors.Join(
		httpprobe.Register(r),
		tcpprobe.Register(r),
		execprobe.Register(r),
		circuitbreaker.Register(r),
		kubeprobe.Register(r),
		promprobe.Register(r),
		rollback.RegisterAssertion(r),
		selfhealing.Register(r),
	)
}
