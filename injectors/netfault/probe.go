package netfault

import (
	"errors"
	"fmt"
	"sync"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/faultline-dev/faultline/injectors/netfault/internal/nsenter"
)

// ErrUnsupported marks a kernel that lacks what a fault needs. Nothing was changed.
var ErrUnsupported = errors.New("netfault: kernel feature missing")

var kernelConfig = map[string]string{
	"netem": "sch_netem (CONFIG_NET_SCH_NETEM)",
	"tbf":   "sch_tbf (CONFIG_NET_SCH_TBF)",
	"htb":   "sch_htb (CONFIG_NET_SCH_HTB)",
	"u32":   "cls_u32 (CONFIG_NET_CLS_U32)",
	"nft":   "nf_tables (CONFIG_NF_TABLES, CONFIG_NF_TABLES_INET)",
}

func lacks(feature string) error {
	return fmt.Errorf("kernel lacks %s: %w", kernelConfig[feature], ErrUnsupported)
}

var probed sync.Map // qdisc kind -> error (nil: supported)

// ProbeQdisc reports whether the kernel can create a qdisc of kind ("netem", "tbf",
// or "htb", which also checks the u32 classifier). It tries for real, on a veth
// pair in a throwaway network namespace, so modules are autoloaded as they would
// be for the real fault and no real namespace is touched. Definite answers are
// cached for the life of the process. The error reads, for example,
// "kernel lacks sch_netem (CONFIG_NET_SCH_NETEM)" and wraps ErrUnsupported.
func ProbeQdisc(kind string) error {
	if v, ok := probed.Load(kind); ok {
		err, _ := v.(error)
		return err
	}
	err := nsenter.Throwaway(func() error { return probeHere(kind) })
	if err == nil || errors.Is(err, ErrUnsupported) {
		probed.Store(kind, err)
	}
	return err
}

func probeHere(kind string) error {
	h, err := netlink.NewHandle()
	if err != nil {
		return fmt.Errorf("netlink socket: %w", err)
	}
	defer h.Close()
	la := netlink.NewLinkAttrs()
	la.Name = "flprobe0"
	if err := h.LinkAdd(&netlink.Veth{LinkAttrs: la, PeerName: "flprobe1"}); err != nil {
		return fmt.Errorf("creating a probe veth pair: %w", err)
	}
	link, err := h.LinkByName("flprobe0")
	if err != nil {
		return fmt.Errorf("probe veth: %w", err)
	}
	attrs := netlink.QdiscAttrs{LinkIndex: link.Attrs().Index, Parent: netlink.HANDLE_ROOT, Handle: netlink.MakeHandle(1, 0)}
	var q netlink.Qdisc
	switch kind {
	case "netem":
		q = netlink.NewNetem(attrs, netlink.NetemQdiscAttrs{Latency: 1000})
	case "tbf":
		q = tbfQdisc(&BandwidthSpec{Rate: "1mbit"}, attrs)
	case "htb":
		q = netlink.NewHtb(attrs)
	default:
		return fmt.Errorf("netfault: no probe for qdisc kind %q", kind)
	}
	if err := h.QdiscAdd(q); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return lacks(kind)
		}
		return fmt.Errorf("probing qdisc %s: %w", kind, err)
	}
	if kind == "htb" {
		f := u32Filters(attrs.LinkIndex, attrs.Handle, netlink.MakeHandle(1, 1), &Destinations{CIDRs: []string{"192.0.2.0/24"}})
		if err := h.FilterAdd(f[0]); err != nil {
			if errors.Is(err, unix.ENOENT) {
				return lacks("u32")
			}
			return fmt.Errorf("probing u32 filter: %w", err)
		}
	}
	return nil
}

// probeNFT checks nf_tables in the target namespace by listing its tables
// (read-only).
func probeNFT(c *nsConn) error {
	conn, err := c.nft()
	if err != nil {
		return fmt.Errorf("nftables connection in %s: %w", c.path, err)
	}
	if _, err := conn.ListTablesOfFamily(nftables.TableFamilyINet); err != nil {
		if errors.Is(err, unix.EPROTONOSUPPORT) || errors.Is(err, unix.EAFNOSUPPORT) || errors.Is(err, unix.ENOENT) {
			return lacks("nft")
		}
		return fmt.Errorf("listing nftables tables in %s: %w", c.path, err)
	}
	return nil
}
