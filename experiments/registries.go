package experiments

import (
	"errors"

	"github.com/faultline-dev/faultline/injectors"
	injectorsinstall "github.com/faultline-dev/faultline/injectors/install"
	"github.com/faultline-dev/faultline/steadystate"
	steadystateinstall "github.com/faultline-dev/faultline/steadystate/install"
)

// DefaultRegistries returns new registries holding every built-in fault, probe and
// assertion. Go users may Register their own kinds on them before decoding.
func DefaultRegistries() (Registries, error) {
	reg := Registries{Injectors: injectors.NewRegistry(), Probes: steadystate.NewRegistry()}
	err := errors.Join(injectorsinstall.Register(reg.Injectors), steadystateinstall.Register(reg.Probes))
	return reg, err
}
