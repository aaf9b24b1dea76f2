package netfault

import (
	"context"
	"fmt"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/injectors"
	fixture "github.com/faultline-dev/faultline/internal/testenv/netns"
)

// BenchmarkInjectRevert times whole inject+revert cycles of a bandwidth limit
// and of a partition through this package (netlink, with its preflight and
// read-back proof, every socket opened and closed inside the cycle: nothing is
// left to background work), against the same change made by exec'ing tc, nft
// (`apt-get install nftables`) and ip, in the same namespace pair. Run as root:
//
//	go test -run '^$' -bench InjectRevert -benchtime 200x ./injectors/netfault/
//
// Each sub-benchmark reports p50 and p99 of one cycle in µs, of each half, and
// the sustained cycles/s; the parent logs the exec/netlink ratios.
func BenchmarkInjectRevert(b *testing.B) {
	p := fixture.NewPair(b)
	ns := p.A.Name
	peer := p.B.IP.String()
	p50, p99 := map[string]float64{}, map[string]float64{}
	// op does the inject half, then calls mark, then the revert half.
	run := func(name string, op func(b *testing.B, mark func())) {
		b.Run(name, func(b *testing.B) {
			var all, inj, rev []time.Duration
			began := time.Now()
			for b.Loop() {
				start := time.Now()
				var mid time.Time
				op(b, func() { mid = time.Now() })
				end := time.Now()
				inj, rev = append(inj, mid.Sub(start)), append(rev, end.Sub(mid))
				all = append(all, end.Sub(start))
			}
			b.ReportMetric(float64(len(all))/time.Since(began).Seconds(), "cycles/s")
			q := func(lat []time.Duration, f float64) float64 {
				sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
				return float64(lat[int(f*float64(len(lat)-1))]) / 1e3
			}
			b.ReportMetric(q(all, 0.50), "p50-µs")
			b.ReportMetric(q(all, 0.99), "p99-µs")
			b.ReportMetric(q(inj, 0.50), "inject-p50-µs")
			b.ReportMetric(q(inj, 0.99), "inject-p99-µs")
			b.ReportMetric(q(rev, 0.50), "revert-p50-µs")
			b.ReportMetric(q(rev, 0.99), "revert-p99-µs")
			p50[name], p99[name] = q(all, 0.50), q(all, 0.99)
		})
	}
	ours := func(key string, spec any) func(b *testing.B, mark func()) {
		r := injectors.NewRegistry()
		Register(r)
		d, _ := r.Lookup(key)
		return func(b *testing.B, mark func()) {
			f, err := d.New(spec, &injectors.Env{RunID: "bench"})
			if err != nil {
				b.Fatal(err)
			}
			inj, err := f.Inject(context.Background(), &memJournal{})
			if err != nil {
				b.Fatal(err)
			}
			mark()
			if err := inj.Revert(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
	}
	sh := func(b *testing.B, c []string, stdin string) {
		cmd := exec.Command(c[0], c[1:]...)
		cmd.Stdin = strings.NewReader(stdin)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%s: %v: %s", strings.Join(c, " "), err, out)
		}
	}
	pair := func(add, del []string, stdin string) func(b *testing.B, mark func()) {
		return func(b *testing.B, mark func()) {
			sh(b, add, stdin)
			mark()
			sh(b, del, "")
		}
	}
	run("bandwidth/netlink", ours("networkBandwidth", &BandwidthSpec{Target: Target{NetNS: ns, Interfaces: []string{p.A.Link}}, Rate: "8mbit"}))
	run("bandwidth/tc", pair(
		[]string{"tc", "-n", ns, "qdisc", "add", "dev", p.A.Link, "root", "handle", "fa00:", "tbf", "rate", "8mbit", "burst", "16kb", "limit", "216kb"},
		[]string{"tc", "-n", ns, "qdisc", "del", "dev", p.A.Link, "root"}, ""))
	run("partition/netlink", ours("networkPartition", &PartitionSpec{Target: Target{NetNS: ns}, CIDRs: []string{peer}}))
	if _, err := exec.LookPath("nft"); err == nil {
		script := fmt.Sprintf(`add table inet fl_bench
add chain inet fl_bench output { type filter hook output priority 0; }
add chain inet fl_bench input { type filter hook input priority 0; }
add chain inet fl_bench forward { type filter hook forward priority 0; }
add rule inet fl_bench output ip daddr %[1]s counter drop
add rule inet fl_bench forward ip daddr %[1]s counter drop
add rule inet fl_bench input ip saddr %[1]s counter drop
add rule inet fl_bench forward ip saddr %[1]s counter drop
`, peer)
		run("partition/nft", pair([]string{"ip", "netns", "exec", ns, "nft", "-f", "-"},
			[]string{"ip", "netns", "exec", ns, "nft", "delete", "table", "inet", "fl_bench"}, script))
	} else {
		b.Log("nft CLI missing (apt-get install nftables): partition/nft skipped")
	}
	run("partition/ip-blackhole", pair(
		[]string{"ip", "-n", ns, "route", "add", "blackhole", peer + "/32"},
		[]string{"ip", "-n", ns, "route", "del", "blackhole", peer + "/32"}, ""))
	for _, pair := range [][2]string{{"bandwidth/tc", "bandwidth/netlink"}, {"partition/nft", "partition/netlink"}, {"partition/ip-blackhole", "partition/netlink"}} {
		if p99[pair[0]] > 0 && p99[pair[1]] > 0 {
			b.Logf("%s / %s: p50 %.1fx, p99 %.1fx", pair[0], pair[1], p50[pair[0]]/p50[pair[1]], p99[pair[0]]/p99[pair[1]])
		}
	}
}
