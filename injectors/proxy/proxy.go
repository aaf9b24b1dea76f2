package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Config declares one proxy. Listen may use port 0 ("127.0.0.1:0"): Addr reports the
// port chosen. An empty Listen means "127.0.0.1:0" (loopback, never all interfaces).
type Config struct {
	Name     string `json:"name" yaml:"name"`
	Listen   string `json:"listen" yaml:"listen,omitempty"`
	Upstream string `json:"upstream" yaml:"upstream"`
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// Validate checks cfg without side effects: name syntax and host:port syntax.
func (cfg Config) Validate() error {
	if !nameRE.MatchString(cfg.Name) {
		return fmt.Errorf("proxy name %q: must be letters, digits, '.', '_' or '-'", cfg.Name)
	}
	if cfg.Listen != "" {
		if _, err := splitPort(cfg.Listen, true); err != nil {
			return fmt.Errorf("proxy %s: listen %q: %w", cfg.Name, cfg.Listen, err)
		}
	}
	h, err := splitPort(cfg.Upstream, false)
	if err != nil {
		return fmt.Errorf("proxy %s: upstream %q: %w", cfg.Name, cfg.Upstream, err)
	}
	if h == "" {
		return fmt.Errorf("proxy %s: upstream %q: missing host", cfg.Name, cfg.Upstream)
	}
	return nil
}

func splitPort(addr string, zeroOK bool) (string, error) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("must be host:port: %w", err)
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 0 || n > 65535 || (n == 0 && !zeroOK) {
		return "", fmt.Errorf("invalid port %q", p)
	}
	return h, nil
}

// Proxy is one TCP fault proxy: it accepts clients on Listen and connects each to
// Upstream, passing the bytes through the toxics of each direction.
//
// The zero value is not usable; use New. All methods are safe for concurrent use.
type Proxy struct {
	cfg    Config
	nextID atomic.Uint64
	chains [2]atomic.Pointer[chain]
	// changed is closed and replaced on every toxic change; waits that depend on the
	// toxics (http_fault delay) select on it.
	changed atomic.Pointer[chan struct{}]

	mu      sync.Mutex // serialises the control plane: toxics, start/stop
	toxics  []*toxic   // in the order added
	addr    string     // resolved listen address once started
	ln      net.Listener
	enabled bool
	closed  bool
	cancel  context.CancelFunc // of the current listening generation
	timers  []*time.Timer      // timeout toxics' closers, stopped by Close
	wg      sync.WaitGroup     // accept loop + every link's goroutines

	lmu   sync.Mutex
	links map[uint64]*link

	smu      sync.Mutex            // guards sleeping
	sleeping map[*sleeper]struct{} // writers' timerfd waits now in progress

	// control, if set, checks every upstream address dialed (the server's upstream
	// allow-list); set before Start, never changed.
	control func(network, address string, c syscall.RawConn) error
}

// BindError is a failure to listen (address in use, not local, no permission).
// The API answers it with 409 and its message.
type BindError struct {
	Proxy, Addr string
	Err         error
}

func (e *BindError) Error() string {
	return fmt.Sprintf("proxy %s: cannot listen on %s: %v", e.Proxy, e.Addr, e.Err)
}
func (e *BindError) Unwrap() error { return e.Err }

// ErrUpstream wraps a failure to resolve a proxy's upstream host.
var ErrUpstream = errors.New("proxy: bad upstream")

// New validates cfg and returns a stopped proxy. It has no side effects.
func New(cfg Config) (*Proxy, error) {
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := &Proxy{cfg: cfg, links: map[uint64]*link{}, sleeping: map[*sleeper]struct{}{}}
	ch := make(chan struct{})
	p.changed.Store(&ch)
	return p, nil
}

// Name returns the proxy's name.
func (p *Proxy) Name() string { return p.cfg.Name }

// Upstream returns the upstream address.
func (p *Proxy) Upstream() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cfg.Upstream
}

// Config returns the proxy's configuration (Listen as configured, see Addr).
func (p *Proxy) Config() Config {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cfg
}

// Addr returns the address the proxy listens on: the resolved one after Start, the
// configured one before.
func (p *Proxy) Addr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.addr != "" {
		return p.addr
	}
	return p.cfg.Listen
}

// Enabled reports whether the proxy is listening.
func (p *Proxy) Enabled() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.enabled
}

// Start resolves the upstream host and starts listening. Calling it on a started
// proxy is a no-op; after Close it returns ErrClosed.
func (p *Proxy) Start() error {
	h, _, _ := net.SplitHostPort(p.cfg.Upstream)
	if net.ParseIP(h) == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := net.DefaultResolver.LookupHost(ctx, h)
		cancel()
		if err != nil {
			return fmt.Errorf("%w: proxy %s: upstream %s: %w", ErrUpstream, p.cfg.Name, p.cfg.Upstream, err)
		}
	}
	return p.SetEnabled(true)
}

// SetEnabled(false) takes the proxy "down": it stops listening (new connections are
// refused) and cuts every existing connection; it returns when they are all gone.
// SetEnabled(true) listens again on the same address (the resolved port, if it was 0).
// Toxics are kept either way.
func (p *Proxy) SetEnabled(on bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	if on == p.enabled {
		return nil
	}
	if !on {
		p.stopLocked()
		return nil
	}
	addr := p.cfg.Listen
	if p.addr != "" {
		addr = p.addr
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return &BindError{Proxy: p.cfg.Name, Addr: addr, Err: err}
	}
	p.serveLocked(ln)
	return nil
}

// serveLocked starts accepting on ln.
func (p *Proxy) serveLocked(ln net.Listener) {
	p.ln, p.addr, p.enabled = ln, ln.Addr().String(), true
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.wg.Add(1)
	go p.accept(ctx, ln)
}

// stopLocked closes the listener and every link and waits for all goroutines.
func (p *Proxy) stopLocked() { p.haltLocked(true) }

// haltLocked stops accepting, closes every link and waits for all goroutines. With
// closeListener false the listening socket stays open (p.ln, its address kept) for
// serveLocked to accept on again: no moment where the port is free for another.
func (p *Proxy) haltLocked(closeListener bool) {
	if !p.enabled {
		return
	}
	p.enabled = false
	for _, t := range p.timers {
		t.Stop()
	}
	p.timers = nil
	p.cancel()
	tl, _ := p.ln.(*net.TCPListener) // always, from net.Listen("tcp")
	if closeListener || tl == nil {
		_ = p.ln.Close()
	} else {
		_ = tl.SetDeadline(time.Now()) // wakes Accept; the loop sees its context done
	}
	p.lmu.Lock()
	for _, l := range p.links {
		l.close()
	}
	p.lmu.Unlock()
	p.wg.Wait()
	if !closeListener && tl != nil {
		_ = tl.SetDeadline(time.Time{})
	}
}

// Close stops the proxy, cuts all connections and waits for every goroutine it
// started. It is idempotent.
func (p *Proxy) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopLocked()
	p.closed = true
	return nil
}

// Update changes the listen and upstream addresses, restarting the listener if the
// proxy is enabled (existing connections are cut, as in Toxiproxy). See Reconfigure.
func (p *Proxy) Update(listen, upstream string) error {
	return p.reconfigure(listen, upstream, nil)
}

// Reconfigure sets the listen and upstream addresses and the enabled state in one
// step. It either does all of it or nothing: when the new address cannot be bound
// (a *BindError), the proxy is exactly as it was, still listening where it was with
// its connections. A change of address or upstream cuts the existing connections
// (as in Toxiproxy); the toxics are kept. An empty listen means "127.0.0.1:0".
func (p *Proxy) Reconfigure(listen, upstream string, enabled bool) error {
	return p.reconfigure(listen, upstream, &enabled)
}

func (p *Proxy) reconfigure(listen, upstream string, enabled *bool) error {
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	cfg := Config{Name: p.cfg.Name, Listen: listen, Upstream: upstream}
	if err := cfg.Validate(); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	on := p.enabled
	if enabled != nil {
		on = *enabled
	}
	sameListen := listen == p.cfg.Listen || (p.addr != "" && listen == p.addr)
	sameUp := upstream == p.cfg.Upstream
	set := func() {
		p.cfg.Upstream = upstream
		if !sameListen {
			p.cfg.Listen, p.addr = listen, ""
		}
	}
	switch {
	case !on:
		p.stopLocked()
		set()
		return nil
	case p.enabled && sameListen && sameUp:
		return nil
	case p.enabled && sameListen && p.ln != nil: // new upstream: cut the connections, keep the socket
		ln := p.ln
		p.haltLocked(false)
		set()
		p.serveLocked(ln)
		return nil
	}
	addr := listen
	if sameListen && p.addr != "" {
		addr = p.addr
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return &BindError{Proxy: p.cfg.Name, Addr: addr, Err: err}
	}
	p.stopLocked()
	set()
	p.serveLocked(ln)
	return nil
}

func (p *Proxy) accept(ctx context.Context, ln net.Listener) {
	defer p.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				continue
			}
			// Transient (EMFILE...): back off briefly, stop when cancelled.
			select {
			case <-ctx.Done():
				return
			case <-time.After(5 * time.Millisecond):
			}
			continue
		}
		l := &link{p: p, id: p.nextID.Add(1), client: c, done: make(chan struct{})}
		p.wg.Add(1)
		go l.serve(ctx)
	}
}

// addLink registers l unless the listening generation ctx was stopped (stopLocked
// cancels ctx before it closes the registered links, so none is missed).
func (p *Proxy) addLink(ctx context.Context, l *link) bool {
	p.lmu.Lock()
	defer p.lmu.Unlock()
	if ctx.Err() != nil || l.closed() {
		return false
	}
	p.links[l.id] = l
	return true
}

func (p *Proxy) removeLink(l *link) {
	p.lmu.Lock()
	delete(p.links, l.id)
	p.lmu.Unlock()
}
