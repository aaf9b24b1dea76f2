package netfault

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/userdata"
	"github.com/vishvananda/netlink"
)

// SweepResult is what Sweep removed and what it left, one line per object, e.g.
// "/run/netns/x: qdisc tbf fa12: on veth0" and
// "/run/netns/x: qdisc pfifo fa01: on veth0: kind pfifo is not one Faultline creates".
type SweepResult struct {
	Removed []string
	Left    []string
}

// Sweep finds and removes what Faultline left in network namespaces, without a
// journal. It removes only objects that carry Faultline's whole tag:
//
//   - a root qdisc with an even major handle in fa00–fa7e of a kind Faultline
//     creates (tbf or netem; or htb with class M:1 holding a tbf or netem
//     (M+1): and nothing else);
//   - an inet nftables table named "faultline_<runID>_<8 hex>" whose chains are
//     Faultline's (output, input, forward) and whose every rule carries the
//     comment "faultline run <runID>" of that same run.
//
// Anything else in that handle range or with that name prefix is left and
// reported with the reason. With runID set, only that run's objects: its table
// name and rule comments, and root qdiscs with its handle major (handles are
// shared by all runs, so a concurrent run may have the same one).
// nsPaths empty means the caller's own namespace and every /run/netns entry.
// Namespaces that vanish meanwhile are skipped; other errors are joined and the
// sweep goes on.
func Sweep(ctx context.Context, nsPaths []string, runID string) (SweepResult, error) {
	if len(nsPaths) == 0 {
		nsPaths = append(nsPaths, selfNS)
		named, _ := filepath.Glob("/run/netns/*")
		nsPaths = append(nsPaths, named...)
	}
	var res SweepResult
	var errs []error
	for _, path := range nsPaths {
		if err := ctx.Err(); err != nil {
			return res, errors.Join(append(errs, err)...)
		}
		if err := sweepNS(path, runID, &res); err != nil {
			errs = append(errs, fmt.Errorf("sweeping %s: %w", path, err))
		}
	}
	return res, errors.Join(errs...)
}

func sweepNS(path, runID string, res *SweepResult) error {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	c, err := openNS(path, true)
	if err != nil {
		return err
	}
	defer c.Close()
	var errs []error
	links, err := c.h.LinkList()
	if err != nil {
		return fmt.Errorf("listing interfaces: %w", err)
	}
	for _, l := range links {
		qs, err := c.h.QdiscList(l)
		if err != nil {
			errs = append(errs, fmt.Errorf("listing qdiscs of %s: %w", l.Attrs().Name, err))
			continue
		}
		var root netlink.Qdisc
		for _, q := range qs {
			if q.Attrs().Parent == netlink.HANDLE_ROOT {
				root = q
			}
		}
		if root == nil {
			continue
		}
		major, _ := netlink.MajorMinor(root.Attrs().Handle)
		if !ownedMajor(major) || (runID != "" && major != runMajor(runID)) {
			continue
		}
		what := fmt.Sprintf("%s: qdisc %s %s on %s", path, root.Type(), handleStr(root.Attrs().Handle), l.Attrs().Name)
		q, why := sweptQdisc(c, l, root, qs)
		if why != "" {
			res.Left = append(res.Left, what+": "+why)
			continue
		}
		left, err := removeQdisc(c, q, nil)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("qdisc %s on %s: %w", handleStr(q.Handle), q.LinkName, err))
		case left == "":
			res.Removed = append(res.Removed, what)
		}
	}
	return errors.Join(append(errs, sweepTables(c, path, runID, res))...)
}

// sweptQdisc checks that root is tagged as Faultline's in full; it returns the
// QdiscState to remove it by, or why it is not Faultline's.
func sweptQdisc(c *nsConn, l netlink.Link, root netlink.Qdisc, qs []netlink.Qdisc) (QdiscState, string) {
	major, _ := netlink.MajorMinor(root.Attrs().Handle)
	q := QdiscState{LinkIndex: l.Attrs().Index, LinkName: l.Attrs().Name, Handle: root.Attrs().Handle, Kind: root.Type()}
	if (major-handleBase)%2 != 0 {
		return q, "Faultline's root qdiscs have even handles (fa00:, fa02:, ...); this one is someone else's"
	}
	switch root.Type() {
	case "tbf", "netem":
		return q, ""
	case "htb":
	default:
		return q, fmt.Sprintf("kind %s is not one Faultline creates (tbf, netem, htb)", root.Type())
	}
	// htb: exactly class M:1 with one tbf or netem child (M+1):.
	classes, err := c.h.ClassList(l, root.Attrs().Handle)
	if err != nil {
		return q, fmt.Sprintf("its classes could not be listed (%v)", err)
	}
	if len(classes) != 1 || classes[0].Attrs().Handle != netlink.MakeHandle(major, 1) {
		return q, fmt.Sprintf("an htb with %d classes is not Faultline's (one class %x:1)", len(classes), major)
	}
	children := 0
	for _, x := range qs {
		if x.Attrs().Parent == root.Attrs().Handle || x.Attrs().Parent == classes[0].Attrs().Handle {
			children++
			if x.Attrs().Handle != netlink.MakeHandle(major+1, 0) || (x.Type() != "tbf" && x.Type() != "netem") {
				return q, fmt.Sprintf("its child qdisc %s %s is not Faultline's", x.Type(), handleStr(x.Attrs().Handle))
			}
		}
	}
	if children != 1 {
		return q, "an htb without Faultline's fault qdisc under it is not Faultline's"
	}
	return q, ""
}

func sweepTables(c *nsConn, path, runID string, res *SweepResult) error {
	conn, err := c.nft()
	if err != nil {
		return err
	}
	tables, err := conn.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return fmt.Errorf("listing nftables tables: %w", err)
	}
	var errs []error
	for _, t := range tables {
		if !strings.HasPrefix(t.Name, TablePrefix) {
			continue
		}
		what := fmt.Sprintf("%s: nftables table inet %s", path, t.Name)
		m := tableNameRE.FindStringSubmatch(t.Name)
		if m == nil {
			res.Left = append(res.Left, what+": not named as Faultline names its tables (faultline_<runID>_<8 hex>)")
			continue
		}
		if runID != "" && TablePrefix+m[1]+"_" != tableName(runID) {
			continue // another run's
		}
		if why := sweptTable(conn, t, m[1]); why != "" {
			res.Left = append(res.Left, what+": "+why)
			continue
		}
		if _, err := removeTable(c, t.Name); err != nil {
			errs = append(errs, fmt.Errorf("nftables table %s: %w", t.Name, err))
			continue
		}
		res.Removed = append(res.Removed, what)
	}
	return errors.Join(errs...)
}

// sweptTable checks the table's chains and rule comments; it returns why the
// table is not Faultline's, or "".
func sweptTable(conn *nftables.Conn, t *nftables.Table, runPart string) string {
	chains, err := conn.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return fmt.Sprintf("its chains could not be listed (%v)", err)
	}
	rules := 0
	for _, ch := range chains {
		if ch.Table.Name != t.Name {
			continue
		}
		if _, ok := chainHooks[ch.Name]; !ok {
			return fmt.Sprintf("chain %s is not one Faultline creates", ch.Name)
		}
		rs, err := conn.GetRules(t, ch)
		if err != nil {
			return fmt.Sprintf("the rules of chain %s could not be listed (%v)", ch.Name, err)
		}
		for _, r := range rs {
			comment, ok := userdata.GetString(r.UserData, userdata.TypeComment)
			run, tagged := strings.CutPrefix(comment, ruleComment(""))
			if !ok || !tagged || tableName(run) != TablePrefix+runPart+"_" {
				return fmt.Sprintf("a rule in chain %s lacks the comment %q", ch.Name, ruleComment("<runID>"))
			}
			rules++
		}
	}
	if rules == 0 {
		return "it has no rule with Faultline's comment"
	}
	return ""
}
