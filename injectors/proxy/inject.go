package proxy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/faultline-dev/faultline/injectors"
)

// Register adds dependencyFailure, latency and partition to r.
func Register(r *injectors.Registry) error {
	return errors.Join(
		r.Register(injectors.Definition{
			Key:     "dependencyFailure",
			Summary: "Make a dependency behind a fault proxy go down, reset connections, hang, or answer HTTP errors.",
			NewSpec: func() any { return &DependencyFailureSpec{} },
			New:     newDependencyFailure,
			Recover: recoverFault,
		}),
		r.Register(injectors.Definition{
			Key:     "latency",
			Summary: "Delay the data through a fault proxy by a fixed time plus jitter.",
			NewSpec: func() any { return &LatencySpec{} },
			New:     newLatency,
			Recover: recoverFault,
		}),
		r.Register(injectors.Definition{
			Key:     "partition",
			Summary: "Black-hole both directions of a fault proxy: existing and new connections hang.",
			NewSpec: func() any { return &PartitionSpec{} },
			New:     newPartition,
			Recover: recoverFault,
		}),
	)
}

// ResourceKey is the key under which the runner puts a proxy's Controller (or
// *Proxy) in Env.Resources.
func ResourceKey(proxy string) string { return "proxy/" + proxy }

// fault is one proxy fault, the common part of the three injectors.
type fault struct {
	key    string
	proxy  string
	env    *injectors.Env
	toxics []Toxic // added in order, removed on revert
	down   bool    // SetEnabled(false) instead of toxics
	action string  // for the plan
	effect string  // Plan.Effect: how unprotected calls behave
	mode   string  // dependencyFailure's mode, for messages
	// baseline runs before the fault (read-only), prove after it.
	baseline func(ctx context.Context, addr string) time.Duration
	prove    func(ctx context.Context, addr string, base time.Duration) (string, error)
}

var _ injectors.Injector = (*fault)(nil)

// journalState is what Recover needs: the proxy, its API if remote, and what was done.
type journalState struct {
	Proxy  string   `json:"proxy"`
	API    string   `json:"api,omitempty"`
	Toxics []string `json:"toxics,omitempty"`
	Down   bool     `json:"down,omitempty"`
}

// toxicName tags a toxic with the run ID, e.g. "faultline-r1234-latency-9f2c1a".
func toxicName(env *injectors.Env, key string) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	id := "norun"
	if env != nil && env.RunID != "" {
		id = env.RunID
	}
	return fmt.Sprintf("faultline-%s-%s-%s", id, key, hex.EncodeToString(b[:]))
}

func (f *fault) controller() (Controller, error) {
	if f.env != nil {
		switch c := f.env.Resources[ResourceKey(f.proxy)].(type) {
		case Controller:
			return c, nil
		case *Proxy:
			return Local(c), nil
		}
	}
	return nil, fmt.Errorf("proxy %q is not running (no resource %s)", f.proxy, ResourceKey(f.proxy))
}

func (f *fault) Plan(ctx context.Context) (injectors.Plan, error) {
	t := injectors.Target{Kind: "proxy", Name: f.proxy, Detail: "not started yet"}
	revert := "remove the toxics " + f.names()
	if f.down {
		revert = "enable the proxy again"
	}
	if c, err := f.controller(); err == nil {
		rc, remote := c.(RemoteController)
		if remote {
			if err := f.checkAPI(ctx, rc); err != nil {
				return injectors.Plan{}, err
			}
		}
		t.Detail = "listening on " + c.Addr()
		if remote {
			t.Detail += " (API " + rc.APIAddr() + ")"
			revert += "; after kill -9, chaos recover does it through the API " + rc.APIAddr()
		} else {
			revert += "; the proxy is in-process: it dies with the runner, so after kill -9 there is nothing to recover"
		}
	}
	return injectors.Plan{Targets: []injectors.Target{t}, Action: f.action, Revert: revert, Effect: f.effect}, ctx.Err()
}

// checkAPI asks a remote proxy's API what it is before anything starts: it must be
// reachable with the credentials given, serve the proxy, and be able to add every
// toxic this fault needs (http_fault is Faultline's own: Toxiproxy lacks it).
func (f *fault) checkAPI(ctx context.Context, rc RemoteController) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	info, err := rc.Describe(ctx)
	if err != nil {
		return fmt.Errorf("proxy %s: %w", f.proxy, err)
	}
	for _, t := range f.toxics {
		if !info.Supports(t.Type) {
			return fmt.Errorf("%s needs the %s toxic, which only `chaos proxy` serves; the API at %s is %s: serve proxy %s with `chaos proxy` (same API, same clients)",
				f.label(), t.Type, rc.APIAddr(), info.Server(), f.proxy)
		}
	}
	return nil
}

// label names the fault in messages ("dependencyFailure mode httpError").
func (f *fault) label() string {
	if f.mode != "" {
		return f.key + " mode " + f.mode
	}
	return f.key
}

func (f *fault) names() string {
	n := make([]string, len(f.toxics))
	for i, t := range f.toxics {
		n[i] = t.Name
	}
	return strings.Join(n, ", ")
}

func (f *fault) Inject(ctx context.Context, j injectors.Journal) (injectors.Injection, error) {
	c, err := f.controller()
	if err != nil {
		return injectors.Injection{}, fmt.Errorf("injecting %s into proxy %s: %w", f.key, f.proxy, err)
	}
	st := journalState{Proxy: f.proxy, Down: f.down}
	for _, t := range f.toxics {
		st.Toxics = append(st.Toxics, t.Name)
	}
	if rc, ok := c.(RemoteController); ok {
		st.API = rc.APIAddr()
	}
	addr := c.Addr()
	var base time.Duration
	if f.baseline != nil {
		base = f.baseline(ctx, addr)
	}
	if err := j.Record(st); err != nil {
		return injectors.Injection{}, fmt.Errorf("injecting %s into proxy %s: journaling: %w", f.key, f.proxy, err)
	}
	revert := func(ctx context.Context) error { return undo(ctx, c, st) }
	fail := func(err error) (injectors.Injection, error) {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		return injectors.Injection{}, errors.Join(
			fmt.Errorf("injecting %s into proxy %s: %w", f.key, f.proxy, err), revert(rctx))
	}
	if f.down {
		err = c.SetEnabled(ctx, false)
	}
	for _, t := range f.toxics {
		if err == nil {
			err = c.AddToxic(ctx, t)
		}
	}
	if err != nil {
		return fail(err)
	}
	active := time.Now()
	proof, err := f.prove(ctx, addr, base)
	if err != nil {
		return fail(fmt.Errorf("no proof the fault is active: %w", err))
	}
	if l, ok := c.(ToxicLister); ok && len(f.toxics) > 0 {
		ts, err := l.Toxics(ctx)
		if err != nil {
			return fail(fmt.Errorf("reading the toxics back: %w", err))
		}
		for _, want := range f.toxics {
			found := false
			for _, t := range ts {
				found = found || t.Name == want.Name
			}
			if !found {
				return fail(fmt.Errorf("toxic %s not read back", want.Name))
			}
		}
		proof = fmt.Sprintf("toxics %s read back; %s", f.names(), proof)
	}
	f.env.Logff("%s on proxy %s: %s", f.key, f.proxy, proof)
	return injectors.Injection{Revert: revert, Proof: proof, ActiveAt: active}, nil
}

// undo removes what st says was done; "already gone" is success.
func undo(ctx context.Context, c Controller, st journalState) error {
	var errs []error
	for _, n := range st.Toxics {
		if err := c.RemoveToxic(ctx, n); err != nil && !gone(err) {
			errs = append(errs, fmt.Errorf("reverting toxic %s on proxy %s: %w", n, st.Proxy, err))
		}
	}
	if st.Down {
		if err := c.SetEnabled(ctx, true); err != nil && !gone(err) {
			errs = append(errs, fmt.Errorf("re-enabling proxy %s: %w", st.Proxy, err))
		}
	}
	return errors.Join(errs...)
}

func gone(err error) bool {
	return errors.Is(err, ErrToxicNotFound) || errors.Is(err, ErrProxyNotFound) || errors.Is(err, ErrClosed)
}

// recoverFault undoes a journaled fault after the runner died. An in-process proxy
// died with the runner (its toxics with it): nothing to do. A remote one is reached
// through its API.
func recoverFault(ctx context.Context, _ *injectors.Env, raw json.RawMessage) error {
	var st journalState
	if err := json.Unmarshal(raw, &st); err != nil {
		return fmt.Errorf("recovering proxy fault: bad journal state: %w", err)
	}
	if st.API == "" {
		return injectors.NothingToRevert("proxy %s ran inside its runner and died with it, its toxics with it", st.Proxy)
	}
	c, err := Remote(st.API, st.Proxy)
	if err != nil {
		return fmt.Errorf("recovering proxy %s: %w", st.Proxy, err)
	}
	return undo(ctx, c, st)
}
