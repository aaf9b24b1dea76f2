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
//	    every: 200ms
//	    breakerState:
//	      http: {url: "http://127.0.0.1:18080/breaker", jsonField: state}
//	      # or
//	      metric: {url: "http://127.0.0.1:18080/metrics", name: checkout_breaker_state,
//	               labels: {name: payments}, openValue: 2, halfOpenValue: 1}
//
// The observation is ok when the breaker is closed and failed when it is open or
// half-open (the system is degraded), or when the endpoint answered badly (not 2xx,
// field or metric missing, unknown state). Transport errors are failed too (the
// target is down); only a request that cannot be built is errored.
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

// MetricState reads the state from a gauge in the Prometheus text format.
type MetricState struct {
	URL  string `yaml:"url" json:"url"`
	Name string `yaml:"name" json:"name"`
	// Labels the sample must carry (others are ignored).
	Labels map[string]string `yaml:"labels,omitempty" json:"labels,omitempty"`
	// OpenValue is the gauge value meaning open (required).
	OpenValue *float64 `yaml:"openValue" json:"openValue"`
	// HalfOpenValue is the value meaning half-open (optional); any other value is closed.
	HalfOpenValue *float64 `yaml:"halfOpenValue,omitempty" json:"halfOpenValue,omitempty"`
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
		if s.Metric.OpenValue == nil {
			errs = append(errs, field.Required(mp.Child("openValue"), "must give the value that means open, e.g. 2"))
		}
		if a := s.Metric.WhenAbsent; a != "" && a != StateClosed && a != StateOpen && a != StateHalfOpen {
			errs = append(errs, field.NotSupported(mp.Child("whenAbsent"), a, []string{StateClosed, StateOpen, StateHalfOpen}))
		}
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

// state finds the metric's first matching sample and maps its value to a state.
func (m *MetricState) state(body []byte) (string, error) {
	v, err := findSample(string(body), m.Name, m.Labels)
	if errors.Is(err, errNotFound) && m.WhenAbsent != "" {
		return m.WhenAbsent, nil
	}
	if err != nil {
		return "", err
	}
	switch {
	case v == *m.OpenValue:
		return StateOpen, nil
	case m.HalfOpenValue != nil && v == *m.HalfOpenValue:
		return StateHalfOpen, nil
	}
	return StateClosed, nil
}
