package netfault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"

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
}

// recoverState is Definition.Recover for every network fault.
func recoverState(ctx context.Context, env *injectors.Env, raw json.RawMessage) error {
	var st State
	if err := json.Unmarshal(raw, &st); err != nil {
		return fmt.Errorf("decoding network fault state: %w", err)
	}
	return undo(ctx, env, &st)
}

// undo removes exactly what st describes. Idempotent: whatever is gone is done.
func undo(ctx context.Context, env *injectors.Env, st *State) error {
	ino, err := nsInode(st.NetNS)
	if errors.Is(err, os.ErrNotExist) || (err == nil && st.Inode != 0 && ino != st.Inode) {
		env.Logff("network namespace %s is gone or replaced; nothing of %s left to undo", st.NetNS, st.Fault)
		return nil
	}
	c, err := openNS(st.NetNS, len(st.Qdiscs) > 0)
	if err != nil {
		return fmt.Errorf("reverting %s in %s: %w", st.Fault, st.NetNS, err)
	}
	defer c.Close()
	var errs []error
	for _, q := range st.Qdiscs {
		if err := ctx.Err(); err != nil {
			return errors.Join(append(errs, err)...)
		}
		if err := removeQdisc(c, q); err != nil {
			errs = append(errs, fmt.Errorf("reverting %s: qdisc %s on %s in %s: %w", st.Fault, handleStr(q.Handle), q.LinkName, st.NetNS, err))
		}
	}
	if st.NFTable != "" {
		if err := removeTable(c, st.NFTable); err != nil {
			errs = append(errs, fmt.Errorf("reverting %s: nftables table %s in %s: %w", st.Fault, st.NFTable, st.NetNS, err))
		}
	}
	return errors.Join(errs...)
}

// removeQdisc deletes our root qdisc if, and only if, the interface's root qdisc
// still carries our handle.
func removeQdisc(c *nsConn, q QdiscState) error {
	link, err := c.h.LinkByIndex(q.LinkIndex)
	if err != nil || link.Attrs().Name != q.LinkName {
		if link, err = c.h.LinkByName(q.LinkName); err != nil {
			return nil // interface gone: so is its qdisc
		}
	}
	root, err := rootQdisc(c.h, link)
	if err != nil {
		return err
	}
	if root == nil || root.Attrs().Handle != q.Handle {
		return nil // not there (any more), or not ours
	}
	err = c.h.QdiscDel(root)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENODEV) {
		return nil
	}
	return err
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

// removeTable deletes an inet table by name; absent is success.
func removeTable(c *nsConn, name string) error {
	conn, err := c.nft()
	if err != nil {
		return err
	}
	conn.DelTable(&nftables.Table{Name: name, Family: nftables.TableFamilyINet})
	err = conn.Flush()
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	return err
}
