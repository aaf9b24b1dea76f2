// Package netfault injects network faults into Linux network namespaces through
// netlink — qdiscs with github.com/vishvananda/netlink, packet filtering with
// github.com/google/nftables — never by running tc, ip or nft.
//
// Faults (YAML keys): networkLatency, networkLoss, networkCorrupt,
// networkDuplicate, networkReorder (netem), networkBandwidth (tbf) and
// networkPartition (nftables). Every spec has a target block:
//
//	target:
//	  netns: blue              # name (/run/netns/blue) or path; or pid: 4242
//	  interfaces: [eth0]       # default: every non-loopback interface
//	  destinations:            # qdisc faults only: shape just this traffic
//	    cidrs: [10.96.0.0/12]
//	    ports: [5432]
//
// # Qdisc faults
//
// Without destinations the fault qdisc (netem or tbf) becomes the interface's
// root qdisc. With destinations an htb root classifies:
//
//	egress ──▶ htb M: ──u32 dst cidr/port──▶ class M:1 (100 Gbit/s) ──▶ netem|tbf (M+1):
//	                 └─no match: htb "direct" queue, unshaped (no default class)
//
// (prio + flower would do as well; htb + u32 is what every kernel with tc has,
// flower and prio are often modules that are missing.) The root major M is in
// fa00–fa7f, derived from the run ID, so our qdiscs are recognisable without the
// journal; Sweep deletes such roots. One qdisc fault per interface at a time.
//
// A pre-existing root qdisc: the kernel's default root qdisc (handle 0:, e.g.
// noqueue, pfifo_fast, mq, fq_codel) is replaced and comes back by itself when
// ours is deleted. Any other root qdisc was configured by someone; saving and
// restoring a whole qdisc tree (classes, filters, actions) cannot be done
// faithfully, so Plan and Inject refuse with a clear error and change nothing.
// Ingress/clsact qdiscs and other interfaces are never touched.
//
// # Partition
//
// One nftables table per fault, "inet faultline_<runID>_<8 hex>", created in one
// atomic batch with output/input/forward chains of drop rules, through one
// netlink socket the fault keeps until its revert deletes the table. "to" drops packets sent to the CIDRs (and remote ports), "from" packets
// received from them. For TCP either direction breaks new connections both ways
// (the handshake needs both); the difference is visible with UDP or in which side
// still sees the SYN. Routes and rules are never changed.
//
// # Safety
//
// Preflight (Plan, and again at Inject, before any change): CAP_NET_ADMIN, and
// CAP_SYS_ADMIN for another namespace; the namespace and interfaces exist; the
// kernel has the qdisc kinds (tried for real in a throwaway namespace: "kernel
// lacks sch_netem (CONFIG_NET_SCH_NETEM)") and nf_tables. The journal entry
// (State) is recorded before anything is created; Recover works from that JSON
// alone; Sweep works without it.
package netfault
