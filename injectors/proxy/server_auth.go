package proxy

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Options are a Server's access control. The zero value is Toxiproxy's behaviour:
// no authentication, any upstream — for loopback only (`chaos proxy` refuses to
// serve it elsewhere without --insecure-no-auth).
type Options struct {
	// Credentials, if set, are required on every request as HTTP Basic credentials
	// (user Credentials.User, password Credentials.Token). Clients send them in the
	// URL's user info: http://faultline:TOKEN@host:8474.
	Credentials *Credentials
	// Upstreams, if set, restricts the upstreams proxies may be created for.
	Upstreams *AllowList
	// Logf receives a line for each refused request (about 10 a second; the
	// rest are counted in the next line; bursts of 20). Nil: not logged.
	Logf func(format string, a ...any)
}

// auth is the compiled access check: hashes of the expected credentials, so the
// comparison takes the same time whatever the lengths and contents compared.
type auth struct {
	user, token [sha256.Size]byte
	lim         *rate.Limiter
	dropped     atomic.Int64
	logf        func(string, ...any)
}

func newAuth(o Options) *auth {
	a := &auth{lim: rate.NewLimiter(10, 20), logf: o.Logf}
	if c := o.Credentials; c != nil {
		a.user, a.token = sha256.Sum256([]byte(c.User)), sha256.Sum256([]byte(c.Token))
	}
	return a
}

// check reports whether r carries the credentials; both parts are compared, in
// constant time, whatever the first one gave.
func (a *auth) check(r *http.Request) (ok bool, why string) {
	user, pass, has := r.BasicAuth()
	if !has {
		return false, "no credentials"
	}
	u, p := sha256.Sum256([]byte(user)), sha256.Sum256([]byte(pass))
	if subtle.ConstantTimeCompare(u[:], a.user[:])&subtle.ConstantTimeCompare(p[:], a.token[:]) == 1 {
		return true, ""
	}
	return false, "wrong credentials"
}

// refuse answers 401 without saying which part was wrong, and logs the attempt.
func (a *auth) refuse(w http.ResponseWriter, r *http.Request, why string) {
	if a.logf != nil {
		if a.lim.Allow() {
			more := ""
			if n := a.dropped.Swap(0); n > 0 {
				more = fmt.Sprintf(" (and %d more refused requests not logged)", n)
			}
			a.logf("refused %s %q from %s: %s%s", r.Method, r.URL.Path, r.RemoteAddr, why, more)
		} else {
			a.dropped.Add(1)
		}
	}
	w.Header().Set("WWW-Authenticate", `Basic realm="faultline chaos proxy", charset="UTF-8"`)
	writeErr(w, apiErr(http.StatusUnauthorized, "unauthorized: this API needs its credentials, e.g. http://%s:TOKEN@host:port", DefaultUser))
}

// protect wraps h with the credential check when the server has credentials.
func (s *Server) protect(h http.Handler) http.Handler {
	if s.opts.Credentials == nil {
		return h
	}
	a := newAuth(s.opts)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ok, why := a.check(r); !ok {
			a.refuse(w, r, why)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// admit checks an upstream against the allow-list (nil: any) within 5 s.
func (s *Server) admit(ctx context.Context, upstream string) error {
	if s.opts.Upstreams == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return s.opts.Upstreams.Admit(ctx, upstream)
}
