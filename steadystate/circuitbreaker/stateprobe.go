package circuitbreaker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/faultline-dev/faultline/steadystate"
)

// ProbeKey is the YAML key of the breakerState probe.
const ProbeKey = "breakerState"

// DefaultProbeTimeout bounds one breakerState request when ProbeSpec.Timeout is zero.
const DefaultProbeTimeout = time.Second

// ProbeSpec is the `breakerState` block of a probe: it reads a breaker's state into
// Values["breaker"] ("closed", "open", "half-open"). Set exactly one of HTTP, Metric.
//
//	probes:
//	  - name: checkout-breaker
//	    every: 100ms
//	    breakerState:
//	      http: {url: "http://127.0.0.1:18080/breaker", jsonField: state}
//	      # or a numeric gauge (gobreaker, failsafe-style 0/1/2):
//	      metric: {url: "http://127.0.0.1:18080/metrics", name: checkout_breaker_state,
//	               labels: {name: payments}, closedValue: 0, openValue: 2, halfOpenValue: 1}
//	      # or one series per state, the current one at 1 (resilience4j, Micrometer):
//	      metric: {url: "http://127.0.0.1:8080/actuator/prometheus",
//	               name: resilience4j_circuitbreaker_state, labels: {name: backendA},
//	               stateLabel: state}
//
// The observation is ok when the breaker is closed and failed when it is open or
// half-open (the system is degraded), or when the endpoint answered badly (not 2xx,
// field or metric missing, unknown state). Transport errors are failed too (the
// target is down); only a request that cannot be built is errored.
//
// Values["breaker"] with one of the three states is the contract every breaker state
// source keeps (this probe, the http probe's X-Circuit-State header, any probe named
// by circuitBreaker.stateFrom.probe): circuitBreaker reads nothing else.
type ProbeSpec struct {
	HTTP    *HTTPState    `yaml:"http,omitempty" json:"http,omitempty"`
	Metric  *MetricState  `yaml:"metric,omitempty" json:"metric,omitempty"`
	Timeout time.Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
}

// HTTPState reads the state from a JSON document.
type HTTPState struct {
	URL string `yaml:"url" json:"url"`
	// JSONField is the dotted path of a string field holding the state (default "state").
	JSONField string `yaml:"jsonField,omitempty" json:"jsonField,omitempty"`
}

// MetricState reads the state from a metric in the Prometheus text format, either a
// numeric gauge (OpenValue, HalfOpenValue, ClosedValue) or one series per state
// (StateLabel).
type MetricState struct {
	URL  string `yaml:"url" json:"url"`
	Name string `yaml:"name" json:"name"`
	// Labels the sample must carry (others are ignored), e.g. {name: payments} to
	// pick one breaker among several.
	Labels map[string]string `yaml:"labels,omitempty" json:"labels,omitempty"`
	// OpenValue is the gauge value meaning open (required without StateLabel).
	OpenValue *float64 `yaml:"openValue,omitempty" json:"openValue,omitempty"`
	// HalfOpenValue is the value meaning half-open (optional).
	HalfOpenValue *float64 `yaml:"halfOpenValue,omitempty" json:"halfOpenValue,omitempty"`
	// ClosedValue is the value meaning closed (optional). When set, any value that is
	// none of the three is a failed observation ("unknown value"); when not set,
	// any value other than OpenValue and HalfOpenValue reads as closed.
	ClosedValue *float64 `yaml:"closedValue,omitempty" json:"closedValue,omitempty"`
	// StateLabel names the label that carries the state when the exporter writes
	// one series per state, the current one with value 1 and the others 0
	// (resilience4j_circuitbreaker_state{name="backendA",state="half_open"} 1). The
	// label's values are read as: closed, open, half_open / half-open (any case),
	// forced_open (open), disabled and metrics_only (closed), plus StateValues.
	StateLabel string `yaml:"stateLabel,omitempty" json:"stateLabel,omitempty"`
	// StateValues maps further values of StateLabel to closed, open or half-open,
	// e.g. {tripped: open, probing: half-open}.
	StateValues map[string]string `yaml:"stateValues,omitempty" json:"stateValues,omitempty"`
	// WhenAbsent is the state read when the endpoint answers but has no matching
	// sample (a gauge exported only once the breaker exists): closed, open or
	// half-open. Default: an absent metric is a failed observation.
	WhenAbsent string `yaml:"whenAbsent,omitempty" json:"whenAbsent,omitempty"`
}

// Validate checks the spec without I/O.
func (s *ProbeSpec) Validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch {
	case s.HTTP == nil && s.Metric == nil:
		errs = append(errs, field.Required(p, "must set one of: http, metric"))
	case s.HTTP != nil && s.Metric != nil:
		errs = append(errs, field.Forbidden(p, "must set only one of: http, metric"))
	case s.HTTP != nil:
		errs = append(errs, validURL(p.Child("http", "url"), s.HTTP.URL)...)
	default:
		mp := p.Child("metric")
		errs = append(errs, validURL(mp.Child("url"), s.Metric.URL)...)
		if s.Metric.Name == "" {
			errs = append(errs, field.Required(mp.Child("name"), "must name a metric"))
		}
		errs = append(errs, s.Metric.validate(mp)...)
	}
	if s.Timeout < 0 {
		errs = append(errs, field.Invalid(p.Child("timeout"), s.Timeout.String(), "must be > 0"))
	}
	return errs
}

func validURL(p *field.Path, raw string) field.ErrorList {
	if raw == "" {
		return field.ErrorList{field.Required(p, "an http or https url is required")}
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return field.ErrorList{field.Invalid(p, raw, "must be an http or https url with a host")}
	}
	return nil
}

// StateProbe reads a breaker state per observation.
type StateProbe struct {
	spec   ProbeSpec
	client *http.Client
}

var _ steadystate.Probe = (*StateProbe)(nil)

// NewStateProbe builds a probe from a validated spec; it has no side effects.
func NewStateProbe(s ProbeSpec) (*StateProbe, error) {
	if errs := s.Validate(field.NewPath(ProbeKey)); len(errs) > 0 {
		return nil, fmt.Errorf("circuitbreaker: %w", errs.ToAggregate())
	}
	if s.Timeout == 0 {
		s.Timeout = DefaultProbeTimeout
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	tr.MaxIdleConnsPerHost = 2
	return &StateProbe{spec: s, client: &http.Client{Transport: tr, Timeout: s.Timeout}}, nil
}

// Probe reads the state once. It blocks for at most the probe's timeout.
func (p *StateProbe) Probe(ctx context.Context) steadystate.Observation {
	start := time.Now()
	obs := func(st steadystate.Status, detail string, values map[string]string) steadystate.Observation {
		return steadystate.Observation{Time: start, Status: st, Latency: time.Since(start), Detail: detail, Values: values}
	}
	u := p.spec.Metric.url(p.spec.HTTP)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, http.NoBody)
	if err != nil {
		return obs(steadystate.StatusErrored, err.Error(), nil)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return obs(steadystate.StatusErrored, "cancelled: "+ctx.Err().Error(), nil)
		}
		var dns *net.DNSError
		if errors.As(err, &dns) {
			return obs(steadystate.StatusErrored, dns.Error(), nil)
		}
		return obs(steadystate.StatusFailed, err.Error(), nil)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return obs(steadystate.StatusFailed, "reading body: "+err.Error(), nil)
	}
	if resp.StatusCode/100 != 2 {
		return obs(steadystate.StatusFailed, strconv.Itoa(resp.StatusCode), nil)
	}
	var state string
	if p.spec.HTTP != nil {
		state, err = jsonState(body, p.spec.HTTP.JSONField)
	} else {
		state, err = p.spec.Metric.state(body)
	}
	if err != nil {
		return obs(steadystate.StatusFailed, err.Error(), nil)
	}
	values := map[string]string{StateValue: state}
	switch state {
	case StateClosed:
		return obs(steadystate.StatusOK, state, values)
	case StateOpen, StateHalfOpen:
		return obs(steadystate.StatusFailed, state, values)
	}
	return obs(steadystate.StatusFailed, fmt.Sprintf("unknown breaker state %q", state), nil)
}

func (m *MetricState) url(h *HTTPState) string {
	if m != nil {
		return m.URL
	}
	return h.URL
}

// jsonState reads the dotted field (default "state") of a JSON object as a state.
func jsonState(body []byte, path string) (string, error) {
	if path == "" {
		path = "state"
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return "", fmt.Errorf("body is not JSON: %w", err)
	}
	for _, part := range strings.Split(path, ".") {
		obj, ok := v.(map[string]any)
		if !ok {
			return "", fmt.Errorf("field %q: not an object above %q", path, part)
		}
		if v, ok = obj[part]; !ok {
			return "", fmt.Errorf("field %q not found", path)
		}
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("field %q is %T, want a string", path, v)
	}
	return normalizeState(s), nil
}
