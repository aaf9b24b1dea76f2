package netfault

// The host-network guard. A network fault in the runner's own network namespace
// whose addresses cover everything (no cidrs, only ports, or cidrs such as
// 0.0.0.0/0 and ::/0) would cut or degrade every connection of the host the
// runner is on: its own probes, the cluster it talks to, the operator's SSH
// session. Plan refuses it unless safety.blastRadius.allowHostNetwork is true,
// and then says in the plan what it will cut.

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/faultline-dev/faultline/injectors"
)

// guarded checks the host-network guard before its fault plans or injects.
type guarded struct {
	injectors.Injector
	key    string
	target Target
	cidrs  []string // the addresses the fault acts on; none: every address
	ports  []int
	allow  bool
}

// guard wraps inj with the host-network guard.
func guard(inj injectors.Injector, key string, t Target, cidrs []string, ports []int, env *injectors.Env) injectors.Injector {
	return &guarded{Injector: inj, key: key, target: t, cidrs: cidrs, ports: ports, allow: env != nil && env.BlastRadius.AllowHostNetwork}
}

// hostWide says what the fault would hit host-wide, or "" when it does not cover
// every address of the runner's own network namespace.
func (g *guarded) hostWide() string {
	if !coversAll(g.cidrs) {
		return ""
	}
	ino, err := nsInode(nsPath(g.target))
	if err != nil {
		return "" // the fault's own Plan says the namespace is missing
	}
	self, err := nsInode(selfNS)
	if err != nil || ino != self {
		return ""
	}
	what := "every address"
	if len(g.cidrs) > 0 {
		what = strings.Join(g.cidrs, ", ") + " (every address)"
	}
	if len(g.ports) > 0 {
		ps := make([]string, len(g.ports))
		for i, p := range g.ports {
			ps[i] = fmt.Sprint(p)
		}
		what += " on ports " + strings.Join(ps, ",")
	}
	ifs := "every interface"
	if len(g.target.Interfaces) > 0 {
		ifs = "interfaces " + strings.Join(g.target.Interfaces, ",")
	}
	return fmt.Sprintf("every connection of this host to %s through %s of the runner's own network namespace", what, ifs)
}

func (g *guarded) check() (string, error) {
	what := g.hostWide()
	if what != "" && !g.allow {
		return "", fmt.Errorf("%s refused by the host-network guard: it would hit %s (the runner's probes and an SSH session included); "+
			"target another namespace (target.netns or target.pid), narrow it to some addresses, or opt in with safety.blastRadius.allowHostNetwork: true",
			g.key, what)
	}
	return what, nil
}

// Plan implements injectors.Injector: the guard, then the fault's own plan.
func (g *guarded) Plan(ctx context.Context) (injectors.Plan, error) {
	what, err := g.check()
	if err != nil {
		return injectors.Plan{}, err
	}
	p, err := g.Injector.Plan(ctx)
	if err == nil && what != "" {
		p.Action += "; HOST-WIDE (safety.blastRadius.allowHostNetwork): hits " + what
	}
	return p, err
}

// Inject implements injectors.Injector; it checks the guard again (Go users may
// inject without planning).
func (g *guarded) Inject(ctx context.Context, j injectors.Journal) (injectors.Injection, error) {
	if _, err := g.check(); err != nil {
		return injectors.Injection{}, err
	}
	return g.Injector.Inject(ctx, j)
}

// Unwrap returns the guarded fault.
func (g *guarded) Unwrap() injectors.Injector { return g.Injector }

// coversAll reports whether cidrs (none: every address) cover the whole IPv4 or
// the whole IPv6 address space, e.g. 0.0.0.0/0, or 0.0.0.0/1 with 128.0.0.0/1.
func coversAll(cidrs []string) bool {
	if len(cidrs) == 0 {
		return true
	}
	var v4, v6 []netip.Prefix
	for _, c := range cidrs {
		p, err := parseCIDR(c)
		if err != nil {
			continue
		}
		if p.Addr().Is4() {
			v4 = append(v4, p)
		} else {
			v6 = append(v6, p)
		}
	}
	return covers(v4, netip.IPv4Unspecified()) || covers(v6, netip.IPv6Unspecified())
}

// covers reports whether the prefixes cover every address from zero (of one family).
func covers(ps []netip.Prefix, zero netip.Addr) bool {
	if len(ps) == 0 {
		return false
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].Addr().Less(ps[j].Addr()) })
	next := zero // the first address not yet covered
	for _, p := range ps {
		if next.Less(p.Addr()) {
			return false // a gap
		}
		last := lastAddr(p)
		if !last.Next().IsValid() {
			return true // reached the end of the space
		}
		if next.Less(last.Next()) {
			next = last.Next()
		}
	}
	return false
}

// lastAddr is the highest address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}
