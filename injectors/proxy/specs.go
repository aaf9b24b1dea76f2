package proxy

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/faultline-dev/faultline/injectors"
)

// Modes of dependencyFailure.
const (
	ModeDown      = "down"
	ModeReset     = "reset"
	ModeTimeout   = "timeout"
	ModeHTTPError = "httpError"
)

// DependencyFailureSpec is the YAML of dependencyFailure:
//
//	dependencyFailure: {proxy: payments, mode: httpError, status: 503, share: 0.5, pathPrefix: /charge}
//
// down      the proxy stops listening and cuts its connections (refused, like a dead host)
// reset     connections are reset (RST) on their first data
// timeout   requests are swallowed: connections open but never answer
// httpError matching HTTP requests are answered with status (default 503) by the proxy
//
// Share (0..1, default 1) is the share of connections affected (reset, timeout) or
// of matching requests (httpError); down has no share.
type DependencyFailureSpec struct {
	Proxy      string  `yaml:"proxy" json:"proxy"`
	Mode       string  `yaml:"mode" json:"mode"`
	Status     int     `yaml:"status,omitempty" json:"status,omitempty"`
	Body       string  `yaml:"body,omitempty" json:"body,omitempty"`
	Share      float64 `yaml:"share,omitempty" json:"share,omitempty"`
	PathPrefix string  `yaml:"pathPrefix,omitempty" json:"pathPrefix,omitempty"`
	Method     string  `yaml:"method,omitempty" json:"method,omitempty"`
}

// Validate implements injectors.Validator.
func (s *DependencyFailureSpec) Validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if s.Proxy == "" {
		errs = append(errs, field.Required(p.Child("proxy"), "must name one of spec.proxies"))
	}
	modes := []string{ModeDown, ModeReset, ModeTimeout, ModeHTTPError}
	switch s.Mode {
	case ModeDown, ModeReset, ModeTimeout, ModeHTTPError:
	case "":
		errs = append(errs, field.Required(p.Child("mode"), "must be one of: "+strings.Join(modes, ", ")))
	default:
		errs = append(errs, field.NotSupported(p.Child("mode"), s.Mode, modes))
	}
	errs = append(errs, validShare(p.Child("share"), s.Share)...)
	if s.Mode == ModeDown && s.Share != 0 && s.Share != 1 {
		errs = append(errs, field.Invalid(p.Child("share"), s.Share, "mode down takes the whole proxy down: share must be 1 or omitted"))
	}
	if s.Mode != ModeHTTPError {
		for name, set := range map[string]bool{"status": s.Status != 0, "body": s.Body != "", "pathPrefix": s.PathPrefix != "", "method": s.Method != ""} {
			if set {
				errs = append(errs, field.Invalid(p.Child(name), "", "only applies to mode httpError"))
			}
		}
	}
	if s.Status != 0 && (s.Status < 100 || s.Status > 599) {
		errs = append(errs, field.Invalid(p.Child("status"), s.Status, "must be between 100 and 599"))
	}
	if s.PathPrefix != "" && !strings.HasPrefix(s.PathPrefix, "/") {
		errs = append(errs, field.Invalid(p.Child("pathPrefix"), s.PathPrefix, "must start with /"))
	}
	if s.Method != "" && s.Method != strings.ToUpper(s.Method) {
		errs = append(errs, field.Invalid(p.Child("method"), s.Method, "must be upper case, e.g. POST"))
	}
	return errs
}

func validShare(p *field.Path, share float64) field.ErrorList {
	if share < 0 || share > 1 {
		return field.ErrorList{field.Invalid(p, share, "must be between 0 and 1")}
	}
	return nil
}

func shareOf(s float64) float32 {
	if s == 0 {
		return 1
	}
	return float32(s)
}

func newDependencyFailure(spec any, env *injectors.Env) (injectors.Injector, error) {
	s, ok := spec.(*DependencyFailureSpec)
	if !ok {
		return nil, fmt.Errorf("dependencyFailure: unexpected spec type %T", spec)
	}
	f := &fault{key: "dependencyFailure", proxy: s.Proxy, env: env, mode: s.Mode}
	name := toxicName(env, "dependency-"+strings.ToLower(s.Mode))
	share := shareOf(s.Share)
	switch s.Mode {
	case ModeDown:
		f.down = true
		f.effect = injectors.EffectFailsFast
		f.action = fmt.Sprintf("take proxy %s down: refuse new connections and cut existing ones", s.Proxy)
		f.prove = proveRefused
	case ModeReset:
		f.toxics = []Toxic{{Name: name, Type: "reset_peer", Stream: Upstream, Toxicity: share}}
		f.effect = injectors.EffectFailsFast
		f.action = fmt.Sprintf("reset %.0f%% of connections through proxy %s on their first request", share*100, s.Proxy)
		f.prove = proveReset(share)
	case ModeTimeout:
		f.toxics = []Toxic{{Name: name, Type: "timeout", Stream: Upstream, Toxicity: share, Attributes: map[string]any{"timeout": 0}}}
		f.effect = injectors.EffectSlow
		f.action = fmt.Sprintf("swallow the requests of %.0f%% of connections through proxy %s (they never get an answer)", share*100, s.Proxy)
		f.prove = proveHang(share)
	case ModeHTTPError:
		f.effect = injectors.EffectFailsFast
		status := s.Status
		if status == 0 {
			status = http.StatusServiceUnavailable
		}
		f.toxics = []Toxic{{Name: name, Type: "http_fault", Stream: Upstream, Toxicity: 1, Attributes: map[string]any{
			"action": "status", "status": status, "body": s.Body, "share": float64(share),
			"path_prefix": s.PathPrefix, "method": s.Method}}}
		what := "HTTP requests"
		if s.Method != "" || s.PathPrefix != "" {
			what = strings.TrimSpace(s.Method+" "+s.PathPrefix+"*") + " requests"
		}
		f.action = fmt.Sprintf("answer %.0f%% of %s through proxy %s with %d", share*100, what, s.Proxy, status)
		f.prove = proveHTTPStatus(s.Method, s.PathPrefix, status, share)
	default:
		return nil, fmt.Errorf("dependencyFailure: unknown mode %q", s.Mode)
	}
	return f, nil
}

// LatencySpec is the YAML of latency:
//
//	latency: {proxy: payments, delay: 200ms, jitter: 20ms}
//
// Stream says which data is delayed: downstream (the default) delays what the
// dependency sends back, so every response arrives delay later; upstream delays the
// requests on their way to it. Either way a request/response round trip grows by
// delay. Share (0..1, default 1) is the share of connections affected. Delays have
// millisecond resolution (Toxiproxy's unit).
type LatencySpec struct {
	Proxy  string        `yaml:"proxy" json:"proxy"`
	Delay  time.Duration `yaml:"delay" json:"delay"`
	Jitter time.Duration `yaml:"jitter,omitempty" json:"jitter,omitempty"`
	Stream string        `yaml:"stream,omitempty" json:"stream,omitempty"`
	Share  float64       `yaml:"share,omitempty" json:"share,omitempty"`
}

// Validate implements injectors.Validator.
func (s *LatencySpec) Validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if s.Proxy == "" {
		errs = append(errs, field.Required(p.Child("proxy"), "must name one of spec.proxies"))
	}
	const most = MaxDelayMS * time.Millisecond
	if s.Delay < time.Millisecond {
		errs = append(errs, field.Invalid(p.Child("delay"), s.Delay.String(), "must be >= 1ms"))
	} else if s.Delay > most {
		errs = append(errs, field.Invalid(p.Child("delay"), s.Delay.String(), "must be <= "+most.String()))
	}
	if s.Jitter < 0 {
		errs = append(errs, field.Invalid(p.Child("jitter"), s.Jitter.String(), "must be >= 0"))
	} else if s.Jitter > most {
		errs = append(errs, field.Invalid(p.Child("jitter"), s.Jitter.String(), "must be <= "+most.String()))
	}
	if s.Stream != "" && s.Stream != Upstream && s.Stream != Downstream {
		errs = append(errs, field.NotSupported(p.Child("stream"), s.Stream, []string{Downstream, Upstream}))
	}
	return append(errs, validShare(p.Child("share"), s.Share)...)
}

func newLatency(spec any, env *injectors.Env) (injectors.Injector, error) {
	s, ok := spec.(*LatencySpec)
	if !ok {
		return nil, fmt.Errorf("latency: unexpected spec type %T", spec)
	}
	stream := s.Stream
	if stream == "" {
		stream = Downstream
	}
	share := shareOf(s.Share)
	f := &fault{key: "latency", proxy: s.Proxy, env: env, effect: injectors.EffectSlow,
		toxics: []Toxic{{Name: toxicName(env, "latency"), Type: "latency", Stream: stream, Toxicity: share,
			Attributes: map[string]any{"latency": s.Delay.Milliseconds(), "jitter": s.Jitter.Milliseconds()}}},
		action: fmt.Sprintf("delay the %s data of %.0f%% of connections through proxy %s by %v ± %v",
			stream, share*100, s.Proxy, s.Delay, s.Jitter),
		baseline: probeRTT,
	}
	f.prove = proveDelay(s.Delay, s.Jitter, share)
	return f, nil
}

// PartitionSpec is the YAML of partition: {proxy: payments}. Both directions are
// black-holed: existing connections hang, new ones are accepted and hang.
type PartitionSpec struct {
	Proxy string `yaml:"proxy" json:"proxy"`
}

// Validate implements injectors.Validator.
func (s *PartitionSpec) Validate(p *field.Path) field.ErrorList {
	if s.Proxy == "" {
		return field.ErrorList{field.Required(p.Child("proxy"), "must name one of spec.proxies")}
	}
	return nil
}

func newPartition(spec any, env *injectors.Env) (injectors.Injector, error) {
	s, ok := spec.(*PartitionSpec)
	if !ok {
		return nil, fmt.Errorf("partition: unexpected spec type %T", spec)
	}
	name := toxicName(env, "partition")
	return &fault{key: "partition", proxy: s.Proxy, env: env, effect: injectors.EffectSlow,
		toxics: []Toxic{
			{Name: name + "-up", Type: "timeout", Stream: Upstream, Toxicity: 1, Attributes: map[string]any{"timeout": 0}},
			{Name: name + "-down", Type: "timeout", Stream: Downstream, Toxicity: 1, Attributes: map[string]any{"timeout": 0}},
		},
		action: fmt.Sprintf("black-hole both directions of proxy %s: existing and new connections hang", s.Proxy),
		prove:  proveHang(1),
	}, nil
}
