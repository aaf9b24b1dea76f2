package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/faultline-dev/faultline/injectors"
)

type memJournal struct{ states []json.RawMessage }

func (j *memJournal) Record(state any) error {
	b, err := json.Marshal(state)
	j.states = append(j.states, b)
	return err
}

func newEnv(res any) *injectors.Env {
	return &injectors.Env{RunID: "r42", Experiment: "t", Resources: map[string]any{"proxy/payments": res}}
}

func build(t *testing.T, key string, spec any, env *injectors.Env) injectors.Injector {
	t.Helper()
	r := injectors.NewRegistry()
	if err := Register(r); err != nil {
		t.Fatal(err)
	}
	d, ok := r.Lookup(key)
	if !ok {
		t.Fatalf("%s not registered", key)
	}
	if v, ok := spec.(injectors.Validator); ok {
		if errs := v.Validate(field.NewPath("spec")); len(errs) > 0 {
			t.Fatalf("valid spec rejected: %v", errs)
		}
	}
	in, err := d.New(spec, env)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func get(c *http.Client, url string) (int, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

func TestInjectors(t *testing.T) {
	up := httpUpstream(t)
	for _, tc := range []struct {
		name, key string
		spec      any
		proof     string
		check     func(t *testing.T, base string, c *http.Client)
	}{
		{"down", "dependencyFailure", &DependencyFailureSpec{Proxy: "payments", Mode: ModeDown}, "connection refused",
			func(t *testing.T, base string, c *http.Client) {
				if _, err := get(c, base+"/"); err == nil || !strings.Contains(err.Error(), "refused") {
					t.Fatalf("down: %v, want refused", err)
				}
			}},
		{"reset", "dependencyFailure", &DependencyFailureSpec{Proxy: "payments", Mode: ModeReset}, "reset by peer",
			func(t *testing.T, base string, c *http.Client) {
				if _, err := get(c, base+"/"); err == nil {
					t.Fatal("reset: request succeeded")
				}
			}},
		{"timeout", "dependencyFailure", &DependencyFailureSpec{Proxy: "payments", Mode: ModeTimeout}, "no answer within",
			func(t *testing.T, base string, c *http.Client) {
				if _, err := get(c, base+"/"); !isTimeout(err) {
					t.Fatalf("timeout: %v, want a client timeout", err)
				}
			}},
		{"httpError", "dependencyFailure", &DependencyFailureSpec{Proxy: "payments", Mode: ModeHTTPError, Status: 502, PathPrefix: "/charge"},
			"answered 502 by the proxy",
			func(t *testing.T, base string, c *http.Client) {
				if s, err := get(c, base+"/charge/1"); s != 502 {
					t.Fatalf("matching request: %d %v, want 502", s, err)
				}
				if s, err := get(c, base+"/other"); s != 200 {
					t.Fatalf("other request: %d %v, want 200", s, err)
				}
			}},
		{"latency", "latency", &LatencySpec{Proxy: "payments", Delay: 100 * time.Millisecond}, "answered in",
			func(t *testing.T, base string, c *http.Client) {
				start := time.Now()
				if s, err := get(c, base+"/"); s != 200 || time.Since(start) < 100*time.Millisecond {
					t.Fatalf("latency: %d %v after %v, want 200 after >= 100ms", s, err, time.Since(start))
				}
			}},
		{"partition", "partition", &PartitionSpec{Proxy: "payments"}, "no answer within",
			func(t *testing.T, base string, c *http.Client) {
				if _, err := get(c, base+"/"); !isTimeout(err) {
					t.Fatalf("partition: %v, want a client timeout", err)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := startProxy(t, strings.TrimPrefix(up.URL, "http://"))
			base := "http://" + p.Addr()
			c := &http.Client{Timeout: 500 * time.Millisecond}
			defer c.CloseIdleConnections()
			if s, err := get(c, base+"/"); s != 200 {
				t.Fatalf("before: %d %v", s, err)
			}
			in := build(t, tc.key, tc.spec, newEnv(p))
			plan, err := in.Plan(context.Background())
			if err != nil || len(plan.Targets) != 1 || plan.Targets[0].Name != "payments" || plan.Action == "" {
				t.Fatalf("plan: %+v %v", plan, err)
			}
			j := &memJournal{}
			inj, err := in.Inject(context.Background(), j)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(inj.Proof, tc.proof) {
				t.Fatalf("proof %q, want it to contain %q", inj.Proof, tc.proof)
			}
			if len(j.states) != 1 || (!strings.Contains(string(j.states[0]), "faultline-r42-") && !strings.Contains(string(j.states[0]), `"down":true`)) {
				t.Fatalf("journal: %s", j.states)
			}
			tc.check(t, base, c)
			if err := inj.Revert(context.Background()); err != nil {
				t.Fatal(err)
			}
			if err := inj.Revert(context.Background()); err != nil {
				t.Fatalf("second revert: %v", err)
			}
			if len(p.Toxics()) != 0 || !p.Enabled() {
				t.Fatalf("after revert: toxics %v, enabled %v", p.Toxics(), p.Enabled())
			}
			c.CloseIdleConnections()
			if s, err := get(c, base+"/"); s != 200 {
				t.Fatalf("after revert: %d %v", s, err)
			}
		})
	}
}

func TestPartitionHangsExistingConnections(t *testing.T) {
	p := startProxy(t, echoServer(t))
	c := dial(t, p.Addr())
	if _, err := roundTrip(t, c, []byte("x"), time.Second); err != nil {
		t.Fatal(err)
	}
	inj, err := build(t, "partition", &PartitionSpec{Proxy: "payments"}, newEnv(Local(p))).Inject(context.Background(), &memJournal{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := roundTrip(t, c, []byte("x"), 300*time.Millisecond); !isTimeout(err) {
		t.Fatalf("existing connection during partition: %v, want a hang", err)
	}
	start := time.Now()
	if err := inj.Revert(context.Background()); err != nil || time.Since(start) > time.Second {
		t.Fatalf("revert: %v after %v", err, time.Since(start))
	}
	if _, err := roundTrip(t, c, []byte("y"), time.Second); err != nil {
		t.Fatalf("existing connection after partition: %v", err)
	}
}

// TestRecoverRemote: a fault on a `chaos proxy` (remote API) survives the runner; Recover
// removes it from the journaled state alone. In-process proxies need nothing.
func TestRecoverRemote(t *testing.T) {
	s, api := apiServer(t)
	p, err := s.Add(Config{Name: "payments", Upstream: echoServer(t)}, true)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := Remote(api, "payments")
	if err != nil {
		t.Fatal(err)
	}
	j := &memJournal{}
	if _, err := build(t, "latency", &LatencySpec{Proxy: "payments", Delay: 20 * time.Millisecond}, newEnv(rc)).
		Inject(context.Background(), j); err != nil {
		t.Fatal(err)
	}
	if len(p.Toxics()) != 1 || !strings.Contains(string(j.states[0]), api) {
		t.Fatalf("toxics %v, journal %s", p.Toxics(), j.states)
	}
	// The runner "died": recover from the journal alone.
	if err := recoverFault(context.Background(), nil, j.states[0]); err != nil {
		t.Fatal(err)
	}
	if len(p.Toxics()) != 0 {
		t.Fatalf("after recover: %v", p.Toxics())
	}
	if err := recoverFault(context.Background(), nil, j.states[0]); err != nil {
		t.Fatalf("recover twice: %v", err)
	}
	// An in-process proxy died with its runner: nothing to revert, and it says so.
	if err := recoverFault(context.Background(), nil, json.RawMessage(`{"proxy":"x","toxics":["t"]}`)); !errors.Is(err, injectors.ErrNothingToRevert) {
		t.Fatalf("in-process recover: %v, want nothing to revert", err)
	}
}

func TestInjectErrors(t *testing.T) {
	in := build(t, "latency", &LatencySpec{Proxy: "payments", Delay: time.Millisecond}, &injectors.Env{})
	if _, err := in.Inject(context.Background(), &memJournal{}); err == nil || !strings.Contains(err.Error(), `proxy "payments" is not running`) {
		t.Fatalf("missing proxy: %v", err)
	}
	r := injectors.NewRegistry()
	if err := Register(r); err != nil {
		t.Fatal(err)
	}
	if err := Register(r); err == nil {
		t.Fatal("registering twice must fail")
	}
	for _, tc := range []struct {
		spec injectors.Validator
		want string
	}{
		{&DependencyFailureSpec{Mode: ModeDown}, "spec.proxy: Required value"},
		{&DependencyFailureSpec{Proxy: "p"}, "spec.mode: Required value"},
		{&DependencyFailureSpec{Proxy: "p", Mode: "boom"}, `spec.mode: Unsupported value: "boom"`},
		{&DependencyFailureSpec{Proxy: "p", Mode: ModeReset, Share: 1.5}, "spec.share: Invalid value: 1.5: must be between 0 and 1"},
		{&DependencyFailureSpec{Proxy: "p", Mode: ModeDown, Share: 0.5}, "share must be 1 or omitted"},
		{&DependencyFailureSpec{Proxy: "p", Mode: ModeReset, Status: 500}, "spec.status: Invalid value: \"\": only applies to mode httpError"},
		{&DependencyFailureSpec{Proxy: "p", Mode: ModeHTTPError, Status: 700}, "must be between 100 and 599"},
		{&DependencyFailureSpec{Proxy: "p", Mode: ModeHTTPError, PathPrefix: "x"}, "must start with /"},
		{&LatencySpec{Proxy: "p"}, "spec.delay: Invalid value: \"0s\": must be >= 1ms"},
		{&LatencySpec{Proxy: "p", Delay: time.Second, Stream: "both"}, `spec.stream: Unsupported value: "both"`},
		{&PartitionSpec{}, "spec.proxy: Required value"},
	} {
		errs := tc.spec.Validate(field.NewPath("spec"))
		if !strings.Contains(errs.ToAggregate().Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.spec, errs, tc.want)
		}
	}
}
