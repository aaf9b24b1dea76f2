package experiments

import (
	"context"

	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// endpoint is a host:port of a proxy, resolved to the addresses it stands for.
type endpoint struct {
	text string
	port int
	any  bool         // "", 0.0.0.0 or [::]: every local address
	ips  []netip.Addr // nil with any, or when the name did not resolve
}

// proxyGraph resolves the listen and upstream addresses of an experiment's own
// proxies to find the ones that would feed themselves.
type proxyGraph struct {
	local    map[netip.Addr]bool // addresses of this host, read on first use
	resolved map[string][]netip.Addr
}

func (g *proxyGraph) endpoint(hostport string) (endpoint, bool) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return endpoint{}, false
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		return endpoint{}, false
	}
	e := endpoint{text: hostport, port: n}
	lower := strings.ToLower(strings.TrimSuffix(host, "."))
	switch a, err := netip.ParseAddr(host); {
	case host == "":
		e.any = true
	case err == nil:
		a = a.Unmap()
		e.any = a.IsUnspecified()
		e.ips = []netip.Addr{a}
	case lower == "localhost" || strings.HasSuffix(lower, ".localhost"):
		e.ips = []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.IPv6Loopback()}
	default:
		e.ips = g.resolve(host)
	}
	return e, true
}

// resolve looks a name up (hosts file, then DNS), briefly: a name that does not
// resolve now cannot be proved to loop, and validation must not hang on it.
func (g *proxyGraph) resolve(host string) []netip.Addr {
	if ips, ok := g.resolved[host]; ok {
		return ips
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	addrs, _ := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	var ips []netip.Addr
	for _, a := range addrs {
		ips = append(ips, a.Unmap())
	}
	if g.resolved == nil {
		g.resolved = map[string][]netip.Addr{}
	}
	g.resolved[host] = ips
	return ips
}

func (g *proxyGraph) isLocal(a netip.Addr) bool {
	if a.IsLoopback() || a.IsUnspecified() {
		return true
	}
	if g.local == nil {
		g.local = map[netip.Addr]bool{}
		if addrs, err := net.InterfaceAddrs(); err == nil {
			for _, ad := range addrs {
				if p, err := netip.ParsePrefix(ad.String()); err == nil {
					g.local[p.Addr().Unmap()] = true
				}
			}
		}
	}
	return g.local[a]
}

// reaches reports whether connecting to up lands on a proxy listening on ln.
func (g *proxyGraph) reaches(up, ln endpoint) bool {
	if up.port != ln.port {
		return false
	}
	if ln.any {
		if up.any {
			return true
		}
		for _, a := range up.ips {
			if g.isLocal(a) {
				return true
			}
		}
		return false
	}
	if up.any {
		for _, a := range ln.ips {
			if g.isLocal(a) {
				return true
			}
		}
		return false
	}
	return overlaps(up.ips, ln.ips)
}

// sameListen reports whether two proxies would bind the same address.
func sameListen(a, b endpoint) bool {
	return a.port == b.port && (a.any || b.any || overlaps(a.ips, b.ips))
}

func overlaps(a, b []netip.Addr) bool {
	for _, x := range a {
		for _, y := range b {
			if x == y {
				return true
			}
		}
	}
	return false
}

// checkProxyLoops refuses what would make the experiment's own proxies feed
// themselves: port 0, two proxies on one listen address, a proxy whose upstream is
// its own listen address (also through localhost or a name of this host), and a
// chain A → B → A. A real run of a self loop opens file descriptors until none is left.
func checkProxyLoops(c *checker, proxies []ProxySpec) {
	g := &proxyGraph{}
	type node struct {
		i        int
		listen   endpoint
		upstream endpoint
	}
	var nodes []node
	for i, px := range proxies {
		if px.API != "" || px.Listen == "" || px.Upstream == "" ||
			checkHostPort(px.Listen) != "" || checkHostPort(px.Upstream) != "" {
			continue // reported by checkProxies, or served elsewhere
		}
		p := "spec.proxies[" + strconv.Itoa(i) + "]"
		ln, ok1 := g.endpoint(px.Listen)
		up, ok2 := g.endpoint(px.Upstream)
		if !ok1 || !ok2 {
			continue
		}
		bad := false
		if ln.port == 0 {
			c.add(p+".listen", "port 0 would pick a random port that nothing is pointed at: give a port")
			bad = true
		}
		if up.port == 0 {
			c.add(p+".upstream", "port 0 is not a port to connect to: give the upstream's port")
			bad = true
		}
		if bad {
			continue
		}
		for _, o := range nodes {
			if sameListen(o.listen, ln) {
				c.add(p+".listen", "%s is also the listen address of spec.proxies[%d] (%s): two proxies cannot listen on one address",
					px.Listen, o.i, proxies[o.i].Listen)
			}
		}
		nodes = append(nodes, node{i, ln, up})
	}
	// next[a] lists the proxies a's upstream lands on.
	next := make([][]int, len(nodes))
	for a := range nodes {
		for b := range nodes {
			if g.reaches(nodes[a].upstream, nodes[b].listen) {
				next[a] = append(next[a], b)
			}
		}
	}
	for a := range nodes {
		cycle := findCycle(next, a)
		if cycle == nil || minOf(cycle) != a {
			continue // no loop through a, or reported at its first proxy
		}
		px := proxies[nodes[a].i]
		p := "spec.proxies[" + strconv.Itoa(nodes[a].i) + "].upstream"
		if len(cycle) == 1 {
			c.add(p, "%s is the proxy's own listen address %s: every connection would connect to itself until file descriptors run out",
				px.Upstream, px.Listen)
			continue
		}
		names := make([]string, 0, len(cycle)+1)
		for _, n := range cycle {
			names = append(names, proxies[nodes[n].i].Name)
		}
		names = append(names, px.Name)
		c.add(p, "proxies forward in a loop: %s (each upstream is the next one's listen address); a connection would circle until file descriptors run out",
			strings.Join(names, " → "))
	}
}

// findCycle returns a shortest path start → … → start (without the final start),
// or nil.
func findCycle(next [][]int, start int) []int {
	prev := map[int]int{}
	queue := []int{start}
	seen := map[int]bool{}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		for _, m := range next[n] {
			if m == start {
				path := []int{n}
				for n != start {
					n = prev[n]
					path = append([]int{n}, path...)
				}
				return path
			}
			if !seen[m] {
				seen[m] = true
				prev[m] = n
				queue = append(queue, m)
			}
		}
	}
	return nil
}

func minOf(xs []int) int {
	m := xs[0]
	for _, x := range xs[1:] {
		m = min(m, x)
	}
	return m
}
