package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Controller is what the injectors act on: an in-process *Proxy (through Local) or
// a proxy served by a running `chaos proxy` or Toxiproxy (through Remote).
//
// AddToxic fails with an error wrapping ErrToxicExists for a duplicate name.
// RemoveToxic returns an error wrapping ErrToxicNotFound (or ErrProxyNotFound) when
// there is nothing to remove; callers that revert treat both as done. All methods
// return when ctx is done.
type Controller interface {
	Name() string
	// Addr is the address clients connect to ("" if a remote proxy cannot be read).
	Addr() string
	AddToxic(ctx context.Context, t Toxic) error
	RemoveToxic(ctx context.Context, name string) error
	SetEnabled(ctx context.Context, on bool) error
}

// ToxicLister is implemented by both controllers of this package: it reads the
// toxics back (the injectors use it as part of their proof).
type ToxicLister interface {
	Toxics(ctx context.Context) ([]Toxic, error)
}

// RemoteController is implemented by controllers that talk to an API; APIAddr is
// journaled so that `chaos recover` can undo a fault after the runner died.
type RemoteController interface {
	APIAddr() string
}

// Local adapts an in-process proxy to Controller. The operations are in-memory and
// do not block, so ctx is only checked on entry.
func Local(p *Proxy) Controller { return local{p} }

type local struct{ p *Proxy }

var (
	_ Controller  = local{}
	_ ToxicLister = local{}
)

func (l local) Name() string { return l.p.Name() }
func (l local) Addr() string { return l.p.Addr() }
func (l local) AddToxic(ctx context.Context, t Toxic) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return l.p.AddToxic(t)
}
func (l local) RemoveToxic(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return l.p.RemoveToxic(name)
}
func (l local) SetEnabled(ctx context.Context, on bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return l.p.SetEnabled(on)
}
func (l local) Toxics(ctx context.Context) ([]Toxic, error) { return l.p.Toxics(), ctx.Err() }

// Remote returns a Controller for proxy name served by the Toxiproxy-compatible API
// at apiAddr ("127.0.0.1:8474" or "http://host:port"). It does no I/O; Addr reads
// the proxy's listen address on first use (GET /proxies/{name}, 2 s at most).
func Remote(apiAddr, name string) (Controller, error) {
	if apiAddr == "" {
		return nil, errors.New("proxy: remote: empty API address")
	}
	if !nameRE.MatchString(name) {
		return nil, fmt.Errorf("proxy: remote: invalid proxy name %q", name)
	}
	base := apiAddr
	if !strings.HasPrefix(base, "http://") && !strings.HasPrefix(base, "https://") {
		base = "http://" + base
	}
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("proxy: remote: bad API address %q", apiAddr)
	}
	return &remote{api: apiAddr, base: strings.TrimRight(base, "/"), name: name,
		hc: &http.Client{Timeout: 10 * time.Second}}, nil
}

type remote struct {
	api, base, name string
	hc              *http.Client
	mu              sync.Mutex
	addr            string
}

var (
	_ Controller       = (*remote)(nil)
	_ ToxicLister      = (*remote)(nil)
	_ RemoteController = (*remote)(nil)
)

func (r *remote) Name() string    { return r.name }
func (r *remote) APIAddr() string { return r.api }

func (r *remote) Addr() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.addr == "" { // cached once read; retried while the API cannot be reached
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		var p struct {
			Listen string `json:"listen"`
		}
		if err := r.do(ctx, http.MethodGet, "/proxies/"+r.name, nil, &p); err == nil {
			r.addr = p.Listen
		}
	}
	return r.addr
}

func (r *remote) AddToxic(ctx context.Context, t Toxic) error {
	if t.Stream == "" { // Toxiproxy rejects an empty stream
		t.Stream = Downstream
		if t.Type == "http_fault" {
			t.Stream = Upstream
		}
	}
	return r.do(ctx, http.MethodPost, "/proxies/"+r.name+"/toxics", t, nil)
}

func (r *remote) RemoveToxic(ctx context.Context, name string) error {
	return r.do(ctx, http.MethodDelete, "/proxies/"+r.name+"/toxics/"+url.PathEscape(name), nil, nil)
}

func (r *remote) SetEnabled(ctx context.Context, on bool) error {
	return r.do(ctx, http.MethodPost, "/proxies/"+r.name, map[string]bool{"enabled": on}, nil)
}

func (r *remote) Toxics(ctx context.Context) ([]Toxic, error) {
	var ts []Toxic
	err := r.do(ctx, http.MethodGet, "/proxies/"+r.name+"/toxics", nil, &ts)
	return ts, err
}

// do sends one API request and maps Toxiproxy's error replies to this package's
// sentinel errors.
func (r *remote) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, r.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "faultline")
	resp, err := r.hc.Do(req)
	if err != nil {
		return fmt.Errorf("proxy api %s: %w", r.api, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("proxy api %s: %s %s: %w", r.api, method, path, err)
	}
	if resp.StatusCode >= 300 {
		var ae struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(data, &ae)
		msg := ae.Error
		if msg == "" {
			msg = strings.TrimSpace(string(data))
		}
		err := fmt.Errorf("proxy api %s: %s %s: %d %s", r.api, method, path, resp.StatusCode, msg)
		switch {
		case resp.StatusCode == http.StatusNotFound && strings.Contains(msg, "toxic"):
			return fmt.Errorf("%w (%v)", ErrToxicNotFound, err)
		case resp.StatusCode == http.StatusNotFound:
			return fmt.Errorf("%w (%v)", ErrProxyNotFound, err)
		case resp.StatusCode == http.StatusConflict:
			return fmt.Errorf("%w (%v)", ErrToxicExists, err)
		}
		return err
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("proxy api %s: %s %s: decoding reply: %w", r.api, method, path, err)
		}
	}
	return nil
}
