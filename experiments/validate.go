package experiments

import (
	"fmt"
	"maps"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/faultline-dev/faultline/injectors"
	"github.com/faultline-dev/faultline/injectors/proxy"
	"github.com/faultline-dev/faultline/steadystate"
)

// Registries are the lookup tables used by decoding and validation.
type Registries struct {
	Injectors *injectors.Registry
	Probes    *steadystate.Registry // probes and assertions
}

// Defaults applied by SetDefaults to zero fields.
const (
	DefaultProbeEvery    = time.Second
	DefaultFaultDuration = 10 * time.Second
	DefaultBaseline      = 2 * time.Second
	DefaultRecovery      = 30 * time.Second
	DefaultMaxDuration   = 10 * time.Minute
	DefaultRevertTimeout = 30 * time.Second
	DefaultAbortOver     = 5 * time.Second
)

// SetDefaults fills zero fields with their defaults (and apiVersion and kind when
// empty). Decode calls it after validation; Go users may call it before running.
func (e *Experiment) SetDefaults() {
	if e.APIVersion == "" {
		e.APIVersion = APIVersion
	}
	if e.Kind == "" {
		e.Kind = Kind
	}
	s := &e.Spec
	setDefault(&s.SteadyState.Baseline, DefaultBaseline)
	setDefault(&s.SteadyState.Recovery, DefaultRecovery)
	for i := range s.SteadyState.Probes {
		p := &s.SteadyState.Probes[i]
		setDefault(&p.Every, DefaultProbeEvery)
		if p.SLO != nil && p.SLO.DuringFaults == nil {
			yes := true
			p.SLO.DuringFaults = &yes
		}
	}
	for i := range s.Faults {
		setDefault(&s.Faults[i].Duration, DefaultFaultDuration)
	}
	for i := range s.Abort {
		setDefault(&s.Abort[i].Over, DefaultAbortOver)
	}
	setDefault(&s.Safety.MaxDuration, DefaultMaxDuration)
	setDefault(&s.Safety.RevertTimeout, DefaultRevertTimeout)
}

func setDefault(d *time.Duration, def time.Duration) {
	if *d == 0 {
		*d = def
	}
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// Validate checks an experiment built in Go (or decoded) with the rules Decode
// applies; zero durations count as their defaults. It returns nil or a
// *ValidationError whose problems carry field paths but no line:col.
func (e *Experiment) Validate(reg Registries) error {
	c := &checker{reg: reg}
	e.check(c)
	if len(c.problems) == 0 {
		return nil
	}
	for i := range c.problems {
		c.problems[i].File = e.Source
	}
	return &ValidationError{File: e.Source, Problems: c.problems}
}

// checker collects validation problems (field and message only).
type checker struct {
	reg      Registries
	problems []Problem
	// lineOf gives the line of a field path (0: unknown); explicit says whether the
	// field was written in the document. Both nil for experiments built in Go.
	lineOf   func(path string) int
	explicit func(path string) bool
}

func (c *checker) add(path, format string, args ...any) {
	c.problems = append(c.problems, Problem{Field: path, Message: fmt.Sprintf(format, args...)})
}

// where says where an earlier element is, for "duplicate name" messages.
func (c *checker) where(path string) string {
	if c.lineOf != nil {
		if l := c.lineOf(path); l > 0 {
			return "line " + strconv.Itoa(l)
		}
	}
	return path
}

// positive checks a duration that defaults when zero: negative, or zero written
// out in the document (which would silently become the default), is wrong.
func (c *checker) positive(path string, d time.Duration) {
	if d < 0 || d == 0 && c.explicit != nil && c.explicit(path) {
		c.add(path, "must be > 0")
	}
}

// anyExplicit reports whether one of the fields of the mapping at path was written
// in the document (and maybe failed to decode).
func (c *checker) anyExplicit(path string, fields ...string) bool {
	for _, f := range fields {
		if c.explicit != nil && c.explicit(path+"."+f) {
			return true
		}
	}
	return false
}

func (c *checker) nonNegative(path string, d time.Duration) {
	if d < 0 {
		c.add(path, "must be >= 0")
	}
}

var dnsName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

func (e *Experiment) check(c *checker) {
	switch e.APIVersion {
	case APIVersion:
	case "":
		c.add("apiVersion", "required (%s)", APIVersion)
	default:
		c.add("apiVersion", "must be %q, got %q", APIVersion, e.APIVersion)
	}
	switch e.Kind {
	case Kind:
	case "":
		c.add("kind", "required (%s)", Kind)
	default:
		c.add("kind", "must be %q, got %q", Kind, e.Kind)
	}
	switch name := e.Metadata.Name; {
	case name == "":
		c.add("metadata.name", "required")
	case len(name) > 63 || !dnsName.MatchString(name):
		c.add("metadata.name", "must be a DNS-1123 name: at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit")
	}
	for _, k := range slices.Sorted(maps.Keys(e.Metadata.Labels)) {
		v := e.Metadata.Labels[k]
		for _, msg := range validation.IsQualifiedName(k) {
			c.add("metadata.labels", "invalid label key %q: %s", k, msg)
		}
		for _, msg := range validation.IsValidLabelValue(v) {
			c.add("metadata.labels["+k+"]", "invalid label value: %s", msg)
		}
	}
	s := &e.Spec
	s.Target.check(c)
	probes := s.SteadyState.check(c)
	proxies := checkProxies(c, s.Proxies)
	checkProxyLoops(c, s.Proxies)
	s.checkFaults(c, proxies)
	for i, a := range s.Verify {
		p := "spec.verify[" + strconv.Itoa(i) + "]"
		checkInline(c, p, assertionFamily, a.Kind, a.Spec)
		checkRefs(c, p+"."+a.Kind, a.Spec, "Probe", "probe", probes)
	}
	for i, a := range s.Abort {
		p := "spec.abort[" + strconv.Itoa(i) + "]"
		if a.Probe == "" {
			c.add(p+".probe", "required")
		} else if _, ok := probes[a.Probe]; !ok {
			c.add(p+".probe", "references undefined probe %q", a.Probe)
		}
		if !(a.SuccessRatioBelow > 0 && a.SuccessRatioBelow <= 1) {
			c.add(p+".successRatioBelow", "must be > 0 and <= 1")
		}
		c.positive(p+".over", a.Over)
	}
	for i, r := range s.Rollbacks {
		r.check(c, "spec.rollbacks["+strconv.Itoa(i)+"]")
	}
	s.Safety.check(c, s)
}

func (t Target) check(c *checker) {
	k := t.Kubernetes
	if k == nil {
		return
	}
	const p = "spec.target.kubernetes"
	if k.InCluster && (k.Kubeconfig != "" || k.Context != "") {
		c.add(p+".inCluster", "excludes kubeconfig and context")
	}
	if k.QPS < 0 {
		c.add(p+".qps", "must be >= 0")
	}
	if k.Burst < 0 {
		c.add(p+".burst", "must be >= 0")
	}
}

// check validates the probes and returns their names (→ path of the entry).
func (s *SteadyState) check(c *checker) map[string]string {
	const p = "spec.steadyState"
	c.positive(p+".baseline", s.Baseline)
	c.positive(p+".recovery", s.Recovery)
	if len(s.Probes) == 0 {
		c.add(p+".probes", "at least one probe is required")
	}
	names := map[string]string{}
	for i, pr := range s.Probes {
		ip := p + ".probes[" + strconv.Itoa(i) + "]"
		c.uniqueName(names, ip, pr.Name)
		c.positive(ip+".every", pr.Every)
		if pr.MaxInFlight < 0 {
			c.add(ip+".maxInFlight", "must be >= 1 (omit it for the default %d)", DefaultMaxInFlight)
		}
		if pr.Every > 0 && pr.Every < MinProbeEvery {
			c.add(ip+".every", "must be at least %s (the probe interval floor: a faster probe loads the system it measures and floods the report)", fmtDuration(MinProbeEvery))
		}
		if slo := pr.SLO; slo != nil {
			if !(slo.SuccessRatio >= 0 && slo.SuccessRatio <= 1) {
				c.add(ip+".slo.successRatio", "must be between 0 and 1")
			}
			c.nonNegative(ip+".slo.latencyP50", slo.LatencyP50)
			c.nonNegative(ip+".slo.latencyP95", slo.LatencyP95)
			c.nonNegative(ip+".slo.latencyP99", slo.LatencyP99)
			if *slo == (SLO{DuringFaults: slo.DuringFaults}) && !c.anyExplicit(ip+".slo", "successRatio", "latencyP50", "latencyP95", "latencyP99") {
				c.add(ip+".slo", "sets no objective: give successRatio or a latency bound")
			}
		}
		checkInline(c, ip, probeFamily, pr.Kind, pr.Spec)
	}
	return names
}

// uniqueName checks the name of the entry at path; names maps name → entry path.
func (c *checker) uniqueName(names map[string]string, path, name string) {
	if name == "" {
		c.add(path+".name", "required")
		return
	}
	if first, dup := names[name]; dup {
		c.add(path+".name", "duplicate name %q (first at %s)", name, c.where(first))
		return
	}
	names[name] = path + ".name"
}

func checkProxies(c *checker, proxies []ProxySpec) map[string]string {
	names := map[string]string{}
	for i, px := range proxies {
		p := "spec.proxies[" + strconv.Itoa(i) + "]"
		c.uniqueName(names, p, px.Name)
		switch {
		case px.API != "" && (px.Listen != "" || px.Upstream != ""):
			c.add(p, "give either listen and upstream (a proxy of this run) or api (a running proxy), not both")
		case px.API != "":
			if err := checkAPI(px.API); err != "" {
				c.add(p+".api", "%s", err)
			}
		default:
			for _, f := range []struct{ name, value string }{{"listen", px.Listen}, {"upstream", px.Upstream}} {
				if f.value == "" {
					c.add(p+"."+f.name, "required (or give api)")
				} else if err := checkHostPort(f.value); err != "" {
					c.add(p+"."+f.name, "%s", err)
				}
			}
		}
	}
	return names
}

func checkHostPort(s string) string {
	_, port, err := net.SplitHostPort(s)
	if err == nil {
		if n, perr := strconv.Atoi(port); perr != nil || n < 0 || n > 65535 {
			err = fmt.Errorf("bad port")
		}
	}
	if err != nil {
		return fmt.Sprintf("must be host:port, e.g. \"127.0.0.1:9001\", got %q", s)
	}
	return ""
}

func checkAPI(s string) string {
	if strings.Contains(s, "@") { // never echo it: it may hold a token
		return "must not carry credentials: put the token in a file named by $" + proxy.EnvTokenFile + " (or in $" + proxy.EnvToken + ")"
	}
	if !strings.Contains(s, "://") {
		return checkHostPort(s)
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Sprintf("must be host:port or an http(s) URL, got %q", s)
	}
	return ""
}

func (s *Spec) checkFaults(c *checker, proxies map[string]string) {
	if len(s.Faults) == 0 {
		c.add("spec.faults", "at least one fault is required")
	}
	names := map[string]string{}
	for i, f := range s.Faults {
		p := "spec.faults[" + strconv.Itoa(i) + "]"
		c.uniqueName(names, p, f.Name)
		c.nonNegative(p+".after", f.After)
		c.positive(p+".duration", f.Duration)
		checkInline(c, p, injectorFamily, f.Kind, f.Spec)
		checkRefs(c, p+"."+f.Kind, f.Spec, "Proxy", "proxy", proxies)
	}
}

func (r Rollback) check(c *checker, p string) {
	if r.Exec == nil {
		c.add(p, "needs exactly one action: exec")
		return
	}
	x := r.Exec
	if len(x.Command) == 0 {
		c.add(p+".exec.command", "required")
	} else if x.Command[0] == "" {
		c.add(p+".exec.command[0]", "must not be empty")
	}
	c.positive(p+".exec.timeout", x.Timeout)
}

// fmtDuration writes "10m" rather than "10m0s".
func fmtDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
