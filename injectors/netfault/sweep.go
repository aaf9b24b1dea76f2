package netfault

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
)

// Sweep finds and removes what Faultline left in network namespaces, without a
// journal: root qdiscs whose major handle is in Faultline's range (fa00–fa7f) and
// nftables tables named "faultline_...". With runID set, only that run's: its
// table prefix, and root qdiscs with its handle major (the 64 majors are shared
// by all run IDs, so a concurrent run may have the same one); with runID empty,
// every run's.
// nsPaths empty means the caller's own namespace and every /run/netns entry.
// It returns one line per object removed, e.g.
// "/run/netns/x: qdisc tbf fa12: on veth0". Namespaces that vanish meanwhile are
// skipped; other errors are joined and the sweep goes on.
func Sweep(ctx context.Context, nsPaths []string, runID string) ([]string, error) {
	if len(nsPaths) == 0 {
		nsPaths = append(nsPaths, selfNS)
		named, _ := filepath.Glob("/run/netns/*")
		nsPaths = append(nsPaths, named...)
	}
	var removed []string
	var errs []error
	for _, path := range nsPaths {
		if err := ctx.Err(); err != nil {
			return removed, errors.Join(append(errs, err)...)
		}
		r, err := sweepNS(path, runID)
		removed = append(removed, r...)
		if err != nil {
			errs = append(errs, fmt.Errorf("sweeping %s: %w", path, err))
		}
	}
	return removed, errors.Join(errs...)
}

func sweepNS(path, runID string) ([]string, error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	c, err := openNS(path, true)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	var removed []string
	var errs []error
	links, err := c.h.LinkList()
	if err != nil {
		return nil, fmt.Errorf("listing interfaces: %w", err)
	}
	for _, l := range links {
		root, err := rootQdisc(c.h, l)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if root == nil {
			continue
		}
		major, _ := netlink.MajorMinor(root.Attrs().Handle)
		if !ownedMajor(major) || (runID != "" && major != runMajor(runID)) {
			continue
		}
		q := QdiscState{LinkIndex: l.Attrs().Index, LinkName: l.Attrs().Name, Handle: root.Attrs().Handle}
		if err := removeQdisc(c, q); err != nil {
			errs = append(errs, fmt.Errorf("qdisc %s on %s: %w", handleStr(q.Handle), q.LinkName, err))
			continue
		}
		removed = append(removed, fmt.Sprintf("%s: qdisc %s %s on %s", path, root.Type(), handleStr(q.Handle), q.LinkName))
	}
	conn, err := c.nft()
	if err != nil {
		return removed, errors.Join(append(errs, err)...)
	}
	tables, err := conn.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return removed, errors.Join(append(errs, fmt.Errorf("listing nftables tables: %w", err))...)
	}
	prefix := TablePrefix
	if runID != "" {
		prefix = tableName(runID)
	}
	for _, t := range tables {
		if !strings.HasPrefix(t.Name, prefix) {
			continue
		}
		if err := removeTable(c, t.Name); err != nil {
			errs = append(errs, fmt.Errorf("nftables table %s: %w", t.Name, err))
			continue
		}
		removed = append(removed, fmt.Sprintf("%s: nftables table inet %s", path, t.Name))
	}
	return removed, errors.Join(errs...)
}
