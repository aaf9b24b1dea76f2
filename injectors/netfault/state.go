package netfault

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/faultline-dev/faultline/injectors"
)

// State is what the journal holds for one network fault, written before anything
// is created. Recover needs nothing else: not the spec, not the runner.
type State struct {
	Fault string `json:"fault"` // definition key, e.g. "networkBandwidth"
	RunID string `json:"runID"`
	// NetNS is the namespace path and Inode its inode when the fault was made; a
	// path that now names another namespace (or none) means there is nothing left.
	NetNS string `json:"netns"`
	Inode uint64 `json:"inode"`
	// Qdiscs are the root qdiscs created (or about to be), one per interface.
	Qdiscs []QdiscState `json:"qdiscs,omitempty"`
	// NFTable is the inet-family nftables table of a partition.
	NFTable string `json:"nftTable,omitempty"`
}

// QdiscState is one root qdisc of ours on one interface.
type QdiscState struct {
	LinkIndex int    `json:"linkIndex"`
	LinkName  string `json:"linkName"`
	Handle    uint32 `json:"handle"` // root handle, major:0
	Kind      string `json:"kind"`   // kind of our root qdisc: tbf, netem or htb
	// Before is the root qdisc that was there ("noqueue 0:"): always a kernel
	// default (handle 0:), which the kernel puts back when ours is deleted.
	Before string `json:"before"`
	// Leaf is the fault qdisc with the parameters asked for (the root itself
	// without destinations). Revert and Recover delete the root only when the
	// kernel's qdiscs still match it: a qdisc with our handle but another kind or
	// other parameters is not the one this fault made.
	Leaf *LeafParams `json:"leaf,omitempty"`
}

// LeafParams identify a fault qdisc by what the kernel reports back.
type LeafParams struct {
	Kind      string `json:"kind"`
	Handle    uint32 `json:"handle"`
	Rate      uint64 `json:"rate,omitempty"` // tbf, bytes/s
	Limit     uint32 `json:"limit,omitempty"`
	Latency   uint32 `json:"latency,omitempty"` // netem, kernel ticks; the others are kernel probabilities
	Loss      uint32 `json:"loss,omitempty"`
	Duplicate uint32 `json:"duplicate,omitempty"`
	Corrupt   uint32 `json:"corrupt,omitempty"`
	Reorder   uint32 `json:"reorder,omitempty"`
}

func leafParams(q netlink.Qdisc) *LeafParams {
	p := &LeafParams{Kind: q.Type(), Handle: q.Attrs().Handle}
	switch x := q.(type) {
	case *netlink.Tbf:
		p.Rate, p.Limit = x.Rate, x.Limit
	case *netlink.Netem:
		p.Latency, p.Loss, p.Duplicate, p.Corrupt, p.Reorder = x.Latency, x.Loss, x.Duplicate, x.CorruptProb, x.ReorderProb
	}
	return p
}

// qdisc rebuilds the qdisc the parameters describe, for sameParams.
func (p *LeafParams) qdisc() netlink.Qdisc {
	a := netlink.QdiscAttrs{Handle: p.Handle}
	switch p.Kind {
	case "tbf":
		return &netlink.Tbf{QdiscAttrs: a, Rate: p.Rate, Limit: p.Limit}
	case "netem":
		return &netlink.Netem{QdiscAttrs: a, Latency: p.Latency, Loss: p.Loss, Duplicate: p.Duplicate, CorruptProb: p.Corrupt, ReorderProb: p.Reorder}
	}
	return &netlink.GenericQdisc{QdiscAttrs: a, QdiscType: p.Kind}
}

// faultKeys are the Definition keys of this package.
var faultKeys = map[string]bool{
	"networkLatency": true, "networkLoss": true, "networkCorrupt": true, "networkDuplicate": true,
	"networkReorder": true, "networkBandwidth": true, "networkPartition": true,
}

// decodeState reads a journaled State strictly: unknown keys, a missing
// namespace or an object it does not describe mean the state is not ours to act
// on, and Recover says so instead of reporting a revert.
func decodeState(raw json.RawMessage) (*State, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.DisallowUnknownFields()
	var st State
	if err := d.Decode(&st); err != nil {
		return nil, fmt.Errorf("decoding network fault state: %w", err)
	}
	var errs []error
	if !faultKeys[st.Fault] {
		errs = append(errs, fmt.Errorf("fault %q is not a network fault", st.Fault))
	}
	if st.RunID == "" || st.NetNS == "" {
		errs = append(errs, errors.New("runID and netns are required"))
	}
	if len(st.Qdiscs) == 0 && st.NFTable == "" {
		errs = append(errs, errors.New("it names no qdisc and no nftables table"))
	}
	for _, q := range st.Qdiscs {
		major, minor := netlink.MajorMinor(q.Handle)
		if q.LinkName == "" || !ownedMajor(major) || minor != 0 || !faultRootKinds[q.Kind] {
			errs = append(errs, fmt.Errorf("qdisc %s %s on %q is not one Faultline creates", q.Kind, handleStr(q.Handle), q.LinkName))
		}
	}
	if st.NFTable != "" && !tableNameRE.MatchString(st.NFTable) {
		errs = append(errs, fmt.Errorf("nftables table %q is not named as Faultline names its tables", st.NFTable))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("network fault state of unknown shape: %w", err)
	}
	return &st, nil
}

// faultRootKinds are the root qdisc kinds Faultline creates.
var faultRootKinds = map[string]bool{"tbf": true, "netem": true, "htb": true}

// recoverState is Definition.Recover for every network fault. It logs what it
// removed through env.Logf; when nothing of the fault is left it returns
// injectors.ErrNothingToRevert with the reason.
func recoverState(ctx context.Context, env *injectors.Env, raw json.RawMessage) error {
	st, err := decodeState(raw)
	if err != nil {
		return err
	}
	var live []injectors.Claim
	if env != nil && env.Claims != nil {
		for _, c := range env.Claims() {
			if c.Alive {
				live = append(live, c)
			}
		}
	}
	o, err := undo(ctx, env, st, live, nil)
	if err != nil {
		return err
	}
	for _, r := range o.removed {
		env.Logff("%s", r)
	}
	if len(o.removed) == 0 {
		return injectors.NothingToRevert("%s", strings.Join(o.left, "; "))
	}
	return nil
}

// outcome is what undo did: objects removed, and objects left with the reason.
type outcome struct{ removed, left []string }

// undo removes exactly what st describes and nothing a live run claims (live,
// from Env.Claims). Idempotent: whatever is gone is done. It works through open
// (the injector's connection to the namespace, kept from Inject) when that is
// still the namespace st names, else through a connection of its own.
func undo(ctx context.Context, env *injectors.Env, st *State, live []injectors.Claim, open *nsConn) (outcome, error) {
	var o outcome
	ino, err := nsInode(st.NetNS)
	if errors.Is(err, os.ErrNotExist) || (err == nil && st.Inode != 0 && ino != st.Inode) {
		o.left = append(o.left, fmt.Sprintf("network namespace %s was deleted (or deleted and recreated) since the fault was made: nothing of %s is left in it", st.NetNS, st.Fault))
		env.Logff("%s", o.left[0])
		return o, nil
	}
	c := open
	if c == nil || c.inode != ino || (len(st.Qdiscs) > 0 && c.h == nil) {
		if c, err = openNS(st.NetNS, len(st.Qdiscs) > 0); err != nil {
			return o, fmt.Errorf("reverting %s in %s: %w", st.Fault, st.NetNS, err)
		}
		defer c.Close()
	}
	claimed := liveQdiscs(live, c.inode)
	var errs []error
	for _, q := range st.Qdiscs {
		if err := ctx.Err(); err != nil {
			return o, errors.Join(append(errs, err)...)
		}
		what := fmt.Sprintf("qdisc %s %s on %s in %s", q.Kind, handleStr(q.Handle), q.LinkName, st.NetNS)
		why, err := removeQdisc(c, q, claimed)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("reverting %s: %s: %w", st.Fault, what, err))
		case why == "":
			o.removed = append(o.removed, "deleted "+what)
		default:
			o.left = append(o.left, what+": "+why)
		}
	}
	if st.NFTable != "" {
		what := fmt.Sprintf("nftables table inet %s in %s", st.NFTable, st.NetNS)
		gone, err := removeTable(c, st.NFTable)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("reverting %s: %s: %w", st.Fault, what, err))
		case gone:
			o.left = append(o.left, what+": not there any more")
		default:
			o.removed = append(o.removed, "deleted "+what)
		}
	}
	return o, errors.Join(errs...)
}

// qdiscKey identifies one root qdisc: namespace inode, interface, handle.
type qdiscKey struct {
	inode uint64
	link  int
	h     uint32
}

// liveQdiscs are the root qdiscs in the namespace with this inode that live runs
// have journaled, with the run that claims each.
func liveQdiscs(live []injectors.Claim, inode uint64) map[qdiscKey]string {
	out := map[qdiscKey]string{}
	for _, c := range live {
		if !faultKeys[c.Kind] || c.State == nil {
			continue
		}
		var st State
		if json.Unmarshal(c.State, &st) != nil || st.Inode != inode {
			continue
		}
		for _, q := range st.Qdiscs {
			out[qdiscKey{inode, q.LinkIndex, q.Handle}] = c.RunID
		}
	}
	return out
}

// removeQdisc deletes our root qdisc if, and only if, the interface's root qdisc
// is still the one q describes (handle, kind, the leaf's kind and parameters) and
// no live run claims it. It returns why it left it, or "" when it deleted it.
func removeQdisc(c *nsConn, q QdiscState, claimed map[qdiscKey]string) (string, error) {
	link, err := c.h.LinkByIndex(q.LinkIndex)
	if err != nil || link.Attrs().Name != q.LinkName {
		if link, err = c.h.LinkByName(q.LinkName); err != nil {
			return "the interface is gone, and its qdiscs with it", nil
		}
	}
	qs, err := c.h.QdiscList(link)
	if err != nil {
		return "", fmt.Errorf("listing qdiscs of %s: %w", link.Attrs().Name, err)
	}
	var root, leaf netlink.Qdisc
	for _, x := range qs {
		if x.Attrs().Parent == netlink.HANDLE_ROOT {
			root = x
		}
		if q.Leaf != nil && x.Attrs().Handle == q.Leaf.Handle {
			leaf = x
		}
	}
	switch {
	case root == nil || root.Attrs().Handle != q.Handle:
		return "not there any more", nil
	case root.Type() != q.Kind:
		return fmt.Sprintf("the root qdisc with that handle is now a %s, not the one this fault made", root.Type()), nil
	case q.Leaf != nil && (leaf == nil || sameParams(q.Leaf.qdisc(), leaf) != nil):
		return "a qdisc with that handle is there, but not with the kind and parameters this fault gave it: not ours", nil
	}
	if run, ok := claimed[qdiscKey{c.inode, link.Attrs().Index, q.Handle}]; ok {
		return fmt.Sprintf("live run %s has journaled the same qdisc: it is that run's, left alone", run), nil
	}
	err = c.h.QdiscDel(root)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENODEV) {
		return "not there any more", nil
	}
	return "", err
}

// rootQdisc returns the egress root qdisc of link (nil if it has none listed).
func rootQdisc(h *netlink.Handle, link netlink.Link) (netlink.Qdisc, error) {
	qs, err := h.QdiscList(link)
	if err != nil {
		return nil, fmt.Errorf("listing qdiscs of %s: %w", link.Attrs().Name, err)
	}
	for _, q := range qs {
		if q.Attrs().Parent == netlink.HANDLE_ROOT {
			return q, nil
		}
	}
	return nil, nil
}

// removeTable deletes an inet table by name; absent (gone) is success.
func removeTable(c *nsConn, name string) (gone bool, err error) {
	conn, err := c.nft()
	if err != nil {
		return false, err
	}
	conn.DelTable(&nftables.Table{Name: name, Family: nftables.TableFamilyINet})
	err = conn.Flush()
	if errors.Is(err, unix.ENOENT) {
		return true, nil
	}
	return false, err
}
