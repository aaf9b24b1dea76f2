package process

import (
	"errors"

	"github.com/faultline-dev/faultline/injectors"
)

// Register adds processKill and processPause to r.
func Register(r *injectors.Registry) error {
	return errors.Join(
		r.Register(injectors.Definition{
			Key:     "processKill",
			Summary: "Send a signal (default SIGKILL) to local processes chosen by pid, pidFile or command-line match.",
			NewSpec: func() any { return &KillSpec{} },
			New: func(spec any, _ *injectors.Env) (injectors.Injector, error) {
				s := spec.(*KillSpec)
				sig, err := parseSignal(s.Signal)
				if err != nil {
					return nil, err
				}
				return &Kill{spec: *s, sig: sig}, nil
			},
		}),
		r.Register(injectors.Definition{
			Key:     "processPause",
			Summary: "Freeze local processes with SIGSTOP for the fault's duration; SIGCONT on revert.",
			NewSpec: func() any { return &PauseSpec{} },
			New: func(spec any, _ *injectors.Env) (injectors.Injector, error) {
				return &Pause{spec: *spec.(*PauseSpec)}, nil
			},
			Recover: recoverPause,
		}),
	)
}
