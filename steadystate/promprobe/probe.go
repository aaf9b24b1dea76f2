package promprobe

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/faultline-dev/faultline/steadystate"
)

// Register adds the prometheus probe to r.
func Register(r *steadystate.Registry) error {
	return r.Register(steadystate.Definition{
		Key:     Key,
		Summary: "evaluates a PromQL instant query and compares its value (below, above, equals, between), or reads a breaker state from it",
		NewSpec: func() any { return &Spec{} },
		New: func(spec any, _ *steadystate.Env) (steadystate.Probe, error) {
			s, ok := spec.(*Spec)
			if !ok {
				return nil, fmt.Errorf("promprobe: spec is %T, want *promprobe.Spec", spec)
			}
			return New(s)
		},
	})
}

// Probe is one configured prometheus probe. It is safe for concurrent use.
type Probe struct {
	spec     Spec
	api      v1.API
	tr       *http.Transport
	setupErr error // e.g. an unreadable tls.caFile: every observation is errored
}

var _ steadystate.Probe = (*Probe)(nil)

// New builds a probe from a validated spec, without I/O beyond reading TLS files.
// A TLS file that cannot be read does not fail New: every observation is then
// errored, saying why.
func New(s *Spec) (*Probe, error) {
	if errs := s.Validate(field.NewPath(Key)); len(errs) > 0 {
		return nil, fmt.Errorf("promprobe: %w", errs.ToAggregate())
	}
	p := &Probe{spec: *s}
	rt, tr, err := newTransport(&p.spec)
	p.tr, p.setupErr = tr, err
	c, err := api.NewClient(api.Config{Address: s.URL, Client: &http.Client{Transport: rt}})
	if err != nil {
		return nil, fmt.Errorf("promprobe: url: %w", err)
	}
	p.api = v1.NewAPI(c)
	return p, nil
}

// Close releases the probe's idle connections (io.Closer, for the runner); the
// probe stays usable.
func (p *Probe) Close() error {
	p.tr.CloseIdleConnections()
	return nil
}

// Probe evaluates the query once and judges the result. It blocks for at most the
// probe's timeout.
func (p *Probe) Probe(ctx context.Context) steadystate.Observation {
	start := time.Now()
	obs := steadystate.Observation{Time: start}
	if p.setupErr != nil {
		obs.Status, obs.Detail = steadystate.StatusErrored, p.setupErr.Error()
		return obs
	}
	timeout := p.spec.timeout()
	qctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	val, warnings, err := p.api.Query(qctx, p.spec.Query, time.Time{}, v1.WithTimeout(evalTimeout(timeout)))
	obs.Latency = time.Since(start)
	if err != nil {
		obs.Status, obs.Detail = steadystate.StatusErrored, p.describe(ctx, qctx, err)
		return obs
	}
	res, err := samples(val)
	if err != nil {
		obs.Status, obs.Detail = steadystate.StatusErrored, err.Error()
		return obs
	}
	var v verdict
	if p.spec.Breaker != nil {
		v = p.spec.readBreaker(res)
	} else {
		v = p.spec.judge(res)
	}
	obs.Status, obs.Detail, obs.Values = v.Status, v.Detail, v.Values
	if len(warnings) > 0 {
		obs.Values["warnings"] = strings.Join(warnings, "; ")
	}
	return obs
}

// evalTimeout is the query's evaluation timeout sent to Prometheus: the client
// sends Duration.String(), and Prometheus parses neither "1.5s" nor "1.234567s", so
// it is truncated to whole seconds (whole milliseconds under a second). The probe's
// own deadline stays exact.
func evalTimeout(d time.Duration) time.Duration {
	if d >= time.Second {
		return d.Truncate(time.Second)
	}
	return max(d.Truncate(time.Millisecond), time.Millisecond)
}

// describe says why Prometheus could not be asked; every case is errored.
func (p *Probe) describe(parent, qctx context.Context, err error) string {
	var apiErr *v1.Error
	var secErr secretError
	switch {
	case steadystate.Cancelled(parent):
		return "cancelled: " + err.Error()
	case qctx.Err() != nil:
		return fmt.Sprintf("prometheus did not answer within %s", steadystate.FormatDuration(p.spec.timeout()))
	case errors.As(err, &secErr):
		return secErr.Error()
	case errors.As(err, &apiErr):
		msg := "prometheus: " + apiErr.Error()
		if d := strings.TrimSpace(apiErr.Detail); d != "" && (apiErr.Type == v1.ErrClient || apiErr.Type == v1.ErrServer) {
			if len(d) > 200 {
				d = d[:200] + "..."
			}
			msg += ": " + d
		}
		return msg
	}
	return "asking prometheus: " + err.Error()
}

// samples flattens an instant query's result: a vector's series or a scalar. A
// range vector or a string cannot be judged.
func samples(val model.Value) ([]sample, error) {
	switch v := val.(type) {
	case model.Vector:
		out := make([]sample, 0, len(v))
		for _, s := range v {
			labels := make(map[string]string, len(s.Metric))
			for k, lv := range s.Metric {
				labels[string(k)] = string(lv)
			}
			out = append(out, sample{Series: s.Metric.String(), Labels: labels, Value: float64(s.Value)})
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Series < out[j].Series })
		return out, nil
	case *model.Scalar:
		return []sample{{Series: "scalar", Value: float64(v.Value)}}, nil
	case model.Matrix:
		return nil, errors.New("query returned a range vector (x[5m]); an instant query needs an instant vector, e.g. rate(x[5m])")
	case *model.String:
		return nil, fmt.Errorf("query returned the string %q, want a number", v.Value)
	case nil:
		return nil, errors.New("prometheus returned no result")
	}
	return nil, fmt.Errorf("query returned a %s, want an instant vector or a scalar", val.Type())
}
