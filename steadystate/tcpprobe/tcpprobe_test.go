package tcpprobe

import (
	"context"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/faultline-dev/faultline/steadystate"
)

func listener(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return l
}

func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// fullBacklog returns the address of a listener whose accept queue is full: the
// kernel drops further SYNs, so a connect times out (like a blackholed target).
func fullBacklog(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := (&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: sa.(*syscall.SockaddrInet4).Port}).String()
	for i := range 16 {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				return addr
			}
			t.Fatalf("filling backlog, dial %d: %v", i, err)
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Skip("the kernel kept accepting connections into a listen(0) backlog; cannot make a connect time out")
	return ""
}

func TestProbe(t *testing.T) {
	l := listener(t)
	tests := []struct {
		name    string
		address string
		timeout time.Duration
		status  steadystate.Status
		detail  string
	}{
		{"connects", l.Addr().String(), 0, steadystate.StatusOK, "connected"},
		{"refused", closedPort(t), 0, steadystate.StatusFailed, "connection refused"},
		{"timeout", fullBacklog(t), 300 * time.Millisecond, steadystate.StatusFailed, "timeout after 300ms"},
		{"dns is errored", "faultline-probe.invalid:80", 0, steadystate.StatusErrored, "dns: "},
		{"bad port is errored", "127.0.0.1:99999", 0, steadystate.StatusErrored, "bad address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := New(&Spec{Address: tt.address, Timeout: tt.timeout}).Probe(context.Background())
			if o.Status != tt.status || !strings.HasPrefix(o.Detail, tt.detail) {
				t.Errorf("got %s %q, want %s %q...", o.Status, o.Detail, tt.status, tt.detail)
			}
			if o.Time.IsZero() {
				t.Error("zero time")
			}
			if tt.timeout > 0 && (o.Latency < tt.timeout || o.Latency > tt.timeout+time.Second) {
				t.Errorf("latency %v, want about %v", o.Latency, tt.timeout)
			}
		})
	}
	o := New(&Spec{Address: l.Addr().String()}).Probe(context.Background())
	if o.Values["remote"] != l.Addr().String() {
		t.Errorf("remote = %q, want %q", o.Values["remote"], l.Addr())
	}
}

func TestProbeCancelledIsErrored(t *testing.T) {
	addr := fullBacklog(t)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	o := New(&Spec{Address: addr, Timeout: 5 * time.Second}).Probe(ctx)
	if o.Status != steadystate.StatusErrored || !strings.HasPrefix(o.Detail, "cancelled") {
		t.Errorf("got %s %q after %v, want errored cancelled", o.Status, o.Detail, o.Latency)
	}
	if o.Latency > 2*time.Second {
		t.Errorf("did not honour ctx: %v", o.Latency)
	}
}

func TestValidate(t *testing.T) {
	for _, tt := range []struct {
		spec Spec
		want string
	}{
		{Spec{Address: "db:5432", Timeout: time.Second}, ""},
		{Spec{Address: "[::1]:80"}, ""},
		{Spec{}, "tcp.address: Required value"},
		{Spec{Address: "db"}, "must be host:port"},
		{Spec{Address: ":80"}, "must name a host"},
		{Spec{Address: "db:http"}, "port must be a number"},
		{Spec{Address: "db:0"}, "port must be a number"},
		{Spec{Address: "db:1", Timeout: -1}, "tcp.timeout"},
	} {
		errs := tt.spec.Validate(field.NewPath("tcp"))
		switch {
		case tt.want == "" && len(errs) > 0:
			t.Errorf("%+v: unexpected %v", tt.spec, errs.ToAggregate())
		case tt.want != "" && (len(errs) == 0 || !strings.Contains(errs.ToAggregate().Error(), tt.want)):
			t.Errorf("%+v: got %v, want %q", tt.spec, errs.ToAggregate(), tt.want)
		}
	}
}

func TestRegister(t *testing.T) {
	r := steadystate.NewRegistry()
	if err := Register(r); err != nil {
		t.Fatal(err)
	}
	if err := Register(r); err == nil {
		t.Error("registering twice must fail")
	}
	d, _ := r.Probe(Key)
	spec := d.NewSpec().(*Spec)
	spec.Address = listener(t).Addr().String()
	p, err := d.New(spec, &steadystate.Env{})
	if err != nil {
		t.Fatal(err)
	}
	if o := p.Probe(context.Background()); o.Status != steadystate.StatusOK {
		t.Errorf("got %s %q", o.Status, o.Detail)
	}
}
