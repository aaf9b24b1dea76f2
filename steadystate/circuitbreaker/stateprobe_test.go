package circuitbreaker

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/faultline-dev/faultline/steadystate"
)

func fptr(v float64) *float64 { return &v }

func TestFindSample(t *testing.T) {
	const text = `# HELP checkout_breaker_state State.
# TYPE checkout_breaker_state gauge
checkout_breaker_state_total 7
checkout_breaker_state{name="db",zone="a"} 0
checkout_breaker_state{zone="b", name="pay\"ments\\"} 2 1700000000000
checkout_breaker_state{name="payments"} 1
other 3
bare_metric NaN
`
	tests := []struct {
		name   string
		metric string
		labels map[string]string
		want   float64
		err    string
	}{
		{"by label", "checkout_breaker_state", map[string]string{"name": "payments"}, 1, ""},
		{"escaped label and timestamp", "checkout_breaker_state", map[string]string{"name": `pay"ments\`}, 2, ""},
		{"first match without labels", "checkout_breaker_state", nil, 0, ""},
		{"prefix is not a match", "checkout_breaker_stat", nil, 0, "metric checkout_breaker_stat not found"},
		{"no such label", "checkout_breaker_state", map[string]string{"name": "x"}, 0, `metric checkout_breaker_state{name="x"} not found`},
		{"bad value", "bare_metric", nil, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := findSample(text, tt.metric, tt.labels)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.metric != "bare_metric" && got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	if _, err := findSample(`m{a="x} 1`, "m", nil); err == nil || !strings.Contains(err.Error(), "unterminated") {
		t.Errorf("unterminated label: err = %v", err)
	}
	if _, err := findSample(`m{a=x} 1`, "m", nil); err == nil || !strings.Contains(err.Error(), "must be quoted") {
		t.Errorf("unquoted label: err = %v", err)
	}
	if _, err := findSample(`m abc`, "m", nil); err == nil || !strings.Contains(err.Error(), `bad value "abc"`) {
		t.Errorf("bad value: err = %v", err)
	}
}

func TestProbeSpecValidate(t *testing.T) {
	tests := []struct {
		name string
		spec ProbeSpec
		want string
	}{
		{"none", ProbeSpec{}, "breakerState: Required value: must set one of: http, metric"},
		{"both", ProbeSpec{HTTP: &HTTPState{URL: "http://a"}, Metric: &MetricState{}}, "must set only one of: http, metric"},
		{"http bad url", ProbeSpec{HTTP: &HTTPState{URL: "ftp://a"}}, "breakerState.http.url: Invalid value"},
		{"metric missing", ProbeSpec{Metric: &MetricState{URL: "http://a/metrics"}}, "breakerState.metric.name: Required value: must name a metric, breakerState.metric.openValue: Required value"},
		{"negative timeout", ProbeSpec{HTTP: &HTTPState{URL: "http://a"}, Timeout: -time.Second}, "breakerState.timeout: Invalid value"},
		{"bad whenAbsent", ProbeSpec{Metric: &MetricState{URL: "http://a/metrics", Name: "m", OpenValue: fptr(2), WhenAbsent: "shut"}}, `breakerState.metric.whenAbsent: Unsupported value: "shut"`},
		{"ok", ProbeSpec{Metric: &MetricState{URL: "http://a/metrics", Name: "m", OpenValue: fptr(2)}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.spec.Validate(field.NewPath(ProbeKey)).ToAggregate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

// TestStateProbe reads a real HTTP endpoint whose breaker state changes.
func TestStateProbe(t *testing.T) {
	var state atomic.Value
	state.Store("closed")
	gauge := map[string]string{"closed": "0", "half-open": "1", "open": "2"}
	mux := http.NewServeMux()
	mux.HandleFunc("/breaker", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"name":"payments","breaker":{"state":"` + state.Load().(string) + `"}}`))
	})
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("# TYPE checkout_breaker_state gauge\ncheckout_breaker_state{name=\"payments\"} " + gauge[state.Load().(string)] + "\n"))
	})
	mux.HandleFunc("/404", http.NotFound)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	jsonProbe, err := NewStateProbe(ProbeSpec{HTTP: &HTTPState{URL: srv.URL + "/breaker", JSONField: "breaker.state"}})
	if err != nil {
		t.Fatal(err)
	}
	metricProbe, err := NewStateProbe(ProbeSpec{Metric: &MetricState{
		URL: srv.URL + "/metrics", Name: "checkout_breaker_state",
		Labels: map[string]string{"name": "payments"}, OpenValue: fptr(2), HalfOpenValue: fptr(1),
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, st := range []string{"closed", "open", "half-open", "closed"} {
		state.Store(st)
		want := steadystate.StatusFailed
		if st == "closed" {
			want = steadystate.StatusOK
		}
		for name, p := range map[string]*StateProbe{"json": jsonProbe, "metric": metricProbe} {
			o := p.Probe(ctx)
			if o.Values[StateValue] != st || o.Status != want || o.Time.IsZero() {
				t.Errorf("%s probe in state %s: got %+v, want breaker=%s status=%s", name, st, o, st, want)
			}
		}
	}

	// A gauge that is not exported (yet): failed, or the whenAbsent state.
	for _, absent := range []string{"", StateClosed} {
		p, err := NewStateProbe(ProbeSpec{Metric: &MetricState{URL: srv.URL + "/metrics", Name: "other_breaker_state", OpenValue: fptr(2), WhenAbsent: absent}})
		if err != nil {
			t.Fatal(err)
		}
		o := p.Probe(ctx)
		switch {
		case absent == "" && (o.Status != steadystate.StatusFailed || o.Detail != "metric other_breaker_state not found"):
			t.Errorf("absent metric: %+v", o)
		case absent != "" && (o.Status != steadystate.StatusOK || o.Values[StateValue] != StateClosed):
			t.Errorf("absent metric, whenAbsent closed: %+v", o)
		}
	}

	// The endpoint answers badly: failed, no state.
	bad, err := NewStateProbe(ProbeSpec{HTTP: &HTTPState{URL: srv.URL + "/404"}})
	if err != nil {
		t.Fatal(err)
	}
	if o := bad.Probe(ctx); o.Status != steadystate.StatusFailed || o.Detail != "404" || o.Values != nil {
		t.Errorf("404: %+v", o)
	}
	missing, err := NewStateProbe(ProbeSpec{HTTP: &HTTPState{URL: srv.URL + "/breaker", JSONField: "nope"}})
	if err != nil {
		t.Fatal(err)
	}
	if o := missing.Probe(ctx); o.Status != steadystate.StatusFailed || !strings.Contains(o.Detail, `field "nope" not found`) {
		t.Errorf("missing field: %+v", o)
	}

	// The target is down: failed (the system did not answer).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	down, err := NewStateProbe(ProbeSpec{HTTP: &HTTPState{URL: "http://" + addr + "/breaker"}})
	if err != nil {
		t.Fatal(err)
	}
	if o := down.Probe(ctx); o.Status != steadystate.StatusFailed || !strings.Contains(o.Detail, "refused") {
		t.Errorf("down: %+v", o)
	}

	// Cancelled by the runner: errored (the probe could not ask).
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if o := jsonProbe.Probe(cctx); o.Status != steadystate.StatusErrored {
		t.Errorf("cancelled: %+v", o)
	}
}
