package netns

import (
	"fmt"
	"sort"
	"strings"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Snapshot lists, through netlink, every qdisc, class and filter of every
// interface, every route of every table, every policy rule and every nftables
// table of the namespace at path, one sorted line each, leaving out counters.
// Two snapshots are equal when the namespace's traffic control, routing and
// filtering are the same.
func Snapshot(path string) (string, error) {
	fd, err := netns.GetFromPath(path)
	if err != nil {
		return "", err
	}
	defer fd.Close()
	h, err := netlink.NewHandleAt(fd, unix.NETLINK_ROUTE)
	if err != nil {
		return "", err
	}
	defer h.Close()
	var lines []string
	links, err := h.LinkList()
	if err != nil {
		return "", err
	}
	for _, l := range links {
		name := l.Attrs().Name
		qs, err := h.QdiscList(l)
		if err != nil {
			return "", err
		}
		for _, q := range qs {
			a := q.Attrs()
			lines = append(lines, fmt.Sprintf("qdisc %s %s %s parent %s", name, q.Type(), netlink.HandleStr(a.Handle), netlink.HandleStr(a.Parent)))
			cs, err := h.ClassList(l, a.Handle)
			if err != nil {
				return "", err
			}
			for _, c := range cs {
				lines = append(lines, fmt.Sprintf("class %s %s %s parent %s", name, c.Type(), netlink.HandleStr(c.Attrs().Handle), netlink.HandleStr(c.Attrs().Parent)))
			}
			fs, err := h.FilterList(l, a.Handle)
			if err != nil {
				return "", err
			}
			for _, f := range fs {
				fa := f.Attrs()
				lines = append(lines, fmt.Sprintf("filter %s %s parent %s prio %d proto %#x handle %s", name, f.Type(), netlink.HandleStr(fa.Parent), fa.Priority, fa.Protocol, netlink.HandleStr(fa.Handle)))
			}
		}
	}
	routes, err := h.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return "", err
	}
	for _, r := range routes {
		lines = append(lines, fmt.Sprintf("route table %d type %d proto %d dst %v gw %v dev %d src %v scope %d prio %d",
			r.Table, r.Type, r.Protocol, r.Dst, r.Gw, r.LinkIndex, r.Src, r.Scope, r.Priority))
	}
	rules, err := h.RuleList(netlink.FAMILY_ALL)
	if err != nil {
		return "", err
	}
	for _, r := range rules {
		lines = append(lines, fmt.Sprintf("rule family %d prio %d table %d src %v dst %v mark %v", r.Family, r.Priority, r.Table, r.Src, r.Dst, r.Mark))
	}
	conn, err := nftables.New(nftables.WithNetNSFd(int(fd)))
	if err != nil {
		return "", err
	}
	tables, err := conn.ListTables()
	if err != nil {
		return "", err
	}
	for _, t := range tables {
		lines = append(lines, fmt.Sprintf("nft table family %d %s", t.Family, t.Name))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n"), nil
}
