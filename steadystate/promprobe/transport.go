package promprobe

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

// newTransport builds the probe's HTTP transport: no proxy from the environment,
// a small idle pool, TLS as configured, and the credentials added per request. A
// TLS file that cannot be read is returned as an error together with a usable
// transport; the probe reports it at every observation.
func newTransport(s *Spec) (http.RoundTripper, *http.Transport, error) {
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          2,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       30 * time.Second,
		TLSHandshakeTimeout:   s.timeout(),
		ExpectContinueTimeout: time.Second,
	}
	var err error
	if s.TLS != nil {
		tr.TLSClientConfig, err = tlsConfig(s.TLS)
	}
	if strings.HasPrefix(strings.ToLower(s.URL), "https:") && (tr.TLSClientConfig == nil || tr.TLSClientConfig.RootCAs == nil) {
		_, _ = x509.SystemCertPool() // load once now, not in the first handshake's timeout
	}
	if s.BearerTokenFile == "" && s.BearerTokenEnv == "" && s.BasicAuth == nil {
		return tr, tr, err
	}
	return &authTransport{next: tr, spec: s}, tr, err
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
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return cfg, fmt.Errorf("loading tls.certFile and tls.keyFile: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// authTransport adds a bearer token or basic auth to every request, reading the
// secret at each request so that a rotated token file is picked up.
type authTransport struct {
	next http.RoundTripper
	spec *Spec
}

func (a *authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	s := a.spec
	switch {
	case s.BasicAuth != nil:
		pw, err := secret("basicAuth.passwordFile", s.BasicAuth.PasswordFile, "basicAuth.passwordEnv", s.BasicAuth.PasswordEnv)
		if err != nil {
			return nil, secretError{err}
		}
		req.SetBasicAuth(s.BasicAuth.Username, pw)
	default:
		tok, err := secret("bearerTokenFile", s.BearerTokenFile, "bearerTokenEnv", s.BearerTokenEnv)
		if err != nil {
			return nil, secretError{err}
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	return a.next.RoundTrip(req)
}

// secretError is a credential that could not be read (the probe could not ask).
type secretError struct{ error }

func (e secretError) Unwrap() error { return e.error }

// secret reads a secret from a file (trailing newline trimmed) or an environment
// variable; empty is an error.
func secret(fileKey, file, envKey, env string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("reading %s: %w", fileKey, err)
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return "", fmt.Errorf("%s %s is empty", fileKey, file)
		}
		return v, nil
	}
	v, ok := os.LookupEnv(env)
	if !ok || v == "" {
		return "", fmt.Errorf("%s: environment variable %s is not set or empty", envKey, env)
	}
	return v, nil
}
