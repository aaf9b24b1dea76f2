// Package httpprobe is the `http` probe: one HTTP request per observation, judged by
// its status code and, optionally, its body.
//
//	steadyState:
//	  probes:
//	    - name: checkout
//	      every: 100ms
//	      http:
//	        url: http://127.0.0.1:8080/checkout
//	        method: POST                 # default GET
//	        headers: {X-Probe: faultline}
//	        body: '{"cart": 1}'
//	        expectStatus: [200, 201]     # default: any 2xx
//	        bodyContains: ok
//	        bodyRegex: '"state":\s*"ready"'
//	        timeout: 1s                  # default 1s
//	        tls: {caFile: ca.pem, serverName: checkout.local, insecureSkipVerify: false}
//
// Classification (see the steadystate package doc):
//
//	errored (the probe could not ask; says nothing of the system):
//	  the request cannot be built, the URL's host does not resolve (any DNS error of
//	  the probe's own lookup: NXDOMAIN, no resolver), tls.caFile unreadable or not
//	  PEM, the runner cancelled the probe's context, the probe host is out of local
//	  resources (EMFILE, EADDRNOTAVAIL).
//	failed (the system answered badly or not at all):
//	  connection refused, reset or closed early, host/network unreachable, timeout
//	  talking to the target, TLS handshake or certificate failure, a malformed
//	  response, an unexpected status, a body that lacks bodyContains or does not
//	  match bodyRegex.
//
// A DNS failure is errored even when a fault is what broke DNS: probe a name
// resolution as such with an `exec` probe (e.g. `getent hosts NAME`) when DNS is the
// system under test.
//
// Each probe keeps one http.Client (keep-alive, at most 4 idle connections), does
// not use HTTP proxies from the environment (it measures the target, not a proxy),
// and follows redirects like Go's default client; expectStatus applies to the final
// response. Observation.Values["status"] holds the status code, and
// Values["breaker"] the lower-cased value of a X-Circuit-State or X-Breaker-State
// response header when the target sends one.
package httpprobe

import (
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Key is the YAML key of this probe.
const Key = "http"

// DefaultTimeout bounds one request when Spec.Timeout is zero.
const DefaultTimeout = time.Second

// Spec is the `http` block of a probe.
type Spec struct {
	// URL to request; http or https, required.
	URL string `yaml:"url" json:"url"`
	// Method is the HTTP method (default GET).
	Method string `yaml:"method,omitempty" json:"method,omitempty"`
	// Headers are added to the request (Host sets the request's Host).
	Headers map[string]string `yaml:"headers,omitempty" json:"headers,omitempty"`
	// Body is sent as the request body.
	Body string `yaml:"body,omitempty" json:"body,omitempty"`
	// ExpectStatus lists the acceptable status codes; empty means any 2xx.
	ExpectStatus []int `yaml:"expectStatus,omitempty" json:"expectStatus,omitempty"`
	// BodyContains must occur in the response body (first 1 MiB).
	BodyContains string `yaml:"bodyContains,omitempty" json:"bodyContains,omitempty"`
	// BodyRegex (RE2 syntax) must match the response body (first 1 MiB).
	BodyRegex string `yaml:"bodyRegex,omitempty" json:"bodyRegex,omitempty"`
	// Timeout bounds the whole exchange, body included (default 1s).
	Timeout time.Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	// TLS configures https URLs.
	TLS *TLS `yaml:"tls,omitempty" json:"tls,omitempty"`
}

// TLS configures the client side of TLS.
type TLS struct {
	// InsecureSkipVerify accepts any server certificate.
	InsecureSkipVerify bool `yaml:"insecureSkipVerify,omitempty" json:"insecureSkipVerify,omitempty"`
	// CAFile is a PEM bundle of CAs to trust instead of the system's.
	CAFile string `yaml:"caFile,omitempty" json:"caFile,omitempty"`
	// ServerName overrides the name the certificate is verified against (and SNI).
	ServerName string `yaml:"serverName,omitempty" json:"serverName,omitempty"`
}

// Validate checks the spec without I/O.
func (s *Spec) Validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	scheme := ""
	if s.URL == "" {
		errs = append(errs, field.Required(p.Child("url"), "an http or https url is required"))
	} else if u, err := url.Parse(s.URL); err != nil {
		errs = append(errs, field.Invalid(p.Child("url"), s.URL, "must be a valid url: "+urlErr(err)))
	} else {
		scheme = u.Scheme
		if scheme != "http" && scheme != "https" {
			errs = append(errs, field.Invalid(p.Child("url"), s.URL, "scheme must be http or https"))
		}
		if u.Host == "" {
			errs = append(errs, field.Invalid(p.Child("url"), s.URL, "must have a host"))
		}
	}
	if s.Method != "" && !validToken(s.Method) {
		errs = append(errs, field.Invalid(p.Child("method"), s.Method, "must be an http method token such as GET or POST"))
	}
	for _, k := range slices.Sorted(maps.Keys(s.Headers)) {
		if !validToken(k) {
			errs = append(errs, field.Invalid(p.Child("headers").Key(k), k, "must be a valid header name"))
		} else if err := headerValueErr(s.Headers[k]); err != "" {
			errs = append(errs, field.Invalid(p.Child("headers").Key(k), s.Headers[k], err))
		}
	}
	for i, c := range s.ExpectStatus {
		if c < 100 || c > 599 {
			errs = append(errs, field.Invalid(p.Child("expectStatus").Index(i), c, "must be between 100 and 599"))
		}
	}
	if s.BodyRegex != "" {
		if _, err := regexp.Compile(s.BodyRegex); err != nil {
			errs = append(errs, field.Invalid(p.Child("bodyRegex"), s.BodyRegex, "must be a valid regular expression: "+err.Error()))
		}
	}
	if s.Timeout < 0 {
		errs = append(errs, field.Invalid(p.Child("timeout"), s.Timeout.String(), "must be > 0"))
	}
	if s.TLS != nil && scheme == "http" {
		errs = append(errs, field.Forbidden(p.Child("tls"), "applies only to https urls"))
	}
	return errs
}

// urlErr drops the "parse URL:" prefix url.Parse repeats.
func urlErr(err error) string {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err.Error()
	}
	return err.Error()
}

// validToken reports whether s is an RFC 9110 token (method or header name).
// headerValueErr says what makes v unusable as a header value ("" when nothing):
// a CR or LF would split the request (header injection), other control
// characters are refused by net/http; either way no request could be sent.
func headerValueErr(v string) string {
	if strings.ContainsAny(v, "\r\n") {
		return "must not contain CR or LF (a header value is one line)"
	}
	if !httpguts.ValidHeaderFieldValue(v) {
		return "must not contain control characters"
	}
	return ""
}

func validToken(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c > 127 || !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			strings.ContainsRune("!#$%&'*+-.^_`|~", c)) {
			return false
		}
	}
	return true
}

// statusOK reports whether code is expected by s.
func (s *Spec) statusOK(code int) bool {
	if len(s.ExpectStatus) == 0 {
		return code >= 200 && code <= 299
	}
	for _, c := range s.ExpectStatus {
		if c == code {
			return true
		}
	}
	return false
}

func (s *Spec) method() string {
	if s.Method == "" {
		return http.MethodGet
	}
	return strings.ToUpper(s.Method)
}

func (s *Spec) timeout() time.Duration {
	if s.Timeout <= 0 {
		return DefaultTimeout
	}
	return s.Timeout
}

func (s *Spec) String() string { return fmt.Sprintf("%s %s", s.method(), s.URL) }
