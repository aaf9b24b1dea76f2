package proxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
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
// journaled so that `chaos recover` can undo a fault after the runner died (it never
// carries credentials). Describe asks the API what it is (GET /version) and checks
// that the proxy exists, so a plan can refuse what the API cannot do before anything
// starts.
type RemoteController interface {
	APIAddr() string
	Describe(ctx context.Context) (APIInfo, error)
}

// APIInfo says what serves a remote proxy: Faultline's `chaos proxy` (every toxic,
// http_fault included) or Toxiproxy (its own toxics only).
type APIInfo struct {
	Version   string // as GET /version reports it
	Faultline bool
}

// Server names what serves the API, for messages.
func (i APIInfo) Server() string {
	if i.Faultline {
		return "chaos proxy " + i.Version
	}
	return "Toxiproxy " + i.Version
}

// toxiproxyTypes are the toxic types Toxiproxy 2.x serves.
var toxiproxyTypes = []string{"latency", "bandwidth", "slow_close", "timeout", "reset_peer", "slicer", "limit_data"}

// Supports reports whether the API can add toxics of type typ.
func (i APIInfo) Supports(typ string) bool {
	return i.Faultline || slices.Contains(toxiproxyTypes, typ)
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

// RemoteOptions are how the remote client reaches a protected API.
type RemoteOptions struct {
	// Credentials are sent as HTTP Basic credentials (nil: none, unless the API
	// address carries user info).
	Credentials *Credentials
	// TLS configures https:// APIs (nil: the system's roots).
	TLS *tls.Config
}

// RemoteOptionsFromEnv reads the credentials from $FAULTLINE_PROXY_TOKEN_FILE or
// $FAULTLINE_PROXY_TOKEN and extra CA certificates from $FAULTLINE_PROXY_CA_FILE.
func RemoteOptionsFromEnv() (RemoteOptions, error) {
	var o RemoteOptions
	c, err := LoadCredentials("")
	if err != nil {
		return o, err
	}
	o.Credentials = c
	if f := os.Getenv(EnvCAFile); f != "" {
		pem, err := os.ReadFile(f)
		if err != nil {
			return o, fmt.Errorf("$%s: %w", EnvCAFile, err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return o, fmt.Errorf("$%s: no PEM certificate in %s", EnvCAFile, f)
		}
		o.TLS = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return o, nil
}

// Remote returns a Controller for proxy name served by the Toxiproxy-compatible API
// at apiAddr ("127.0.0.1:8474" or "http(s)://host:port"), with the credentials and
// CA of RemoteOptionsFromEnv. It does no network I/O; Addr reads the proxy's listen
// address on first use (GET /proxies/{name}, 2 s at most).
func Remote(apiAddr, name string) (Controller, error) {
	o, err := RemoteOptionsFromEnv()
	if err != nil {
		return nil, fmt.Errorf("proxy: remote %s: %w", name, err)
	}
	return RemoteWith(apiAddr, name, o)
}

// RemoteWith is Remote with explicit options. Credentials in apiAddr's user info
// (http://faultline:TOKEN@host:8474) are used when o has none, and are never part
// of APIAddr or of an error message.
func RemoteWith(apiAddr, name string, o RemoteOptions) (Controller, error) {
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
		return nil, fmt.Errorf("proxy: remote: bad API address %q", redactAPI(apiAddr))
	}
	api := apiAddr
	if u.User != nil {
		if o.Credentials == nil {
			pw, _ := u.User.Password()
			o.Credentials = &Credentials{User: u.User.Username(), Token: pw, Source: "the API URL"}
		}
		u.User = nil
		base = u.String()
		api = base
		if !strings.Contains(apiAddr, "://") {
			api = u.Host
		}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if o.TLS != nil {
		tr.TLSClientConfig = o.TLS
	}
	return &remote{api: api, base: strings.TrimRight(base, "/"), name: name, creds: o.Credentials,
		hc: &http.Client{Timeout: 10 * time.Second, Transport: tr}}, nil
}

// redactAPI removes user info from an API address that could not be parsed.
func redactAPI(s string) string {
	if i := strings.LastIndex(s, "@"); i >= 0 {
		scheme := ""
		if j := strings.Index(s, "://"); j >= 0 && j < i {
			scheme = s[:j+3]
		}
		return scheme + "REDACTED@" + s[i+1:]
	}
	return s
}

type remote struct {
	api, base, name string
	creds           *Credentials
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

func (r *remote) Describe(ctx context.Context) (APIInfo, error) {
	var v struct {
		Version string `json:"version"`
	}
	raw, err := r.get(ctx, "/version", &v)
	if err != nil {
		return APIInfo{}, err
	}
	if v.Version == "" { // Toxiproxy before 2.1 answered plain text
		v.Version = strings.TrimSpace(string(raw))
	}
	info := APIInfo{Version: v.Version, Faultline: strings.Contains(v.Version, "faultline")}
	var p struct {
		Listen string `json:"listen"`
	}
	if _, err := r.get(ctx, "/proxies/"+r.name, &p); err != nil {
		return info, err
	}
	r.mu.Lock()
	r.addr = p.Listen
	r.mu.Unlock()
	return info, nil
}

// get is do for a GET whose reply may not be JSON: it returns the raw body.
func (r *remote) get(ctx context.Context, path string, out any) ([]byte, error) {
	var raw []byte
	if err := r.do(ctx, http.MethodGet, path, nil, &raw); err != nil {
		return nil, err
	}
	_ = json.Unmarshal(raw, out) // the caller checks what it needs
	return raw, nil
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
	if r.creds != nil {
		req.SetBasicAuth(r.creds.User, r.creds.Token)
	}
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
		case resp.StatusCode == http.StatusUnauthorized && r.creds == nil:
			return fmt.Errorf("%w: %s %s at %s: the API needs credentials: put its token in a file named by $%s (or in $%s)",
				ErrUnauthorized, method, path, r.api, EnvTokenFile, EnvToken)
		case resp.StatusCode == http.StatusUnauthorized:
			return fmt.Errorf("%w: %s %s at %s: the API refused the credentials (%s)", ErrUnauthorized, method, path, r.api, r.creds)
		case resp.StatusCode == http.StatusNotFound && strings.Contains(msg, "toxic"):
			return fmt.Errorf("%w (%v)", ErrToxicNotFound, err)
		case resp.StatusCode == http.StatusNotFound:
			return fmt.Errorf("%w (%v)", ErrProxyNotFound, err)
		case resp.StatusCode == http.StatusConflict:
			return fmt.Errorf("%w (%v)", ErrToxicExists, err)
		}
		return err
	}
	if b, ok := out.(*[]byte); ok {
		*b = data
		return nil
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("proxy api %s: %s %s: decoding reply: %w", r.api, method, path, err)
		}
	}
	return nil
}
