// Package install registers Faultline's built-in fault kinds. It is the one place that
// lists them; Go users build their own registry with Register and add their kinds.
package install

import (
	"errors"

	"github.com/faultline-dev/faultline/injectors"
	"github.com/faultline-dev/faultline/injectors/chaosmesh"
	"github.com/faultline-dev/faultline/injectors/kubernetes"
	"github.com/faultline-dev/faultline/injectors/process"
	"github.com/faultline-dev/faultline/injectors/proxy"
)

// Register adds every built-in fault kind to r.
func Register(r *injectors.Registry) error {
	return errors.Join(
		process.Register(r),
		proxy.Register(r),
		registerNetwork(r),
		kubernetes.Register(r),
		chaosmesh.Register(r),
	)
}
