// Package tcpprobe is the `tcp` probe: one TCP connect per observation.
//
//	steadyState:
//	  probes:
//	    - name: postgres
//	      tcp: {address: "db.internal:5432", timeout: 500ms}   # timeout default 1s
//
// The observation is ok when the connection is established (it is closed at once;
// nothing is sent), failed when the target refuses, resets, is unreachable or does
// not answer within the timeout, and errored when the probe could not ask: the host
// name does not resolve (any DNS error of the probe's own lookup), the address is
// malformed, the probe host is out of local resources, or the runner cancelled the
// probe. Detail is "connected", "connection refused", "timeout after 1s", ...;
// Values["remote"] holds the ip:port connected to.
package tcpprobe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/faultline-dev/faultline/steadystate"
)

// Key is the YAML key of this probe.
const Key = "tcp"

// DefaultTimeout bounds one connect when Spec.Timeout is zero.
const DefaultTimeout = time.Second

// Spec is the `tcp` block of a probe.
type Spec struct {
	// Address is host:port, required; the port is a number.
	Address string `yaml:"address" json:"address"`
	// Timeout bounds the connect (default 1s).
	Timeout time.Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
}

// Validate checks the spec without I/O.
func (s *Spec) Validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if s.Address == "" {
		errs = append(errs, field.Required(p.Child("address"), "host:port is required"))
	} else if host, port, err := net.SplitHostPort(s.Address); err != nil {
		errs = append(errs, field.Invalid(p.Child("address"), s.Address, "must be host:port"))
	} else {
		if host == "" {
			errs = append(errs, field.Invalid(p.Child("address"), s.Address, "must name a host"))
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			errs = append(errs, field.Invalid(p.Child("address"), s.Address, "port must be a number between 1 and 65535"))
		}
	}
	if s.Timeout < 0 {
		errs = append(errs, field.Invalid(p.Child("timeout"), s.Timeout.String(), "must be > 0"))
	}
	return errs
}

// Register adds the `tcp` probe to r.
func Register(r *steadystate.Registry) error {
	return r.Register(steadystate.Definition{
		Key:     Key,
		Summary: "Opens one TCP connection and closes it.",
		NewSpec: func() any { return &Spec{} },
		New: func(spec any, _ *steadystate.Env) (steadystate.Probe, error) {
			s, ok := spec.(*Spec)
			if !ok {
				return nil, fmt.Errorf("tcpprobe: spec is %T, want *tcpprobe.Spec", spec)
			}
			return New(s), nil
		},
	})
}

// Probe is one configured tcp probe; safe for concurrent use.
type Probe struct {
	address string
	timeout time.Duration
}

var _ steadystate.Probe = (*Probe)(nil)

// New builds a probe from a validated spec.
func New(s *Spec) *Probe {
	p := &Probe{address: s.Address, timeout: s.Timeout}
	if p.timeout <= 0 {
		p.timeout = DefaultTimeout
	}
	return p
}

// Probe connects once.
func (p *Probe) Probe(ctx context.Context) steadystate.Observation {
	start := time.Now()
	dctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(dctx, "tcp", p.address)
	obs := steadystate.Observation{Time: start, Latency: time.Since(start)}
	if err != nil {
		obs.Status, obs.Detail = classify(ctx, dctx, err, p.timeout)
		return obs
	}
	obs.Values = map[string]string{"remote": conn.RemoteAddr().String()}
	_ = conn.Close()
	obs.Status, obs.Detail = steadystate.StatusOK, "connected"
	return obs
}

func classify(parent, dctx context.Context, err error, timeout time.Duration) (steadystate.Status, string) {
	failed, errored := steadystate.StatusFailed, steadystate.StatusErrored
	var dnsErr *net.DNSError
	var addrErr *net.AddrError
	var ne net.Error
	switch {
	case steadystate.Cancelled(parent):
		return errored, "cancelled by the runner"
	case errors.As(err, &dnsErr):
		if dnsErr.IsNotFound {
			return errored, "dns: no such host " + dnsErr.Name
		}
		return errored, "dns: " + dnsErr.Err + " looking up " + dnsErr.Name
	case errors.As(err, &addrErr):
		return errored, "bad address: " + addrErr.Error()
	case dctx.Err() != nil, errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return failed, "timeout after " + steadystate.FormatDuration(timeout)
	case errors.Is(err, syscall.ECONNREFUSED):
		return failed, "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return failed, "connection reset"
	case errors.Is(err, syscall.EHOSTUNREACH):
		return failed, "host unreachable"
	case errors.Is(err, syscall.ENETUNREACH):
		return failed, "network unreachable"
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE), errors.Is(err, syscall.EADDRNOTAVAIL):
		return errored, "local: " + rootCause(err)
	default:
		return failed, rootCause(err)
	}
}

func rootCause(err error) string {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err.Error()
	}
	return err.Error()
}
