package netfault

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/faultline-dev/faultline/internal/podtarget"
)

// Target says where a fault goes: one network namespace and some of its interfaces.
type Target struct {
	// NetNS is a namespace name (/run/netns/NAME) or a path (anything with a '/').
	NetNS string `yaml:"netns,omitempty" json:"netns,omitempty"`
	// PID selects the namespace of a process: /proc/PID/ns/net. Exclusive with NetNS.
	// With neither, the runner's own namespace is the target.
	PID int `yaml:"pid,omitempty" json:"pid,omitempty"`
	// Interfaces to act on; default every non-loopback interface of the namespace.
	Interfaces []string `yaml:"interfaces,omitempty" json:"interfaces,omitempty"`
	// Destinations restricts a qdisc fault to traffic toward these CIDRs and/or
	// destination ports (an htb root classifies with u32 filters). Not used by
	// networkPartition, which has its own cidrs and ports.
	Destinations *Destinations `yaml:"destinations,omitempty" json:"destinations,omitempty"`
	// Pods makes the fault act on Kubernetes pods instead, through Chaos Mesh (a
	// NetworkChaos); wired by injectors/install. Exclusive with netns and pid.
	Pods *podtarget.Pods `yaml:"pods,omitempty" json:"pods,omitempty"`
}

// Destinations selects traffic by destination address and port.
type Destinations struct {
	CIDRs []string `yaml:"cidrs,omitempty" json:"cidrs,omitempty"`
	Ports []int    `yaml:"ports,omitempty" json:"ports,omitempty"`
}

// Validate checks the target block; it does no I/O.
func (t *Target) Validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if t.Pods != nil {
		errs = append(errs, validatePods(p, t)...)
	}
	if t.NetNS != "" && t.PID != 0 {
		errs = append(errs, field.Invalid(p.Child("pid"), t.PID, "must not be set together with netns"))
	}
	if t.PID < 0 {
		errs = append(errs, field.Invalid(p.Child("pid"), t.PID, "must be >= 1"))
	}
	if t.NetNS != "" && !strings.Contains(t.NetNS, "/") && (t.NetNS == "." || t.NetNS == "..") {
		errs = append(errs, field.Invalid(p.Child("netns"), t.NetNS, "must be a namespace name or a path"))
	}
	for i, name := range t.Interfaces {
		if name == "" || len(name) > 15 || strings.ContainsAny(name, "/ \t") {
			errs = append(errs, field.Invalid(p.Child("interfaces").Index(i), name, "must be an interface name of 1 to 15 characters"))
		}
	}
	if t.Destinations != nil {
		d := t.Destinations
		dp := p.Child("destinations")
		if len(d.CIDRs) == 0 && len(d.Ports) == 0 {
			errs = append(errs, field.Required(dp, "must list cidrs or ports (or be omitted)"))
		}
		errs = append(errs, validateCIDRs(dp.Child("cidrs"), d.CIDRs)...)
		errs = append(errs, validatePorts(dp.Child("ports"), d.Ports)...)
	}
	return errs
}

func validateCIDRs(p *field.Path, cidrs []string) field.ErrorList {
	var errs field.ErrorList
	for i, c := range cidrs {
		if _, err := parseCIDR(c); err != nil {
			errs = append(errs, field.Invalid(p.Index(i), c, "must be a CIDR such as 10.0.0.0/8 or an IP address"))
		}
	}
	return errs
}

func validatePorts(p *field.Path, ports []int) field.ErrorList {
	var errs field.ErrorList
	for i, port := range ports {
		if port < 1 || port > 65535 {
			errs = append(errs, field.Invalid(p.Index(i), port, "must be between 1 and 65535"))
		}
	}
	return errs
}

// parseCIDR accepts "10.0.0.0/8", "fd00::/64" or a bare address (a /32 or /128).
func parseCIDR(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

func checkPercent(p *field.Path, v float64, required bool) field.ErrorList {
	switch {
	case required && v <= 0:
		return field.ErrorList{field.Invalid(p, v, "must be > 0 and <= 100")}
	case v < 0 || v > 100:
		return field.ErrorList{field.Invalid(p, v, "must be between 0 and 100")}
	}
	return nil
}

// LatencySpec is networkLatency: every packet leaving the interfaces is delayed.
type LatencySpec struct {
	Target Target `yaml:"target" json:"target"`
	// Delay added to each packet (netem delay).
	Delay time.Duration `yaml:"delay" json:"delay"`
	// Jitter: the delay varies by up to ± this much.
	Jitter time.Duration `yaml:"jitter,omitempty" json:"jitter,omitempty"`
	// Correlation of successive delays, percent.
	Correlation float64 `yaml:"correlation,omitempty" json:"correlation,omitempty"`
	// Limit is netem's queue length in packets (default 1000).
	Limit int `yaml:"limit,omitempty" json:"limit,omitempty"`
}

// Validate implements injectors.Validator.
func (s *LatencySpec) Validate(p *field.Path) field.ErrorList {
	errs := s.Target.Validate(p.Child("target"))
	if s.Delay <= 0 {
		errs = append(errs, field.Invalid(p.Child("delay"), s.Delay.String(), "must be > 0"))
	}
	if s.Jitter < 0 || (s.Delay > 0 && s.Jitter > s.Delay) {
		errs = append(errs, field.Invalid(p.Child("jitter"), s.Jitter.String(), "must be between 0 and delay"))
	}
	if s.Limit < 0 {
		errs = append(errs, field.Invalid(p.Child("limit"), s.Limit, "must be >= 0"))
	}
	return append(errs, checkPercent(p.Child("correlation"), s.Correlation, false)...)
}

// LossSpec is networkLoss: Percent of the packets are dropped.
type LossSpec struct {
	Target      Target  `yaml:"target" json:"target"`
	Percent     float64 `yaml:"percent" json:"percent"`
	Correlation float64 `yaml:"correlation,omitempty" json:"correlation,omitempty"`
}

// Validate implements injectors.Validator.
func (s *LossSpec) Validate(p *field.Path) field.ErrorList {
	return validateRatio(p, &s.Target, s.Percent, s.Correlation)
}

// CorruptSpec is networkCorrupt: Percent of the packets get a flipped bit.
type CorruptSpec struct {
	Target      Target  `yaml:"target" json:"target"`
	Percent     float64 `yaml:"percent" json:"percent"`
	Correlation float64 `yaml:"correlation,omitempty" json:"correlation,omitempty"`
}

// Validate implements injectors.Validator.
func (s *CorruptSpec) Validate(p *field.Path) field.ErrorList {
	return validateRatio(p, &s.Target, s.Percent, s.Correlation)
}

// DuplicateSpec is networkDuplicate: Percent of the packets are sent twice.
type DuplicateSpec struct {
	Target      Target  `yaml:"target" json:"target"`
	Percent     float64 `yaml:"percent" json:"percent"`
	Correlation float64 `yaml:"correlation,omitempty" json:"correlation,omitempty"`
}

// Validate implements injectors.Validator.
func (s *DuplicateSpec) Validate(p *field.Path) field.ErrorList {
	return validateRatio(p, &s.Target, s.Percent, s.Correlation)
}

func validateRatio(p *field.Path, t *Target, percent, corr float64) field.ErrorList {
	errs := t.Validate(p.Child("target"))
	errs = append(errs, checkPercent(p.Child("percent"), percent, true)...)
	return append(errs, checkPercent(p.Child("correlation"), corr, false)...)
}

// ReorderSpec is networkReorder: Percent of the packets are sent at once, the
// others are delayed by Delay, so they arrive out of order (netem needs a delay).
type ReorderSpec struct {
	Target      Target        `yaml:"target" json:"target"`
	Percent     float64       `yaml:"percent" json:"percent"`
	Correlation float64       `yaml:"correlation,omitempty" json:"correlation,omitempty"`
	Delay       time.Duration `yaml:"delay" json:"delay"`
	// Gap: reorder every Gap-th packet instead of at random (netem gap).
	Gap int `yaml:"gap,omitempty" json:"gap,omitempty"`
}

// Validate implements injectors.Validator.
func (s *ReorderSpec) Validate(p *field.Path) field.ErrorList {
	errs := s.Target.Validate(p.Child("target"))
	errs = append(errs, checkPercent(p.Child("percent"), s.Percent, true)...)
	errs = append(errs, checkPercent(p.Child("correlation"), s.Correlation, false)...)
	if s.Delay <= 0 {
		errs = append(errs, field.Invalid(p.Child("delay"), s.Delay.String(), "must be > 0 (netem reorders by delaying the other packets)"))
	}
	if s.Gap < 0 {
		errs = append(errs, field.Invalid(p.Child("gap"), s.Gap, "must be >= 0"))
	}
	return errs
}

// BandwidthSpec is networkBandwidth: egress is shaped by a token bucket (tbf).
type BandwidthSpec struct {
	Target Target `yaml:"target" json:"target"`
	// Rate such as "8mbit", "512kbit", "1gbit", "2mbps" (bytes), or plain bits/s.
	Rate string `yaml:"rate" json:"rate"`
	// Burst is the bucket size, e.g. "32kb" (default: max(rate×10ms, 16kb)).
	Burst string `yaml:"burst,omitempty" json:"burst,omitempty"`
	// Limit is the queue size in bytes, e.g. "64kb" (default: burst + rate×200ms).
	Limit string `yaml:"limit,omitempty" json:"limit,omitempty"`
}

// Validate implements injectors.Validator.
func (s *BandwidthSpec) Validate(p *field.Path) field.ErrorList {
	errs := s.Target.Validate(p.Child("target"))
	if r, err := parseRate(s.Rate); err != nil || r == 0 {
		errs = append(errs, field.Invalid(p.Child("rate"), s.Rate, "must be a rate such as 8mbit, 512kbit or 2mbps"))
	}
	if s.Burst != "" {
		if b, err := parseSize(s.Burst); err != nil || b == 0 {
			errs = append(errs, field.Invalid(p.Child("burst"), s.Burst, "must be a size such as 32kb"))
		}
	}
	if s.Limit != "" {
		if l, err := parseSize(s.Limit); err != nil || l == 0 {
			errs = append(errs, field.Invalid(p.Child("limit"), s.Limit, "must be a size such as 64kb"))
		}
	}
	return errs
}

// PartitionSpec is networkPartition: traffic between the target namespace and
// CIDRs (optionally only some ports) is dropped by an nftables table of the run.
type PartitionSpec struct {
	Target Target   `yaml:"target" json:"target"`
	CIDRs  []string `yaml:"cidrs,omitempty" json:"cidrs,omitempty"`
	// Ports: remote ports (destination port of outgoing packets, source port of
	// incoming ones). Empty: every port and protocol.
	Ports []int `yaml:"ports,omitempty" json:"ports,omitempty"`
	// Direction: "to" drops packets sent to the CIDRs, "from" drops packets received
	// from them, "both" (default) both.
	Direction string `yaml:"direction,omitempty" json:"direction,omitempty"`
	// VerifyWith is host:port a TCP connect from the target namespace must fail to
	// reach once the partition is in place (optional proof).
	VerifyWith string `yaml:"verifyWith,omitempty" json:"verifyWith,omitempty"`
	// VerifyTimeout bounds that connect (default 1s).
	VerifyTimeout time.Duration `yaml:"verifyTimeout,omitempty" json:"verifyTimeout,omitempty"`
}

// Validate implements injectors.Validator.
func (s *PartitionSpec) Validate(p *field.Path) field.ErrorList {
	errs := s.Target.Validate(p.Child("target"))
	if s.Target.Destinations != nil {
		errs = append(errs, field.Forbidden(p.Child("target", "destinations"), "networkPartition uses its own cidrs and ports"))
	}
	if len(s.CIDRs) == 0 && len(s.Ports) == 0 {
		errs = append(errs, field.Required(p.Child("cidrs"), "must list cidrs or ports to partition from"))
	}
	errs = append(errs, validatePartitionPods(p, s)...)
	errs = append(errs, validateCIDRs(p.Child("cidrs"), s.CIDRs)...)
	errs = append(errs, validatePorts(p.Child("ports"), s.Ports)...)
	switch s.Direction {
	case "", "to", "from", "both":
	default:
		errs = append(errs, field.NotSupported(p.Child("direction"), s.Direction, []string{"to", "from", "both"}))
	}
	if s.VerifyWith != "" {
		if _, port, err := net.SplitHostPort(s.VerifyWith); err != nil || port == "" {
			errs = append(errs, field.Invalid(p.Child("verifyWith"), s.VerifyWith, "must be host:port"))
		}
	}
	if s.VerifyTimeout < 0 {
		errs = append(errs, field.Invalid(p.Child("verifyTimeout"), s.VerifyTimeout.String(), "must be >= 0"))
	}
	return errs
}

func (s *PartitionSpec) direction() string {
	if s.Direction == "" {
		return "both"
	}
	return s.Direction
}

// parseRate reads tc-style rates and returns bits per second: "8mbit", "1.5gbit",
// "512kbit", "100bit", "2mbps" (bytes per second), "8000000" (bits).
func parseRate(s string) (uint64, error) {
	units := []struct {
		suffix string
		mult   float64
	}{
		{"gbps", 8e9}, {"mbps", 8e6}, {"kbps", 8e3}, {"bps", 8},
		{"gbit", 1e9}, {"mbit", 1e6}, {"kbit", 1e3}, {"bit", 1},
	}
	return parseUnit(strings.ToLower(strings.TrimSpace(s)), units)
}

// parseSize reads sizes in bytes: "32kb", "1mb", "1500b", "1500", "32k", "1m".
func parseSize(s string) (uint64, error) {
	units := []struct {
		suffix string
		mult   float64
	}{
		{"kb", 1024}, {"mb", 1024 * 1024}, {"gb", 1024 * 1024 * 1024},
		{"k", 1024}, {"m", 1024 * 1024}, {"g", 1024 * 1024 * 1024}, {"b", 1},
	}
	return parseUnit(strings.ToLower(strings.TrimSpace(s)), units)
}

func parseUnit(s string, units []struct {
	suffix string
	mult   float64
}) (uint64, error) {
	mult := 1.0
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 0 || v*mult > 1<<62 {
		return 0, fmt.Errorf("netfault: bad quantity %q", s)
	}
	return uint64(v * mult), nil
}
