package experiments

import (
	"context"
	"errors"
	"fmt"

	"github.com/faultline-dev/faultline/injectors/proxy"
)

// startResources starts what the experiment owns for its lifetime (spec.proxies) and
// puts them into the injectors' Env.Resources as "proxy/<name>" → proxy.Controller.
// A proxy with an api address is one served by a running `chaos proxy` (or
// Toxiproxy): it is only looked up, never started or stopped, with the credentials
// of $FAULTLINE_PROXY_TOKEN_FILE or $FAULTLINE_PROXY_TOKEN (see proxy.Remote); a dry
// run looks up only those (so the plan can ask their API what it can do). The
// returned function closes every proxy this run started.
func (r *run) startResources(ctx context.Context) (func(), error) {
	var started []*proxy.Proxy
	stop := func() {
		for _, p := range started {
			_ = p.Close()
		}
	}
	for _, ps := range r.e.Spec.Proxies {
		if ps.API != "" {
			c, err := proxy.Remote(ps.API, ps.Name)
			if err != nil {
				stop()
				return func() {}, fmt.Errorf("proxy %q at %s: %w", ps.Name, ps.API, err)
			}
			r.env.Resources["proxy/"+ps.Name] = c
			continue
		}
		if r.opts.DryRun {
			continue
		}
		p, err := proxy.New(proxy.Config{Name: ps.Name, Listen: ps.Listen, Upstream: ps.Upstream})
		if err == nil {
			err = p.Start()
		}
		if err != nil {
			stop()
			return func() {}, fmt.Errorf("proxy %q: %w", ps.Name, err)
		}
		started = append(started, p)
		r.env.Resources["proxy/"+ps.Name] = proxy.Local(p)
		r.prog.event("proxy %s listening on %s -> %s", ps.Name, p.Addr(), ps.Upstream)
	}
	if ctx.Err() != nil {
		stop()
		return func() {}, errors.New("interrupted while starting proxies")
	}
	return stop, nil
}
