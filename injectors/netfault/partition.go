package netfault

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"

	"github.com/faultline-dev/faultline/injectors"
	"github.com/faultline-dev/faultline/injectors/netfault/internal/nsenter"
)

// TablePrefix starts the name of every nftables table Faultline creates:
// "faultline_<runID>_<8 hex>", family inet. Sweep removes tables with this prefix.
const TablePrefix = "faultline_"

// partition drops traffic with nftables, in a table of its own that is created
// and deleted in one atomic batch each:
//
//	table inet faultline_<run>_<id>
//	  chain output  (hook output)  — "to":   daddr in CIDRs [dport in ports] drop
//	  chain forward (hook forward) — "to" and "from" for routed traffic
//	  chain input   (hook input)   — "from": saddr in CIDRs [sport in ports] drop
//
// Registering and unregistering a base chain's hooks is most of the cost of
// inject and revert (the kernel waits for RCU grace periods). One postrouting
// (prerouting) chain instead of output+forward (input+forward) was measured and
// was not cheaper: those hooks cost more to register.
//
// One netlink socket serves the whole fault: opened by Inject, used for the
// preflight, the batch, the read-back and the revert, closed by Revert.
type partition struct {
	spec  *PartitionSpec
	env   *injectors.Env
	table string

	mu sync.Mutex
	c  *nsConn // from Inject to Revert
}

var _ injectors.Injector = (*partition)(nil)

func newPartition(spec *PartitionSpec, env *injectors.Env) *partition {
	var b [4]byte
	rand.Read(b[:])
	return &partition{spec: spec, env: env, table: tableName(env.RunID) + hex.EncodeToString(b[:])}
}

// tableNameRE matches the whole name of a table Faultline creates; group 1 is
// the sanitised run ID.
var tableNameRE = regexp.MustCompile(`^` + TablePrefix + `([-_A-Za-z0-9]{1,64})_[0-9a-f]{8}$`)

// ruleComment is the comment (userdata) of every rule in a partition's table.
func ruleComment(runID string) string { return "faultline run " + runID }

// tableName is the table prefix for a run: "faultline_<sanitised runID>_".
func tableName(runID string) string {
	var sb strings.Builder
	for _, r := range runID {
		if r < 128 && (r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			sb.WriteRune(r)
		}
	}
	s := sb.String()
	if len(s) > 64 {
		s = s[:64]
	}
	return TablePrefix + s + "_"
}

func (p *partition) resolve() (*nsConn, error) {
	path := nsPath(p.spec.Target)
	c, err := openNS(path, len(p.spec.Target.Interfaces) > 0)
	if err != nil {
		return nil, err
	}
	if len(p.spec.Target.Interfaces) > 0 { // nftables matches names; check they exist
		if _, err := selectLinks(c, p.spec.Target.Interfaces); err != nil {
			c.Close()
			return nil, fmt.Errorf("networkPartition in %s: %w", path, err)
		}
	}
	if err := probeNFT(c); err != nil {
		c.Close()
		return nil, fmt.Errorf("networkPartition in %s: %w", path, err)
	}
	return c, nil
}

// Plan implements injectors.Injector.
func (p *partition) Plan(ctx context.Context) (injectors.Plan, error) {
	c, err := p.resolve()
	if err != nil {
		return injectors.Plan{}, err
	}
	defer c.Close()
	ifs := "all interfaces"
	if len(p.spec.Target.Interfaces) > 0 {
		ifs = "interfaces " + strings.Join(p.spec.Target.Interfaces, ",")
	}
	return injectors.Plan{
		Targets: []injectors.Target{{Kind: "netns", Name: c.path, Detail: ifs + "; nftables table inet " + p.table}},
		Action:  "drop packets " + p.spec.describe() + " (nftables table inet " + p.table + ")",
		Revert:  "delete table inet " + p.table,
		Effect:  injectors.EffectSlow, // dropped packets: calls hang until their timeout
	}, nil
}

// Inject implements injectors.Injector.
func (p *partition) Inject(ctx context.Context, j injectors.Journal) (injectors.Injection, error) {
	start := time.Now()
	c, err := p.resolve()
	if err != nil {
		return injectors.Injection{}, err
	}
	st := &State{Fault: "networkPartition", RunID: p.env.RunID, NetNS: c.path, Inode: c.inode, NFTable: p.table}
	if err := j.Record(st); err != nil {
		c.Close()
		return injectors.Injection{}, fmt.Errorf("journaling networkPartition: %w", err)
	}
	fail := func(err error) (injectors.Injection, error) {
		defer c.Close()
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_, uerr := undo(uctx, p.env, st, nil, c)
		return injectors.Injection{}, errors.Join(err, uerr)
	}
	conn, err := c.nft()
	if err != nil {
		return fail(err)
	}
	table := &nftables.Table{Name: p.table, Family: nftables.TableFamilyINet}
	rules := partitionRules(p.spec)
	conn.AddTable(table)
	for _, name := range chainOrder {
		if len(rules[name]) == 0 {
			continue
		}
		ch := conn.AddChain(&nftables.Chain{Name: name, Table: table, Type: nftables.ChainTypeFilter,
			Hooknum: chainHooks[name], Priority: nftables.ChainPriorityFilter})
		for _, exprs := range rules[name] {
			conn.AddRule(&nftables.Rule{Table: table, Chain: ch, Exprs: exprs,
				UserData: userdata.AppendString(nil, userdata.TypeComment, ruleComment(p.env.RunID))})
		}
	}
	if err := conn.Flush(); err != nil { // one atomic batch: all or nothing
		return fail(fmt.Errorf("injecting networkPartition into %s: %w", c.path, err))
	}
	applied := time.Now()
	proof, err := readBackTable(conn, table, rules)
	if err != nil {
		return fail(fmt.Errorf("proving networkPartition in %s: %w", c.path, err))
	}
	if p.spec.VerifyWith != "" {
		if err := p.verifyConnect(ctx, c.path); err != nil {
			return fail(err)
		}
		proof += fmt.Sprintf("; TCP connect to %s failed as expected", p.spec.VerifyWith)
	}
	proof += fmt.Sprintf(" (netns %s; inject %s, proof %s)", c.path, applied.Sub(start).Round(time.Microsecond), time.Since(applied).Round(time.Microsecond))
	p.mu.Lock()
	p.c = c
	p.mu.Unlock()
	return injectors.Injection{Proof: proof, Revert: func(ctx context.Context) error { return p.revert(ctx, st) }}, nil
}

// revert deletes the table through the fault's own connection and closes it.
// Idempotent: a second call finds the table gone through a new connection.
func (p *partition) revert(ctx context.Context, st *State) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, err := undo(ctx, p.env, st, nil, p.c)
	if p.c != nil {
		p.c.Close()
		p.c = nil
	}
	return err
}

// describe says what is dropped: "to and from 10.0.0.0/8 ports 80,443".
func (s *PartitionSpec) describe() string {
	d := map[string]string{"to": "to", "from": "from", "both": "to and from"}[s.direction()]
	what := strings.Join(s.CIDRs, ",")
	if what == "" {
		what = "any address"
	}
	if len(s.Ports) == 0 {
		return d + " " + what + " (all ports)"
	}
	ports := make([]string, len(s.Ports))
	for i, p := range s.Ports {
		ports[i] = fmt.Sprint(p)
	}
	return d + " " + what + " ports " + strings.Join(ports, ",")
}

// verifyConnect dials VerifyWith from inside the target namespace; it must fail.
func (p *partition) verifyConnect(ctx context.Context, path string) error {
	timeout := p.spec.VerifyTimeout
	if timeout == 0 {
		timeout = time.Second
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var conn net.Conn
	err := nsenter.Do(path, func() error {
		var err error
		conn, err = (&net.Dialer{}).DialContext(dctx, "tcp", p.spec.VerifyWith)
		return err
	})
	if err == nil {
		conn.Close()
		return fmt.Errorf("proving networkPartition in %s: TCP connect to %s succeeded; the partition is not effective", path, p.spec.VerifyWith)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return nil
}

var (
	chainOrder = []string{"output", "input", "forward"}
	chainHooks = map[string]*nftables.ChainHook{
		"output": nftables.ChainHookOutput, "input": nftables.ChainHookInput, "forward": nftables.ChainHookForward,
	}
)

// partitionRules builds the rule expressions per chain. Each rule matches one
// (family, cidr, protocol, port, interface) combination and ends in counter+drop.
func partitionRules(s *PartitionSpec) map[string][][]expr.Any {
	var prefixes []netip.Prefix
	for _, c := range s.CIDRs {
		if p, err := parseCIDR(c); err == nil {
			prefixes = append(prefixes, p)
		}
	}
	if len(prefixes) == 0 { // ports only
		prefixes = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}
	}
	protos := []byte{0}
	if len(s.Ports) > 0 {
		protos = []byte{unix.IPPROTO_TCP, unix.IPPROTO_UDP}
	}
	ports := s.Ports
	if len(ports) == 0 {
		ports = []int{0}
	}
	ifaces := s.Target.Interfaces
	if len(ifaces) == 0 {
		ifaces = []string{""}
	}
	dir := s.direction()
	out := map[string][][]expr.Any{}
	add := func(chain string, remoteIsDst bool, ifKey expr.MetaKey) {
		for _, iface := range ifaces {
			for _, pfx := range prefixes {
				for _, proto := range protos {
					for _, port := range ports {
						out[chain] = append(out[chain], matchRule(iface, ifKey, pfx, remoteIsDst, proto, port))
					}
				}
			}
		}
	}
	if dir == "to" || dir == "both" {
		add("output", true, expr.MetaKeyOIFNAME)
		add("forward", true, expr.MetaKeyOIFNAME)
	}
	if dir == "from" || dir == "both" {
		add("input", false, expr.MetaKeyIIFNAME)
		add("forward", false, expr.MetaKeyIIFNAME)
	}
	return out
}

func matchRule(iface string, ifKey expr.MetaKey, pfx netip.Prefix, remoteIsDst bool, proto byte, port int) []expr.Any {
	var e []expr.Any
	if iface != "" {
		name := make([]byte, unix.IFNAMSIZ)
		copy(name, iface)
		e = append(e, &expr.Meta{Key: ifKey, Register: 1}, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: name})
	}
	family, addrOff, alen := byte(unix.NFPROTO_IPV4), uint32(12), uint32(4)
	if pfx.Addr().Is6() {
		family, addrOff, alen = unix.NFPROTO_IPV6, 8, 16
	}
	if remoteIsDst {
		addrOff += alen
	}
	e = append(e, &expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1}, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{family}})
	if pfx.Bits() > 0 {
		mask := net.CIDRMask(pfx.Bits(), int(alen)*8)
		e = append(e,
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: addrOff, Len: alen},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: alen, Mask: mask, Xor: make([]byte, alen)},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: pfx.Addr().AsSlice()},
		)
	}
	if proto != 0 {
		portOff := uint32(0) // source port of packets from the remote side
		if remoteIsDst {
			portOff = 2
		}
		e = append(e,
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1}, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: portOff, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(uint16(port))},
		)
	}
	return append(e, &expr.Counter{}, &expr.Verdict{Kind: expr.VerdictDrop})
}

// readBackTable lists the table's chains and rules and compares them with what
// was sent: same chains, same number of rules, each ending in drop.
func readBackTable(conn *nftables.Conn, table *nftables.Table, rules map[string][][]expr.Any) (string, error) {
	if _, err := conn.ListTableOfFamily(table.Name, table.Family); err != nil {
		return "", fmt.Errorf("table inet %s not found after creating it: %w", table.Name, err)
	}
	total := 0
	for _, name := range chainOrder {
		want := len(rules[name])
		if want == 0 {
			continue
		}
		got, err := conn.GetRules(table, &nftables.Chain{Name: name, Table: table})
		if err != nil {
			return "", fmt.Errorf("listing chain %s: %w", name, err)
		}
		if len(got) != want {
			return "", fmt.Errorf("chain %s has %d rules, want %d", name, len(got), want)
		}
		for _, r := range got {
			v, ok := r.Exprs[len(r.Exprs)-1].(*expr.Verdict)
			if !ok || v.Kind != expr.VerdictDrop {
				return "", fmt.Errorf("chain %s: rule %d does not end in drop", name, r.Handle)
			}
		}
		total += want
	}
	return fmt.Sprintf("nftables table inet %s read back: %d drop rules", table.Name, total), nil
}
