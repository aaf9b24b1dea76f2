package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// DefaultAPIAddr is where `chaos proxy` serves its API, as Toxiproxy does. It is
// loopback on purpose: whoever reaches the API can cut, slow or redirect every
// proxied connection (and make the proxy connect to any address it can reach), so
// elsewhere it needs Options.Credentials (and ideally Options.Upstreams and TLS).
const DefaultAPIAddr = "127.0.0.1:8474"

// APIVersion is what GET /version reports: the Toxiproxy API level it implements.
const APIVersion = "2.12.0+faultline"

// Server is a set of named proxies and the Toxiproxy-v2-compatible HTTP API over
// them: the same paths, JSON shapes, status codes and toxic type names, so the
// official clients and toxiproxy-cli work unchanged.
//
//	GET/POST /proxies   GET/POST/PATCH/DELETE /proxies/{name}
//	GET/POST /proxies/{name}/toxics   GET/POST/PATCH/DELETE /proxies/{name}/toxics/{toxic}
//	POST /reset   POST /populate   GET /version
type Server struct {
	opts    Options
	mu      sync.Mutex
	proxies map[string]*Proxy
}

// NewServer returns an empty server without access control (for loopback).
func NewServer() *Server { return NewServerWith(Options{}) }

// NewServerWith returns an empty server with the given access control.
func NewServerWith(o Options) *Server { return &Server{opts: o, proxies: map[string]*Proxy{}} }

// Add creates a proxy and starts it if enabled. ErrProxyExists if the name is taken;
// an error wrapping ErrUpstreamNotAllowed if the allow-list refuses its upstream.
func (s *Server) Add(cfg Config, enabled bool) (*Proxy, error) {
	p, err := New(cfg)
	if err != nil {
		return nil, err
	}
	if err := s.admit(context.Background(), p.cfg.Upstream); err != nil {
		return nil, err
	}
	if s.opts.Upstreams != nil {
		p.control = s.opts.Upstreams.control(p)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.proxies[cfg.Name]; ok {
		return nil, fmt.Errorf("%w: %s", ErrProxyExists, cfg.Name)
	}
	if enabled {
		if err := p.Start(); err != nil {
			return nil, err
		}
	}
	s.proxies[cfg.Name] = p
	return p, nil
}

// Populate validates every config first, then creates or replaces the proxies (an
// existing proxy with the same listen and upstream is kept, with its toxics). All
// are enabled. It returns the proxies set up before any error.
func (s *Server) Populate(cfgs []Config) ([]*Proxy, error) {
	on := make([]bool, len(cfgs))
	for i := range on {
		on[i] = true
	}
	return s.populate(cfgs, on)
}

func (s *Server) populate(cfgs []Config, enabled []bool) ([]*Proxy, error) {
	for i, c := range cfgs {
		if c.Name == "" {
			return nil, apiErr(http.StatusBadRequest, "missing required field: name at proxy %d", i+1)
		}
		if c.Upstream == "" {
			return nil, apiErr(http.StatusBadRequest, "missing required field: upstream at proxy %d", i+1)
		}
		if err := c.Validate(); err != nil {
			return nil, apiErr(http.StatusBadRequest, "%v", err)
		}
		if err := s.admit(context.Background(), c.Upstream); err != nil {
			return nil, err
		}
	}
	out := make([]*Proxy, 0, len(cfgs))
	for i, c := range cfgs {
		s.mu.Lock()
		old := s.proxies[c.Name]
		s.mu.Unlock()
		if old != nil {
			if old.Upstream() == c.Upstream && (c.Listen == "" || c.Listen == old.Addr() || c.Listen == old.Config().Listen) {
				out = append(out, old)
				continue
			}
			_ = s.Remove(c.Name)
		}
		p, err := s.Add(c, enabled[i])
		if err != nil {
			return out, err
		}
		out = append(out, p)
	}
	return out, nil
}

// PopulateJSON reads a Toxiproxy config file (a JSON array of {"name", "listen",
// "upstream", "enabled"}) and populates the server from it, validating it all first.
func (s *Server) PopulateJSON(r io.Reader) ([]*Proxy, error) {
	var in []struct {
		Config
		Enabled *bool `json:"enabled"`
	}
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return nil, fmt.Errorf("proxy config: %w", err)
	}
	cfgs := make([]Config, len(in))
	on := make([]bool, len(in))
	for i, c := range in {
		cfgs[i], on[i] = c.Config, c.Enabled == nil || *c.Enabled
	}
	return s.populate(cfgs, on)
}

// Get returns the named proxy.
func (s *Server) Get(name string) (*Proxy, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.proxies[name]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrProxyNotFound, name)
	}
	return p, nil
}

// Proxies returns the proxies sorted by name.
func (s *Server) Proxies() []*Proxy {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Proxy, 0, len(s.proxies))
	for _, p := range s.proxies {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out
}

// Remove closes and forgets the named proxy.
func (s *Server) Remove(name string) error {
	s.mu.Lock()
	p, ok := s.proxies[name]
	delete(s.proxies, name)
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: %s", ErrProxyNotFound, name)
	}
	return p.Close()
}

// Reset enables every proxy and removes every toxic (POST /reset).
func (s *Server) Reset() error {
	var errs []error
	for _, p := range s.Proxies() {
		errs = append(errs, p.SetEnabled(true))
		p.ResetToxics()
	}
	return errors.Join(errs...)
}

// Close closes every proxy.
func (s *Server) Close() error {
	var errs []error
	for _, p := range s.Proxies() {
		errs = append(errs, s.Remove(p.Name()))
	}
	return errors.Join(errs...)
}

// ListenAndServe serves the API on addr until ctx is done, then shuts the API down
// and closes every proxy.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("proxy api: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Serve is ListenAndServe on an existing listener.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 15 * time.Second, IdleTimeout: 60 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	var err error
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		err = hs.Shutdown(sctx)
		cancel()
		<-errc
	case err = <-errc:
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return errors.Join(err, s.Close())
}

// Handler returns the API's routes.
func (s *Server) Handler() http.Handler {
	m := http.NewServeMux()
	m.HandleFunc("POST /reset", s.reset)
	m.HandleFunc("GET /proxies", s.proxyIndex)
	m.HandleFunc("POST /proxies", s.proxyCreate)
	m.HandleFunc("POST /populate", s.populateHandler)
	m.HandleFunc("GET /proxies/{proxy}", s.proxyShow)
	m.HandleFunc("POST /proxies/{proxy}", s.proxyUpdate)
	m.HandleFunc("PATCH /proxies/{proxy}", s.proxyUpdate)
	m.HandleFunc("DELETE /proxies/{proxy}", s.proxyDelete)
	m.HandleFunc("GET /proxies/{proxy}/toxics", s.toxicIndex)
	m.HandleFunc("POST /proxies/{proxy}/toxics", s.toxicCreate)
	m.HandleFunc("GET /proxies/{proxy}/toxics/{toxic}", s.toxicShow)
	m.HandleFunc("POST /proxies/{proxy}/toxics/{toxic}", s.toxicUpdate)
	m.HandleFunc("PATCH /proxies/{proxy}/toxics/{toxic}", s.toxicUpdate)
	m.HandleFunc("DELETE /proxies/{proxy}/toxics/{toxic}", s.toxicDelete)
	m.HandleFunc("GET /version", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json;charset=utf-8")
		fmt.Fprintf(w, "{\"version\": %q}\n", APIVersion)
	})
	return s.protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// As Toxiproxy: refuse browsers, so a web page cannot drive the API.
		if strings.HasPrefix(r.UserAgent(), "Mozilla/") {
			http.Error(w, "User agent not allowed", http.StatusForbidden)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 4<<20)
		m.ServeHTTP(w, r)
	}))
}

// apiError is Toxiproxy's error body: {"error": "...", "status": 404}.
type apiError struct {
	Message string `json:"error"`
	Status  int    `json:"status"`
}

func (e *apiError) Error() string { return e.Message }

func apiErr(status int, format string, a ...any) *apiError {
	return &apiError{Message: fmt.Sprintf(format, a...), Status: status}
}

// toAPIError maps errors to Toxiproxy's messages and status codes.
func toAPIError(err error) *apiError {
	var ae *apiError
	var be *BindError
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &be):
		return apiErr(http.StatusConflict, "%v", be)
	case errors.Is(err, ErrUpstreamNotAllowed):
		return apiErr(http.StatusForbidden, "%s", strings.TrimPrefix(err.Error(), "proxy: "))
	case errors.Is(err, ErrUpstream):
		return apiErr(http.StatusBadRequest, "%s", strings.TrimPrefix(err.Error(), ErrUpstream.Error()+": "))
	case errors.Is(err, ErrProxyNotFound):
		return apiErr(http.StatusNotFound, "proxy not found")
	case errors.Is(err, ErrToxicNotFound):
		return apiErr(http.StatusNotFound, "toxic not found")
	case errors.Is(err, ErrProxyExists):
		return apiErr(http.StatusConflict, "proxy already exists")
	case errors.Is(err, ErrToxicExists):
		return apiErr(http.StatusConflict, "toxic already exists")
	case errors.Is(err, ErrInvalidToxicStream):
		return apiErr(http.StatusBadRequest, "stream was invalid, can be either upstream or downstream")
	case errors.Is(err, ErrInvalidToxicType):
		return apiErr(http.StatusBadRequest, "invalid toxic type: %s", strings.TrimPrefix(err.Error(), ErrInvalidToxicType.Error()+" "))
	case errors.Is(err, ErrInvalidToxic):
		return apiErr(http.StatusBadRequest, "bad request body: %s", strings.TrimPrefix(err.Error(), "proxy: "))
	}
	return apiErr(http.StatusInternalServerError, "%v", err)
}

func writeErr(w http.ResponseWriter, err error) {
	ae := toAPIError(err)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(ae.Status)
	_ = json.NewEncoder(w).Encode(ae)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// decode reads one JSON value; unknown keys are refused (400), as --config does:
// a typo such as "enabeld" must not silently do something else.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return apiErr(http.StatusBadRequest, "bad request body: %v", err)
	}
	if dec.More() {
		return apiErr(http.StatusBadRequest, "bad request body: more than one JSON value")
	}
	return nil
}

// proxyJSON is Toxiproxy's proxy shape.
type proxyJSON struct {
	Name     string  `json:"name"`
	Listen   string  `json:"listen"`
	Upstream string  `json:"upstream"`
	Enabled  bool    `json:"enabled"`
	Toxics   []Toxic `json:"toxics"`
}

func toJSON(p *Proxy) proxyJSON {
	return proxyJSON{Name: p.Name(), Listen: p.Addr(), Upstream: p.Upstream(), Enabled: p.Enabled(), Toxics: p.Toxics()}
}
