package gotest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/faultline-dev/faultline/steadystate"
)

// ItemsKey is the YAML key of the catalogItems probe, a probe written in Go that
// checks what the business cares about: the catalog lists enough items.
//
//	probes:
//	  - name: catalog
//	    catalogItems: {url: "http://127.0.0.1:8080/items", atLeast: 3}
const ItemsKey = "catalogItems"

// ItemsSpec is the catalogItems block of a probe.
type ItemsSpec struct {
	// URL answering {"items": [...]}.
	URL string `yaml:"url" json:"url"`
	// AtLeast is the number of items an ok answer lists (default 1).
	AtLeast int `yaml:"atLeast,omitempty" json:"atLeast,omitempty"`
	// Timeout bounds one request (default 1s).
	Timeout time.Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
}

// Validate checks the spec without I/O.
func (s *ItemsSpec) Validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if u, err := url.Parse(s.URL); s.URL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, field.Invalid(p.Child("url"), s.URL, "must be an http or https url with a host"))
	}
	if s.AtLeast < 0 {
		errs = append(errs, field.Invalid(p.Child("atLeast"), s.AtLeast, "must be >= 0"))
	}
	if s.Timeout < 0 {
		errs = append(errs, field.Invalid(p.Child("timeout"), s.Timeout.String(), "must be > 0"))
	}
	return errs
}

// RegisterItems adds catalogItems to r.
func RegisterItems(r *steadystate.Registry) error {
	return r.Register(steadystate.Definition{
		Key:     ItemsKey,
		Summary: "GETs a catalog and checks that it lists at least atLeast items.",
		NewSpec: func() any { return &ItemsSpec{} },
		New: func(spec any, _ *steadystate.Env) (steadystate.Probe, error) {
			s := *spec.(*ItemsSpec)
			if s.AtLeast == 0 {
				s.AtLeast = 1
			}
			if s.Timeout == 0 {
				s.Timeout = time.Second
			}
			return &itemsProbe{spec: s, client: &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 2}}}, nil
		},
	})
}

type itemsProbe struct {
	spec   ItemsSpec
	client *http.Client
}

var _ steadystate.Probe = (*itemsProbe)(nil)

// Probe asks once. A request that cannot be built is errored (the probe's fault);
// no answer, a non-200 answer or too few items is failed (the system's).
func (p *itemsProbe) Probe(ctx context.Context) steadystate.Observation {
	start := time.Now()
	obs := func(s steadystate.Status, detail string, values map[string]string) steadystate.Observation {
		return steadystate.Observation{Time: start, Status: s, Latency: time.Since(start), Detail: detail, Values: values}
	}
	ctx, cancel := context.WithTimeout(ctx, p.spec.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.spec.URL, nil)
	if err != nil {
		return obs(steadystate.StatusErrored, err.Error(), nil)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		if errors.Is(context.Cause(ctx), context.Canceled) {
			return obs(steadystate.StatusErrored, "probe cancelled", nil)
		}
		return obs(steadystate.StatusFailed, err.Error(), nil)
	}
	defer resp.Body.Close()
	values := map[string]string{"status": strconv.Itoa(resp.StatusCode)}
	if from := resp.Header.Get("X-Served-From"); from != "" {
		values["servedFrom"] = from
	}
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		return obs(steadystate.StatusFailed, strconv.Itoa(resp.StatusCode), values)
	}
	var body struct{ Items []string }
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body); err != nil {
		return obs(steadystate.StatusFailed, "bad body: "+err.Error(), values)
	}
	values["items"] = strconv.Itoa(len(body.Items))
	if len(body.Items) < p.spec.AtLeast {
		return obs(steadystate.StatusFailed, fmt.Sprintf("%d items < %d", len(body.Items), p.spec.AtLeast), values)
	}
	return obs(steadystate.StatusOK, fmt.Sprintf("%d items", len(body.Items)), values)
}
