package netfault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/faultline-dev/faultline/injectors"
)

// qdiscFault is every fault made of one qdisc per interface: the netem faults
// (latency, loss, corrupt, duplicate, reorder) and bandwidth (tbf).
type qdiscFault struct {
	key    string
	kind   string // leaf qdisc kind: "netem" or "tbf"
	what   string // human summary, e.g. "delay 100ms ±10ms"
	target Target
	leaf   func(netlink.QdiscAttrs) netlink.Qdisc
	env    *injectors.Env
}

var _ injectors.Injector = (*qdiscFault)(nil)

// resolved is a qdisc fault checked against the live namespace.
type resolved struct {
	c     *nsConn
	links []netlink.Link
	roots []string // the root qdisc before, per link ("noqueue 0:")
}

// resolve runs every preflight check: privileges, namespace, interfaces, kernel
// support and the current root qdiscs. It changes nothing.
func (f *qdiscFault) resolve() (*resolved, error) {
	path := nsPath(f.target)
	c, err := openNS(path, true)
	if err != nil {
		return nil, err
	}
	r, err := f.check(c)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("%s in %s: %w", f.key, path, err)
	}
	return r, nil
}

func (f *qdiscFault) check(c *nsConn) (*resolved, error) {
	links, err := selectLinks(c, f.target.Interfaces)
	if err != nil {
		return nil, err
	}
	if err := ProbeQdisc(f.kind); err != nil {
		return nil, err
	}
	if f.target.Destinations != nil {
		if err := ProbeQdisc("htb"); err != nil {
			return nil, err
		}
	}
	r := &resolved{c: c, links: links}
	for _, l := range links {
		root, err := rootQdisc(c.h, l)
		if err != nil {
			return nil, err
		}
		before := "none"
		if root != nil {
			before = root.Type() + " " + handleStr(root.Attrs().Handle)
			major, _ := netlink.MajorMinor(root.Attrs().Handle)
			switch {
			case ownedMajor(major):
				return nil, fmt.Errorf("interface %s already carries a Faultline qdisc (%s); one qdisc fault per interface at a time", l.Attrs().Name, before)
			case major != 0:
				return nil, fmt.Errorf("interface %s has a root qdisc %s that Faultline did not create; refusing to replace it (it would be lost): remove it or choose other interfaces", l.Attrs().Name, before)
			}
		}
		r.roots = append(r.roots, before)
	}
	return r, nil
}

// Plan implements injectors.Injector.
func (f *qdiscFault) Plan(ctx context.Context) (injectors.Plan, error) {
	r, err := f.resolve()
	if err != nil {
		return injectors.Plan{}, err
	}
	defer r.c.Close()
	major, err := f.major(r.c.inode)
	if err != nil {
		return injectors.Plan{}, fmt.Errorf("%s in %s: %w", f.key, r.c.path, err)
	}
	p := injectors.Plan{
		Action: fmt.Sprintf("%s: %s qdisc %s as root on %d interface(s)", f.what, f.kind, handleStr(netlink.MakeHandle(major, 0)), len(r.links)),
		Revert: "delete that root qdisc (the kernel restores its default)",
		Effect: injectors.EffectSlow,
	}
	if f.target.Destinations != nil {
		p.Action += fmt.Sprintf(", only for traffic to %s ports %v (htb + u32)", strings.Join(f.target.Destinations.CIDRs, ","), f.target.Destinations.Ports)
	}
	for i, l := range r.links {
		p.Targets = append(p.Targets, injectors.Target{Kind: "interface", Namespace: r.c.path, Name: l.Attrs().Name, Detail: "root qdisc now " + r.roots[i]})
	}
	return p, nil
}

// Inject implements injectors.Injector.
func (f *qdiscFault) Inject(ctx context.Context, j injectors.Journal) (injectors.Injection, error) {
	start := time.Now()
	r, err := f.resolve()
	if err != nil {
		return injectors.Injection{}, err
	}
	defer r.c.Close()
	major, err := f.major(r.c.inode)
	if err != nil {
		return injectors.Injection{}, fmt.Errorf("%s in %s: %w", f.key, r.c.path, err)
	}
	st := &State{Fault: f.key, RunID: f.env.RunID, NetNS: r.c.path, Inode: r.c.inode}
	layouts := make([]layout, len(r.links))
	for i, l := range r.links {
		layouts[i] = buildLayout(l.Attrs().Index, major, f.target.Destinations, f.leaf)
		st.Qdiscs = append(st.Qdiscs, QdiscState{
			LinkIndex: l.Attrs().Index, LinkName: l.Attrs().Name,
			Handle: layouts[i].Root.Attrs().Handle, Kind: layouts[i].Root.Type(), Before: r.roots[i],
			Leaf: leafParams(layouts[i].Leaf),
		})
	}
	if err := j.Record(st); err != nil {
		return injectors.Injection{}, fmt.Errorf("journaling %s: %w", f.key, err)
	}
	// made is how many links carry a root qdisc this call created. On failure only
	// those are deleted: a root that existed already (another fault's, with the same
	// handle) is never touched.
	made := 0
	fail := func(err error) (injectors.Injection, error) {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		mine := *st
		mine.Qdiscs = st.Qdiscs[:made]
		_, uerr := undo(uctx, f.env, &mine, nil, r.c)
		return injectors.Injection{}, errors.Join(err, uerr)
	}
	for i, l := range layouts {
		if err := ctx.Err(); err != nil {
			return fail(err)
		}
		rootMade, err := apply(r.c.h, l)
		if rootMade {
			made = i + 1
		}
		if err != nil {
			return fail(fmt.Errorf("injecting %s into %s in %s: %w", f.key, r.links[i].Attrs().Name, r.c.path, err))
		}
	}
	applied := time.Now()
	var proofs []string
	for i, l := range layouts {
		p, err := readBack(r.c.h, r.links[i], l)
		if err != nil {
			return fail(fmt.Errorf("proving %s on %s in %s: %w", f.key, r.links[i].Attrs().Name, r.c.path, err))
		}
		proofs = append(proofs, p)
	}
	proof := fmt.Sprintf("%s (netns %s; inject %s, proof %s)", strings.Join(proofs, "; "), r.c.path,
		applied.Sub(start).Round(time.Microsecond), time.Since(applied).Round(time.Microsecond))
	return injectors.Injection{Proof: proof, Revert: func(ctx context.Context) error { _, err := undo(ctx, f.env, st, nil, nil); return err }}, nil
}

// major picks the root major handle: the run's own (runMajor), or the next free
// one when another unfinished run (its runner alive or not) has journaled a
// qdisc with that handle in this namespace. A dead run's qdisc may have vanished
// (a reboot, an operator) while its journal waits for `chaos recover`: drawing
// its handle again would make that recover take this run's qdisc for its own.
func (f *qdiscFault) major(inode uint64) (uint16, error) {
	taken := map[uint16]string{}
	if f.env.Claims != nil {
		for _, c := range f.env.Claims() {
			if !faultKeys[c.Kind] || c.State == nil {
				continue
			}
			var st State
			if json.Unmarshal(c.State, &st) != nil || st.Inode != inode {
				continue
			}
			for _, q := range st.Qdiscs {
				m, _ := netlink.MajorMinor(q.Handle)
				taken[m] = c.RunID
			}
		}
	}
	m := runMajor(f.env.RunID)
	for range handleSpan / 2 {
		if _, ok := taken[m]; !ok {
			return m, nil
		}
		m += 2
		if m >= handleBase+handleSpan {
			m = handleBase
		}
	}
	return 0, fmt.Errorf("all %d Faultline qdisc handles (fa00:-fa7e:) are held by unfinished runs in this namespace; run `chaos recover`", handleSpan/2)
}

// apply creates one layout. rootMade says whether its root qdisc was created; on
// error the caller deletes that root, which takes whatever part was created with it.
func apply(h *netlink.Handle, l layout) (rootMade bool, err error) {
	if err := h.QdiscAdd(l.Root); err != nil {
		return false, fmt.Errorf("adding root qdisc %s %s: %w", l.Root.Type(), handleStr(l.Root.Attrs().Handle), err)
	}
	if l.Class == nil {
		return true, nil
	}
	if err := h.ClassAdd(l.Class); err != nil {
		return true, fmt.Errorf("adding htb class %s: %w", handleStr(l.Class.Handle), err)
	}
	if err := h.QdiscAdd(l.Leaf); err != nil {
		return true, fmt.Errorf("adding %s qdisc %s: %w", l.Leaf.Type(), handleStr(l.Leaf.Attrs().Handle), err)
	}
	for _, flt := range l.Filters {
		if err := h.FilterAdd(flt); err != nil {
			return true, fmt.Errorf("adding u32 filter: %w", err)
		}
	}
	return true, nil
}

// readBack lists the interface's qdiscs (and filters) and checks that what we
// built is there with the parameters we asked for.
func readBack(h *netlink.Handle, link netlink.Link, l layout) (string, error) {
	qs, err := h.QdiscList(link)
	if err != nil {
		return "", fmt.Errorf("listing qdiscs: %w", err)
	}
	var root, leaf netlink.Qdisc
	for _, q := range qs {
		if q.Attrs().Parent == netlink.HANDLE_ROOT && q.Attrs().Handle == l.Root.Attrs().Handle {
			root = q
		}
		if q.Attrs().Handle == l.Leaf.Attrs().Handle {
			leaf = q
		}
	}
	if root == nil || root.Type() != l.Root.Type() {
		return "", fmt.Errorf("root qdisc %s %s not found after adding it", l.Root.Type(), handleStr(l.Root.Attrs().Handle))
	}
	if leaf == nil || leaf.Type() != l.Leaf.Type() {
		return "", fmt.Errorf("qdisc %s %s not found after adding it", l.Leaf.Type(), handleStr(l.Leaf.Attrs().Handle))
	}
	if err := sameParams(l.Leaf, leaf); err != nil {
		return "", err
	}
	proof := fmt.Sprintf("%s %s read back on %s", leaf.Type(), handleStr(leaf.Attrs().Handle), link.Attrs().Name)
	if len(l.Filters) > 0 {
		fs, err := h.FilterList(link, l.Root.Attrs().Handle)
		if err != nil {
			return "", fmt.Errorf("listing filters: %w", err)
		}
		n := 0
		for _, f := range fs {
			if u, ok := f.(*netlink.U32); ok && u.ClassId == l.Class.Handle {
				n++
			}
		}
		if n != len(l.Filters) {
			return "", fmt.Errorf("%d of %d u32 filters read back", n, len(l.Filters))
		}
		proof += fmt.Sprintf(" under htb %s with %d u32 filters", handleStr(l.Root.Attrs().Handle), n)
	}
	return proof, nil
}

// sameParams compares the parameters that matter between the qdisc we sent and
// the one the kernel reports.
func sameParams(want, got netlink.Qdisc) error {
	switch w := want.(type) {
	case *netlink.Tbf:
		g, ok := got.(*netlink.Tbf)
		if !ok || g.Rate != w.Rate || g.Limit != w.Limit {
			return fmt.Errorf("tbf read back as %+v, want rate %d limit %d", got, w.Rate, w.Limit)
		}
	case *netlink.Netem:
		g, ok := got.(*netlink.Netem)
		if !ok || g.Loss != w.Loss || g.Duplicate != w.Duplicate || g.CorruptProb != w.CorruptProb ||
			g.ReorderProb != w.ReorderProb || diff(g.Latency, w.Latency) > 1+w.Latency/1000 {
			return fmt.Errorf("netem read back as %v, want %v", got, w)
		}
	}
	return nil
}

func diff(a, b uint32) uint32 {
	if a > b {
		return a - b
	}
	return b - a
}
