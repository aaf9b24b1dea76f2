package netfault

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"net/netip"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Qdisc handles we own. Every root qdisc Faultline creates has a major number in
// [handleBase, handleBase+handleSpan): the root gets an even major derived from the
// run ID, its child (with destinations) the next odd one. A root qdisc in that
// range is ours; Sweep removes it. Nothing else on the host uses these numbers
// unless an operator picks them by hand.
const (
	handleBase = 0xFA00
	handleSpan = 0x80
	// passRate is the rate of the htb class that carries the selected traffic to
	// the fault qdisc: high enough never to shape by itself (100 Gbit/s).
	passRate = 100_000_000_000
)

// runMajor is the root major handle for a run: fa00..fa7e, even.
func runMajor(runID string) uint16 {
	h := fnv.New32a()
	h.Write([]byte(runID))
	return handleBase + uint16(h.Sum32()%(handleSpan/2))*2
}

// handleStr prints a qdisc handle as tc does: "fa12:", "fa12:1", "0:".
func handleStr(h uint32) string {
	major, minor := netlink.MajorMinor(h)
	if minor == 0 {
		return fmt.Sprintf("%x:", major)
	}
	return fmt.Sprintf("%x:%x", major, minor)
}

func ownedMajor(major uint16) bool { return major >= handleBase && major < handleBase+handleSpan }

// layout is everything one qdisc fault creates on one interface, in creation order.
// Deleting Root deletes all of it (the kernel drops classes, filters, children).
//
// Without destinations:        root = leaf (netem or tbf), handle M:
//
// With destinations:           root htb M: (no default class: unmatched traffic
//
//	u32 filters ──match──▶ class M:1 ──▶ leaf (M+1):     is sent directly, unshaped)
type layout struct {
	Root    netlink.Qdisc
	Class   *netlink.HtbClass // nil without destinations
	Leaf    netlink.Qdisc     // == Root without destinations
	Filters []*netlink.U32
}

// buildLayout constructs the netlink objects for one interface. leaf builds the
// fault qdisc from its attributes.
func buildLayout(linkIndex int, major uint16, dst *Destinations, leaf func(netlink.QdiscAttrs) netlink.Qdisc) layout {
	root := netlink.MakeHandle(major, 0)
	if dst == nil {
		q := leaf(netlink.QdiscAttrs{LinkIndex: linkIndex, Parent: netlink.HANDLE_ROOT, Handle: root})
		return layout{Root: q, Leaf: q}
	}
	htb := netlink.NewHtb(netlink.QdiscAttrs{LinkIndex: linkIndex, Parent: netlink.HANDLE_ROOT, Handle: root})
	htb.Defcls = 0 // unclassified packets bypass shaping (htb "direct" queue)
	classID := netlink.MakeHandle(major, 1)
	class := netlink.NewHtbClass(
		netlink.ClassAttrs{LinkIndex: linkIndex, Parent: root, Handle: classID},
		netlink.HtbClassAttrs{Rate: passRate, Ceil: passRate},
	)
	l := layout{
		Root:  htb,
		Class: class,
		Leaf:  leaf(netlink.QdiscAttrs{LinkIndex: linkIndex, Parent: classID, Handle: netlink.MakeHandle(major+1, 0)}),
	}
	l.Filters = u32Filters(linkIndex, root, classID, dst)
	return l
}

// u32Filters builds one u32 filter per (cidr, port) pair, matching destination
// address and destination port (assuming no IPv4 options / IPv6 extension headers,
// as tc's "match ip dport" does). IPv4 filters have priority 1, IPv6 priority 2.
func u32Filters(linkIndex int, parent, classID uint32, dst *Destinations) []*netlink.U32 {
	var prefixes []netip.Prefix
	for _, c := range dst.CIDRs {
		if p, err := parseCIDR(c); err == nil {
			prefixes = append(prefixes, p)
		}
	}
	if len(prefixes) == 0 { // ports only: any address of either family
		prefixes = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}
	}
	ports := dst.Ports
	if len(ports) == 0 {
		ports = []int{0}
	}
	var out []*netlink.U32
	for _, p := range prefixes {
		for _, port := range ports {
			var keys []netlink.TcU32Key
			proto, prio := uint16(unix.ETH_P_IP), uint16(1)
			portOff := int32(20)
			if p.Addr().Is4() {
				keys = addrKeys(p, 16)
			} else {
				proto, prio, portOff = unix.ETH_P_IPV6, 2, 40
				keys = addrKeys(p, 24)
			}
			if port != 0 {
				keys = append(keys, netlink.TcU32Key{Off: portOff, Val: uint32(port), Mask: 0xffff})
			}
			if len(keys) == 0 { // match everything of this family
				keys = []netlink.TcU32Key{{}}
			}
			out = append(out, &netlink.U32{
				FilterAttrs: netlink.FilterAttrs{LinkIndex: linkIndex, Parent: parent, Priority: prio, Protocol: proto},
				ClassId:     classID,
				Sel:         &netlink.TcU32Sel{Flags: netlink.TC_U32_TERMINAL, Nkeys: uint8(len(keys)), Keys: keys},
			})
		}
	}
	return out
}

// addrKeys matches p against the address at byte offset off, 32 bits per key.
// Values are in host order; the netlink library converts them.
func addrKeys(p netip.Prefix, off int32) []netlink.TcU32Key {
	a := p.Addr().AsSlice()
	bits := p.Bits()
	var keys []netlink.TcU32Key
	for i := 0; i < len(a); i += 4 {
		n := min(max(bits-i*8, 0), 32)
		if n == 0 {
			break
		}
		mask := ^uint32(0) << (32 - n)
		keys = append(keys, netlink.TcU32Key{Off: off + int32(i), Val: binary.BigEndian.Uint32(a[i:i+4]) & mask, Mask: mask})
	}
	return keys
}

// netemAttrs converts the specs of the netem faults into netlink's request
// attributes (microseconds and percentages).
func netemAttrs(spec any) netlink.NetemQdiscAttrs {
	us := func(d time.Duration) uint32 { return uint32(d / time.Microsecond) }
	switch s := spec.(type) {
	case *LatencySpec:
		return netlink.NetemQdiscAttrs{Latency: us(s.Delay), Jitter: us(s.Jitter), DelayCorr: float32(s.Correlation), Limit: uint32(s.Limit)}
	case *LossSpec:
		return netlink.NetemQdiscAttrs{Loss: float32(s.Percent), LossCorr: float32(s.Correlation)}
	case *CorruptSpec:
		return netlink.NetemQdiscAttrs{CorruptProb: float32(s.Percent), CorruptCorr: float32(s.Correlation)}
	case *DuplicateSpec:
		return netlink.NetemQdiscAttrs{Duplicate: float32(s.Percent), DuplicateCorr: float32(s.Correlation)}
	case *ReorderSpec:
		// netem sends Percent of the packets immediately and delays the rest.
		return netlink.NetemQdiscAttrs{Latency: us(s.Delay), ReorderProb: float32(s.Percent), ReorderCorr: float32(s.Correlation), Gap: uint32(s.Gap)}
	}
	return netlink.NetemQdiscAttrs{}
}

// tbfParams returns rate (bytes/s), burst and limit (bytes) with defaults applied.
func tbfParams(s *BandwidthSpec) (rate, burst, limit uint64) {
	bits, _ := parseRate(s.Rate)
	rate = bits / 8
	burst = max(rate/100, 16*1024) // 10 ms of traffic, at least 16 KiB
	if s.Burst != "" {
		burst, _ = parseSize(s.Burst)
	}
	limit = burst + rate/5 // burst + 200 ms of queue
	if s.Limit != "" {
		limit, _ = parseSize(s.Limit)
	}
	return rate, burst, limit
}

// tbfQdisc builds the token bucket of a bandwidth fault. Buffer is in kernel
// ticks: the time to send burst bytes at rate (as tc computes it).
func tbfQdisc(s *BandwidthSpec, attrs netlink.QdiscAttrs) *netlink.Tbf {
	rate, burst, limit := tbfParams(s)
	return &netlink.Tbf{
		QdiscAttrs: attrs,
		Rate:       rate,
		Buffer:     netlink.Xmittime(rate, uint32(burst)),
		Limit:      uint32(limit),
	}
}
