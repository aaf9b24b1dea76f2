package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path"
	"strconv"
	"strings"
	"syscall"
)

// ErrUpstreamNotAllowed is returned for an upstream outside the server's allow-list
// (the API answers 403).
var ErrUpstreamNotAllowed = errors.New("proxy: upstream not allowed")

// AllowList restricts the upstreams a Server creates proxies for, so that whoever
// drives the API cannot turn the proxy into a tunnel to anything else it can reach.
// Each entry is one of:
//
//	payments.shop.svc:8080    host name and port
//	*.shop.svc:*              a glob on the host name ('*' matches any run of characters, dots included); port * = any
//	10.0.0.0/8                a CIDR (or one IP address), any port
//	10.0.3.0/24:5432          a CIDR (or one IP address) and a port; IPv6: [fd00::/8]:443
//
// A host name matched by a name entry is allowed as named. Otherwise every address
// the name resolves to must lie in a CIDR entry, and each connection's dialed
// address is checked again (a later DNS answer cannot escape the list).
type AllowList struct {
	rules []allowRule
	text  string
}

type allowRule struct {
	glob   string       // lower-case host glob; "" for a CIDR rule
	prefix netip.Prefix // valid for a CIDR rule
	port   int          // 0: any
}

// ParseAllowList parses the entries; it reports every bad one.
func ParseAllowList(entries []string) (*AllowList, error) {
	a := &AllowList{text: strings.Join(entries, ", ")}
	var errs []error
	for _, e := range entries {
		r, err := parseAllowRule(strings.TrimSpace(e))
		if err != nil {
			errs = append(errs, fmt.Errorf("allowed upstream %q: %w", e, err))
			continue
		}
		a.rules = append(a.rules, r)
	}
	if len(entries) == 0 {
		errs = append(errs, errors.New("allowed upstreams: empty list"))
	}
	return a, errors.Join(errs...)
}

func parseAllowRule(e string) (allowRule, error) {
	if p, err := netip.ParsePrefix(e); err == nil {
		return allowRule{prefix: p.Masked()}, nil
	}
	if ip, err := netip.ParseAddr(e); err == nil {
		return allowRule{prefix: netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen())}, nil
	}
	host, port, err := net.SplitHostPort(e)
	if err != nil || host == "" {
		return allowRule{}, errors.New("must be host:port (port may be *), a CIDR, or CIDR:port")
	}
	r := allowRule{}
	if port != "*" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return allowRule{}, fmt.Errorf("bad port %q (a number or *)", port)
		}
		r.port = n
	}
	if p, err := netip.ParsePrefix(host); err == nil {
		r.prefix = p.Masked()
		return r, nil
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		r.prefix = netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen())
		return r, nil
	}
	if _, err := path.Match(host, ""); err != nil || strings.ContainsAny(host, "/[]\\") {
		return allowRule{}, fmt.Errorf("bad host pattern %q", host)
	}
	r.glob = strings.ToLower(host)
	return r, nil
}

func (a *AllowList) String() string { return a.text }

// byName reports whether a name rule allows host:port as written.
func (a *AllowList) byName(host string, port int) bool {
	h := strings.ToLower(host)
	for _, r := range a.rules {
		if r.glob == "" || (r.port != 0 && r.port != port) {
			continue
		}
		if ok, _ := path.Match(r.glob, h); ok {
			return true
		}
	}
	return false
}

// byAddr reports whether a CIDR rule allows ip:port.
func (a *AllowList) byAddr(ip netip.Addr, port int) bool {
	ip = ip.Unmap()
	for _, r := range a.rules {
		if r.glob == "" && (r.port == 0 || r.port == port) && r.prefix.Contains(ip) {
			return true
		}
	}
	return false
}

// Admit checks upstream ("host:port") against the list, resolving a host name that
// no name entry allows. The error wraps ErrUpstreamNotAllowed.
func (a *AllowList) Admit(ctx context.Context, upstream string) error {
	host, ps, err := net.SplitHostPort(upstream)
	if err != nil {
		return fmt.Errorf("upstream %q: %w", upstream, err)
	}
	port, _ := strconv.Atoi(ps)
	if a.byName(host, port) {
		return nil
	}
	refused := func(why string) error {
		return fmt.Errorf("%w: %s %s; allowed: %s", ErrUpstreamNotAllowed, upstream, why, a.text)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if a.byAddr(ip, port) {
			return nil
		}
		return refused("is not in the allowed upstreams")
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(ips) == 0 {
		return refused(fmt.Sprintf("is not allowed by name, and its addresses cannot be checked (%v)", err))
	}
	for _, ip := range ips {
		if !a.byAddr(ip, port) {
			return refused(fmt.Sprintf("resolves to %s, which is not in the allowed upstreams", ip))
		}
	}
	return nil
}

// control returns the dial check of p: a connection to p's upstream is made only
// to an address the list allows (by the upstream's name, or by the dialed address).
func (a *AllowList) control(p *Proxy) func(network, address string, c syscall.RawConn) error {
	return func(_, address string, _ syscall.RawConn) error {
		host, ps, _ := net.SplitHostPort(p.cfg.Upstream)
		port, _ := strconv.Atoi(ps)
		if a.byName(host, port) {
			return nil
		}
		ap, err := netip.ParseAddrPort(address)
		if err == nil && a.byAddr(ap.Addr(), int(ap.Port())) {
			return nil
		}
		return fmt.Errorf("%w: %s (dialed for %s)", ErrUpstreamNotAllowed, address, p.cfg.Upstream)
	}
}
