package process

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/faultline-dev/faultline/injectors"
)

// Register adds processKill and processPause to r.
func Register(r *injectors.Registry) error {
	return errors.Join(
		r.Register(injectors.Definition{
			Key:     "processKill",
			Summary: "Send a signal (default SIGKILL) to local processes chosen by pid, pidFile or command-line match.",
			NewSpec: func() any { return &KillSpec{} },
			New: func(spec any, env *injectors.Env) (injectors.Injector, error) {
				s := spec.(*KillSpec)
				sig, err := parseSignal(s.Signal)
				if err != nil {
					return nil, err
				}
				if stops(sig) {
					return nil, fmt.Errorf("processKill: %s stops a process: use processPause", unix.SignalName(sig))
				}
				return &Kill{spec: *s, sig: sig, br: blastRadius(env)}, nil
			},
		}),
		r.Register(injectors.Definition{
			Key:     "processPause",
			Summary: "Freeze local processes with SIGSTOP for the fault's duration; SIGCONT on revert.",
			NewSpec: func() any { return &PauseSpec{} },
			New: func(spec any, env *injectors.Env) (injectors.Injector, error) {
				return &Pause{spec: *spec.(*PauseSpec), br: blastRadius(env)}, nil
			},
			Recover: recoverPause,
		}),
	)
}

func blastRadius(env *injectors.Env) injectors.BlastRadius {
	if env == nil {
		return injectors.BlastRadius{}
	}
	return env.BlastRadius
}
