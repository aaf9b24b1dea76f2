// Package promprobe is the `prometheus` probe: one PromQL instant query per
// observation, judged by comparing the value(s) it returns, or read as a circuit
// breaker's state.
//
//	steadyState:
//	  probes:
//	    - name: checkout-errors
//	      every: 1s
//	      prometheus:
//	        url: http://127.0.0.1:9090          # the Prometheus (or Thanos, Mimir) API
//	        query: |
//	          sum(rate(checkout_requests_total{outcome="error"}[10s]))
//	            / sum(rate(checkout_requests_total[10s]))
//	        below: 0.01                         # or above, equals, between: [lo, hi]
//	        series: one                         # one (default) | all | any
//	        ifEmpty: errored                    # errored (default) | failed | ok
//	        timeout: 2s                         # per request (default 2s)
//	        bearerTokenFile: /var/run/secrets/prometheus-token   # or bearerTokenEnv
//	        # basicAuth: {username: faultline, passwordEnv: PROM_PASSWORD}  # or passwordFile; not with a token
//	        tls: {caFile: ca.pem, certFile: c.pem, keyFile: k.pem, serverName: prom, insecureSkipVerify: false}
//
// What is ok: every comparison given must hold: `below: x` is value < x, `above: x`
// is value > x (both together: a range, open at both ends), `equals: x` is value ==
// x, `between: [lo, hi]` is lo <= value <= hi.
//
// How many series: with `series: one` the query must return exactly one series (or a
// scalar); several are an error that names them (aggregate with sum/max, or choose
// all/any). With `all` every series must satisfy the comparison, with `any` at
// least one.
//
// Classification (see the steadystate package doc):
//
//	errored (the probe could not ask Prometheus, or its answer cannot be judged):
//	  Prometheus unreachable or not answering within timeout, an HTTP error (401,
//	  503, ...), a PromQL error (Detail is Prometheus' own message, e.g. "bad_data:
//	  invalid parameter \"query\": 1:9: parse error: ..."), a result that is a range
//	  vector or a string, several series under `series: one`, a secret file or
//	  environment variable that cannot be read, the runner's context ending.
//	failed: the value(s) do not satisfy the comparison; in breaker mode the breaker
//	  is open or half-open.
//	ok: they do; in breaker mode the breaker is closed.
//
// NaN is no data: an error ratio over a window without traffic is 0/0, and
// histogram_quantile of no observations is NaN. Series whose value is NaN are left
// out (as a PromQL filter like `x < 0.01` leaves them out); a result of only NaN is
// the empty result.
//
// Empty result: a query that returns no series, or only NaN, is its own outcome,
// "empty result" (Detail "empty result: no series" or "empty result: only NaN ...",
// Values["result"] = "empty"), and is errored by default. An empty result usually means the query does not match what
// is scraped (a typo in a metric or label name, a target not scraped yet, a counter
// never incremented), which says nothing of the system: counting it as failed would
// turn a typo into an outage, counting it as ok would let a run pass on no data.
// Errored observations do not count in SLOs, and a check that saw only errored
// observations is errored, so the safe default cannot make a run pass. Set
// `ifEmpty: failed` when absence is the bad sign (`up{job="checkout"} == 1` returns
// nothing once the target is down) and `ifEmpty: ok` for alert-style queries where
// no series is good news (`ALERTS{alertname="CheckoutErrors"}`).
//
// Breaker mode: with `breaker`, the probe reads a circuit breaker's state into
// Values["breaker"] ("closed", "open", "half-open"), the contract of
// circuitBreaker's `stateFrom: {probe: NAME}`. Either a numeric gauge, whose values
// are mapped (`breaker: {gauge: {closed: 0, halfOpen: 1, open: 2}}`), or one series
// per state, the current one having value 1, like resilience4j's
// `resilience4j_circuitbreaker_state{name="backendA",state="half_open"} 1`
// (`breaker: {stateLabel: {label: state, closed: [closed], open: [open,
// forced_open], halfOpen: [half_open]}}`, those being the defaults). The observation
// is ok when closed and failed when open or half-open. A value or label value that is
// mapped to no state is errored and named in Detail.
//
// Values: "value" (the exact value, when one series), "series" (how many series the
// query returned), the value of each series by its labels (up to 10, when several),
// "nan" (how many were NaN), "result" = "empty" for the empty outcome, "breaker" in breaker
// mode, "warnings" when Prometheus sent any. Latency is the time Prometheus took to
// answer: judge the system's latency with a histogram_quantile query, not with
// slo.latencyP99 of this probe.
//
// Secrets are never written in the experiment: the bearer token and the basic-auth
// password come from a file (read at every request, so rotated tokens work) or an
// environment variable. Each probe keeps one HTTP client (keep-alive, at most 2 idle
// connections) and ignores HTTP proxies from the environment.
package promprobe

import (
	"fmt"
	"math"
	"net/url"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Key is the YAML key of this probe.
const Key = "prometheus"

// DefaultTimeout bounds one query when Spec.Timeout is zero.
const DefaultTimeout = 2 * time.Second

// Series rules.
const (
	SeriesOne = "one"
	SeriesAll = "all"
	SeriesAny = "any"
)

// Empty-result outcomes (Spec.IfEmpty).
const (
	EmptyErrored = "errored"
	EmptyFailed  = "failed"
	EmptyOK      = "ok"
)

// Spec is the `prometheus` block of a probe.
type Spec struct {
	// URL is the base URL of the Prometheus HTTP API, e.g. http://127.0.0.1:9090
	// (the probe calls URL/api/v1/query).
	URL string `yaml:"url" json:"url"`
	// Query is the PromQL expression, evaluated as an instant query at each observation.
	Query string `yaml:"query" json:"query"`
	// Below: ok when value < Below.
	Below *float64 `yaml:"below,omitempty" json:"below,omitempty"`
	// Above: ok when value > Above.
	Above *float64 `yaml:"above,omitempty" json:"above,omitempty"`
	// Equals: ok when value == Equals.
	Equals *float64 `yaml:"equals,omitempty" json:"equals,omitempty"`
	// Between [lo, hi]: ok when lo <= value <= hi.
	Between []float64 `yaml:"between,omitempty" json:"between,omitempty"`
	// Series is how several series are judged: one (default; several are errored),
	// all, any.
	Series string `yaml:"series,omitempty" json:"series,omitempty"`
	// IfEmpty is the status of an empty result: errored (default), failed or ok.
	IfEmpty string `yaml:"ifEmpty,omitempty" json:"ifEmpty,omitempty"`
	// Breaker reads a circuit breaker state instead of comparing a value.
	Breaker *Breaker `yaml:"breaker,omitempty" json:"breaker,omitempty"`
	// Timeout bounds one query, connection included (default 2s); it is also sent
	// to Prometheus as the query's evaluation timeout.
	Timeout time.Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	// BearerTokenFile holds the token sent as "Authorization: Bearer ...".
	BearerTokenFile string `yaml:"bearerTokenFile,omitempty" json:"bearerTokenFile,omitempty"`
	// BearerTokenEnv names the environment variable holding the token.
	BearerTokenEnv string `yaml:"bearerTokenEnv,omitempty" json:"bearerTokenEnv,omitempty"`
	// BasicAuth sends HTTP basic authentication.
	BasicAuth *BasicAuth `yaml:"basicAuth,omitempty" json:"basicAuth,omitempty"`
	// TLS configures https URLs.
	TLS *TLS `yaml:"tls,omitempty" json:"tls,omitempty"`
}

// BasicAuth is a username and a password from a file or an environment variable.
type BasicAuth struct {
	Username     string `yaml:"username" json:"username"`
	PasswordFile string `yaml:"passwordFile,omitempty" json:"passwordFile,omitempty"`
	PasswordEnv  string `yaml:"passwordEnv,omitempty" json:"passwordEnv,omitempty"`
}

// TLS configures the connection to an https Prometheus.
type TLS struct {
	// CAFile is a PEM bundle of the CAs to trust (default: the system's).
	CAFile string `yaml:"caFile,omitempty" json:"caFile,omitempty"`
	// CertFile and KeyFile are a client certificate and key (PEM), for mutual TLS.
	CertFile           string `yaml:"certFile,omitempty" json:"certFile,omitempty"`
	KeyFile            string `yaml:"keyFile,omitempty" json:"keyFile,omitempty"`
	ServerName         string `yaml:"serverName,omitempty" json:"serverName,omitempty"`
	InsecureSkipVerify bool   `yaml:"insecureSkipVerify,omitempty" json:"insecureSkipVerify,omitempty"`
}

// Breaker maps the query's result to a breaker state; set exactly one field.
type Breaker struct {
	Gauge      *Gauge      `yaml:"gauge,omitempty" json:"gauge,omitempty"`
	StateLabel *StateLabel `yaml:"stateLabel,omitempty" json:"stateLabel,omitempty"`
}

// Gauge maps the value of one series to a state. Closed and Open are required.
type Gauge struct {
	Closed   *float64 `yaml:"closed" json:"closed"`
	Open     *float64 `yaml:"open" json:"open"`
	HalfOpen *float64 `yaml:"halfOpen,omitempty" json:"halfOpen,omitempty"`
}

// StateLabel reads one series per state: the series whose value is 1 (non-zero)
// is the current state, named by the value of Label.
type StateLabel struct {
	// Label names the state (default "state").
	Label string `yaml:"label,omitempty" json:"label,omitempty"`
	// Label values meaning each state (defaults: [closed], [open, forced_open],
	// [half_open]).
	Closed   []string `yaml:"closed,omitempty" json:"closed,omitempty"`
	Open     []string `yaml:"open,omitempty" json:"open,omitempty"`
	HalfOpen []string `yaml:"halfOpen,omitempty" json:"halfOpen,omitempty"`
}

// Defaults of StateLabel, resilience4j's names.
var (
	DefaultStateLabel    = "state"
	DefaultClosedValues  = []string{"closed"}
	DefaultOpenValues    = []string{"open", "forced_open"}
	DefaultHalfOpenValue = []string{"half_open"}
)

// Validate checks the spec without I/O and without changing it.
func (s *Spec) Validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if s.URL == "" {
		errs = append(errs, field.Required(p.Child("url"), "the Prometheus API base URL is required, e.g. http://127.0.0.1:9090"))
	} else if u, err := url.Parse(s.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, field.Invalid(p.Child("url"), s.URL, "must be an http or https URL with a host"))
	}
	if s.Query == "" {
		errs = append(errs, field.Required(p.Child("query"), "a PromQL expression is required"))
	}
	errs = append(errs, s.validateJudgement(p)...)
	if s.Series != "" && s.Series != SeriesOne && s.Series != SeriesAll && s.Series != SeriesAny {
		errs = append(errs, field.NotSupported(p.Child("series"), s.Series, []string{SeriesOne, SeriesAll, SeriesAny}))
	}
	if s.IfEmpty != "" && s.IfEmpty != EmptyErrored && s.IfEmpty != EmptyFailed && s.IfEmpty != EmptyOK {
		errs = append(errs, field.NotSupported(p.Child("ifEmpty"), s.IfEmpty, []string{EmptyErrored, EmptyFailed, EmptyOK}))
	}
	if s.Timeout < 0 {
		errs = append(errs, field.Invalid(p.Child("timeout"), s.Timeout.String(), "must be > 0"))
	}
	if s.BearerTokenFile != "" && s.BearerTokenEnv != "" {
		errs = append(errs, field.Forbidden(p.Child("bearerTokenEnv"), "set only one of: bearerTokenFile, bearerTokenEnv"))
	}
	if b := s.BasicAuth; b != nil {
		bp := p.Child("basicAuth")
		if b.Username == "" {
			errs = append(errs, field.Required(bp.Child("username"), "must name the user"))
		}
		switch {
		case b.PasswordFile == "" && b.PasswordEnv == "":
			errs = append(errs, field.Required(bp, "must set one of: passwordFile, passwordEnv (never an inline password)"))
		case b.PasswordFile != "" && b.PasswordEnv != "":
			errs = append(errs, field.Forbidden(bp.Child("passwordEnv"), "set only one of: passwordFile, passwordEnv"))
		}
		if s.BearerTokenFile != "" || s.BearerTokenEnv != "" {
			errs = append(errs, field.Forbidden(bp, "set either a bearer token or basicAuth, not both"))
		}
	}
	if t := s.TLS; t != nil && (t.CertFile == "") != (t.KeyFile == "") {
		errs = append(errs, field.Required(p.Child("tls"), "certFile and keyFile go together"))
	}
	return errs
}

// validateJudgement checks that exactly one way of judging is given: comparisons
// or breaker.
func (s *Spec) validateJudgement(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	comparing := s.Below != nil || s.Above != nil || s.Equals != nil || s.Between != nil
	if s.Breaker != nil {
		bp := p.Child("breaker")
		if comparing {
			errs = append(errs, field.Forbidden(bp, "breaker mode reads a state; do not also set below, above, equals or between"))
		}
		if s.Series != "" && s.Series != SeriesOne {
			errs = append(errs, field.Forbidden(p.Child("series"), "breaker mode reads one breaker; filter the query to it"))
		}
		return append(errs, s.Breaker.validate(bp)...)
	}
	if !comparing {
		return field.ErrorList{field.Required(p, "must set what is ok: below, above, equals, between, or breaker")}
	}
	for _, c := range []struct {
		name string
		v    *float64
	}{{"below", s.Below}, {"above", s.Above}, {"equals", s.Equals}} {
		if c.v != nil && math.IsNaN(*c.v) {
			errs = append(errs, field.Invalid(p.Child(c.name), "NaN", "must be a number"))
		}
	}
	if s.Equals != nil && (s.Below != nil || s.Above != nil || s.Between != nil) {
		errs = append(errs, field.Forbidden(p.Child("equals"), "equals stands alone; do not combine it with below, above or between"))
	}
	if s.Between != nil {
		bp := p.Child("between")
		switch {
		case s.Below != nil || s.Above != nil:
			errs = append(errs, field.Forbidden(bp, "between is a range already; do not combine it with below or above"))
		case len(s.Between) != 2:
			errs = append(errs, field.Invalid(bp, s.Between, "must be [lo, hi]"))
		case !(s.Between[0] <= s.Between[1]):
			errs = append(errs, field.Invalid(bp, s.Between, "must be [lo, hi] with lo <= hi"))
		}
	}
	if s.Below != nil && s.Above != nil && !(*s.Above < *s.Below) {
		errs = append(errs, field.Invalid(p.Child("below"), *s.Below, fmt.Sprintf("must be > above (%g), or nothing is ok", *s.Above)))
	}
	return errs
}

func (b *Breaker) validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch {
	case b.Gauge == nil && b.StateLabel == nil:
		return field.ErrorList{field.Required(p, "must set one of: gauge, stateLabel")}
	case b.Gauge != nil && b.StateLabel != nil:
		return field.ErrorList{field.Forbidden(p, "must set only one of: gauge, stateLabel")}
	case b.Gauge != nil:
		gp := p.Child("gauge")
		if b.Gauge.Closed == nil {
			errs = append(errs, field.Required(gp.Child("closed"), "the value that means closed, e.g. 0"))
		}
		if b.Gauge.Open == nil {
			errs = append(errs, field.Required(gp.Child("open"), "the value that means open, e.g. 2"))
		}
		seen := map[float64]string{}
		for _, m := range []struct {
			name string
			v    *float64
		}{{"closed", b.Gauge.Closed}, {"open", b.Gauge.Open}, {"halfOpen", b.Gauge.HalfOpen}} {
			if m.v == nil {
				continue
			}
			if other, dup := seen[*m.v]; dup {
				errs = append(errs, field.Invalid(gp.Child(m.name), *m.v, "is also the value of "+other))
			}
			seen[*m.v] = m.name
		}
	default:
		sp := p.Child("stateLabel")
		seen := map[string]string{}
		for _, m := range []struct {
			name string
			vs   []string
		}{{"closed", b.StateLabel.Closed}, {"open", b.StateLabel.Open}, {"halfOpen", b.StateLabel.HalfOpen}} {
			for i, v := range m.vs {
				if other, dup := seen[v]; dup {
					errs = append(errs, field.Invalid(sp.Child(m.name).Index(i), v, "is also listed under "+other))
				}
				seen[v] = m.name
			}
		}
	}
	return errs
}

func (s *Spec) timeout() time.Duration {
	if s.Timeout == 0 {
		return DefaultTimeout
	}
	return s.Timeout
}
