package controlplane

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// StateFile is the name of the file in Dir recording what was started.
const StateFile = "state.json"

// State is what StateFile records: enough to stop a detached control plane.
type State struct {
	Version    string         `json:"version"`
	Dir        string         `json:"dir"`
	Kubeconfig string         `json:"kubeconfig"`
	Server     string         `json:"server"`
	Processes  []ProcessState `json:"processes"`
}

// ProcessState is one started component.
type ProcessState struct {
	Name string `json:"name"`
	PID  int    `json:"pid"` // also its process group ID
	Exe  string `json:"exe"` // binary path, checked before signalling the PID
	Log  string `json:"log"`
}

func (c *ControlPlane) writeState() error {
	c.mu.Lock()
	st := State{Version: Version, Dir: c.Dir, Kubeconfig: c.Kubeconfig, Server: c.Server}
	for _, p := range c.procs {
		st.Processes = append(st.Processes, ProcessState{Name: p.name, PID: p.pid, Exe: filepath.Join(c.BinDir, p.name), Log: p.log})
	}
	c.mu.Unlock()
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(c.Dir, StateFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("writing state: %w", err)
	}
	return os.Rename(tmp, filepath.Join(c.Dir, StateFile))
}

// ReadState reads dir/state.json.
func ReadState(dir string) (State, error) {
	var st State
	b, err := os.ReadFile(filepath.Join(dir, StateFile))
	if err != nil {
		return st, fmt.Errorf("reading control plane state: %w", err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("reading control plane state %s: %w", filepath.Join(dir, StateFile), err)
	}
	return st, nil
}

// StopDir stops the control plane recorded in dir/state.json (started detached,
// or by a process that died) by process group, in reverse order, then removes dir
// when removeDir is set. A PID that no longer runs the recorded binary (exited,
// or reused by another program) is left alone. Idempotent: no state file is
// success.
func StopDir(ctx context.Context, dir string, removeDir bool) error {
	st, err := ReadState(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for i := len(st.Processes) - 1; i >= 0; i-- {
		ps := st.Processes[i]
		if exe := exeOf(ps.PID); exe == "" || exe != ps.Exe {
			continue // gone, or not ours any more
		}
		p := &process{name: ps.Name, pid: ps.PID, log: ps.Log}
		if err := p.stop(ctx, 5*time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if removeDir {
		return os.RemoveAll(dir)
	}
	return os.Remove(filepath.Join(dir, StateFile))
}

// removeStaleTempDirs removes temporary control plane directories left behind by
// processes killed with SIGKILL (their components died with them by Pdeathsig,
// but nobody removed the directory): those whose recorded processes all exited,
// or without a state file and older than an hour.
func removeStaleTempDirs() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), tempDirPattern+"*"))
	for _, d := range dirs {
		st, err := ReadState(d)
		if err != nil {
			if fi, err := os.Stat(d); err == nil && time.Since(fi.ModTime()) > time.Hour {
				_ = os.RemoveAll(d)
			}
			continue
		}
		running := false
		for _, p := range st.Processes {
			if exe := exeOf(p.PID); exe != "" && exe == p.Exe {
				running = true
			}
		}
		if !running {
			_ = os.RemoveAll(d)
		}
	}
}
