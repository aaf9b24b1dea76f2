package httpprobe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/faultline-dev/faultline/steadystate"
)

// maxBody is how much of a response body is read and matched.
const maxBody = 1 << 20

// Register adds the `http` probe to r.
func Register(r *steadystate.Registry) error {
	return r.Register(steadystate.Definition{
		Key:     Key,
		Summary: "Sends one HTTP request and checks its status code and body.",
		NewSpec: func() any { return &Spec{} },
		New: func(spec any, _ *steadystate.Env) (steadystate.Probe, error) {
			s, ok := spec.(*Spec)
			if !ok {
				return nil, fmt.Errorf("httpprobe: spec is %T, want *httpprobe.Spec", spec)
			}
			return New(s)
		},
	})
}

// Probe is one configured http probe. It is safe for concurrent use.
type Probe struct {
	spec     Spec
	re       *regexp.Regexp
	client   *http.Client
	setupErr error // e.g. an unreadable caFile: every observation is errored
}

var _ steadystate.Probe = (*Probe)(nil)

// New builds a probe from a validated spec. A tls.caFile that cannot be read does
// not fail New: every observation of the probe is then errored, saying why.
func New(s *Spec) (*Probe, error) {
	p := &Probe{spec: *s}
	if s.BodyRegex != "" {
		re, err := regexp.Compile(s.BodyRegex)
		if err != nil {
			return nil, fmt.Errorf("httpprobe: bodyRegex: %w", err)
		}
		p.re = re
	}
	tr := &http.Transport{
		Proxy:                 nil, // measure the target, not a proxy
		DialContext:           (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          4,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       30 * time.Second,
		TLSHandshakeTimeout:   s.timeout(),
		ExpectContinueTimeout: time.Second,
	}
	if s.TLS != nil {
		cfg, err := tlsConfig(s.TLS)
		if err != nil {
			p.setupErr = err
		}
		tr.TLSClientConfig = cfg
	}
	if strings.HasPrefix(strings.ToLower(s.URL), "https:") && (tr.TLSClientConfig == nil || tr.TLSClientConfig.RootCAs == nil) {
		// Load the system roots now (once per process, cached by crypto/x509), not
		// during the first handshake, where it can take longer than the timeout
		// and make the first baseline observation fail.
		_, _ = x509.SystemCertPool()
	}
	p.client = &http.Client{Transport: tr}
	return p, nil
}

func tlsConfig(t *TLS) (*tls.Config, error) {
	cfg := &tls.Config{
		InsecureSkipVerify: t.InsecureSkipVerify, //nolint:gosec // asked for explicitly in the experiment
		ServerName:         t.ServerName,
		MinVersion:         tls.VersionTLS12,
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return cfg, fmt.Errorf("reading tls.caFile: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return cfg, fmt.Errorf("tls.caFile %s holds no PEM certificate", t.CAFile)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// Close releases the probe's idle connections (io.Closer, for the runner); the
// probe stays usable.
func (p *Probe) Close() error {
	p.client.CloseIdleConnections()
	return nil
}

// Probe sends one request and judges the answer.
func (p *Probe) Probe(ctx context.Context) steadystate.Observation {
	start := time.Now()
	obs := steadystate.Observation{Time: start}
	errored := func(detail string) steadystate.Observation {
		obs.Status, obs.Detail, obs.Latency = steadystate.StatusErrored, detail, time.Since(start)
		return obs
	}
	if p.setupErr != nil {
		return errored(p.setupErr.Error())
	}
	timeout := p.spec.timeout()
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	var body io.Reader
	if p.spec.Body != "" {
		body = strings.NewReader(p.spec.Body)
	}
	req, err := http.NewRequestWithContext(rctx, p.spec.method(), p.spec.URL, body)
	if err != nil {
		return errored("building request: " + err.Error())
	}
	for k, v := range p.spec.Headers {
		// A request that cannot be built says nothing of the system: errored, not
		// failed (Validate refuses these; a spec built in Go may still have one).
		if msg := headerValueErr(v); msg != "" {
			return errored(fmt.Sprintf("building request: header %s: %s", k, msg))
		}
		if strings.EqualFold(k, "Host") {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}

	resp, err := p.client.Do(req)
	if err != nil {
		obs.Latency = time.Since(start)
		obs.Status, obs.Detail = classify(ctx, rctx, err, timeout)
		return obs
	}
	data, rerr := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	// Drain a little more so the connection can be reused, then close.
	_, _ = io.CopyN(io.Discard, resp.Body, 64<<10)
	_ = resp.Body.Close()
	obs.Latency = time.Since(start)
	obs.Values = map[string]string{"status": strconv.Itoa(resp.StatusCode)}
	for _, h := range []string{"X-Circuit-State", "X-Breaker-State"} {
		if v := resp.Header.Get(h); v != "" {
			obs.Values["breaker"] = strings.ToLower(strings.TrimSpace(v))
			break
		}
	}
	code := strconv.Itoa(resp.StatusCode)
	switch {
	case !p.spec.statusOK(resp.StatusCode):
		obs.Status, obs.Detail = steadystate.StatusFailed, code
	case rerr != nil:
		st, d := classify(ctx, rctx, rerr, timeout)
		obs.Status, obs.Detail = st, code+", reading body: "+d
	case p.spec.BodyContains != "" && !strings.Contains(string(data), p.spec.BodyContains):
		obs.Status, obs.Detail = steadystate.StatusFailed, fmt.Sprintf("%s, body lacks %q", code, p.spec.BodyContains)
	case p.re != nil && !p.re.Match(data):
		obs.Status, obs.Detail = steadystate.StatusFailed, fmt.Sprintf("%s, body does not match /%s/", code, p.re)
	default:
		obs.Status, obs.Detail = steadystate.StatusOK, code
	}
	return obs
}

// classify sorts a transport error into errored (the probe could not ask) or failed
// (the target did not answer properly). parent is the runner's context, rctx the
// request's (parent plus the probe timeout).
func classify(parent, rctx context.Context, err error, timeout time.Duration) (steadystate.Status, string) {
	failed, errored := steadystate.StatusFailed, steadystate.StatusErrored
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var hostErr x509.HostnameError
	var authErr x509.UnknownAuthorityError
	var invErr x509.CertificateInvalidError
	var recErr tls.RecordHeaderError
	switch {
	case steadystate.Cancelled(parent):
		return errored, "cancelled by the runner"
	case errors.As(err, &dnsErr):
		if dnsErr.IsNotFound {
			return errored, "dns: no such host " + dnsErr.Name
		}
		return errored, "dns: " + dnsErr.Err + " looking up " + dnsErr.Name
	case rctx.Err() != nil || isTimeout(err):
		return failed, "timeout after " + steadystate.FormatDuration(timeout)
	case errors.Is(err, syscall.ECONNREFUSED):
		return failed, "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return failed, "connection reset"
	case errors.Is(err, syscall.EPIPE):
		return failed, "broken pipe"
	case errors.Is(err, syscall.EHOSTUNREACH):
		return failed, "host unreachable"
	case errors.Is(err, syscall.ENETUNREACH):
		return failed, "network unreachable"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return failed, "connection closed by the server"
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE), errors.Is(err, syscall.EADDRNOTAVAIL):
		return errored, "local: " + rootCause(err)
	case errors.As(err, &certErr), errors.As(err, &hostErr), errors.As(err, &authErr), errors.As(err, &invErr):
		return failed, rootCause(err)
	case errors.As(err, &recErr):
		return failed, "tls: server did not answer with TLS"
	default:
		return failed, rootCause(err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) ||
		(errors.As(err, &ne) && ne.Timeout())
}

// rootCause strips the url.Error and net.OpError wrappers: "Get \"http://...\": dial
// tcp 127.0.0.1:1: connect: x" reads as "connect: x".
func rootCause(err error) string {
	for {
		switch e := err.(type) {
		case *url.Error:
			err = e.Err
		case *net.OpError:
			err = e.Err
		default:
			return err.Error()
		}
	}
}
