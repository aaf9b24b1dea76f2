package promprobe

import (
	"math"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/faultline-dev/faultline/steadystate"
	"github.com/faultline-dev/faultline/steadystate/circuitbreaker"
)

func fp(v float64) *float64 { return &v }

func TestComparison(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	tests := []struct {
		name string
		c    comparison
		v    float64
		ok   bool
		str  string
	}{
		{"below holds", comparison{below: fp(0.05)}, 0.01, true, "below 0.05"},
		{"below is strict", comparison{below: fp(0.05)}, 0.05, false, "below 0.05"},
		{"above holds", comparison{above: fp(10)}, 11, true, "above 10"},
		{"above is strict", comparison{above: fp(10)}, 10, false, "above 10"},
		{"equals", comparison{equals: fp(1)}, 1, true, "equal to 1"},
		{"not equal", comparison{equals: fp(1)}, 1.0000001, false, "equal to 1"},
		{"between inclusive low", comparison{between: []float64{0, 1}}, 0, true, "between 0 and 1"},
		{"between inclusive high", comparison{between: []float64{0, 1}}, 1, true, "between 0 and 1"},
		{"between outside", comparison{between: []float64{0, 1}}, 1.5, false, "between 0 and 1"},
		{"open range inside", comparison{above: fp(1), below: fp(5)}, 3, true, "above 1 and below 5"},
		{"open range outside", comparison{above: fp(1), below: fp(5)}, 5, false, "above 1 and below 5"},
		{"NaN below", comparison{below: fp(1)}, nan, false, "below 1"},
		{"NaN above", comparison{above: fp(-1)}, nan, false, "above -1"},
		{"NaN between", comparison{between: []float64{math.Inf(-1), inf}}, nan, false, "between -Inf and +Inf"},
		{"+Inf above", comparison{above: fp(1e308)}, inf, true, "above 1e+308"},
		{"+Inf below", comparison{below: fp(1e308)}, inf, false, "below 1e+308"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.c.ok(tt.v); got != tt.ok {
				t.Errorf("ok(%v) = %v, want %v", tt.v, got, tt.ok)
			}
			if got := tt.c.String(); got != tt.str {
				t.Errorf("String() = %q, want %q", got, tt.str)
			}
		})
	}
}

func series(vs ...float64) []sample {
	out := make([]sample, len(vs))
	for i, v := range vs {
		name := string(rune('a' + i))
		out[i] = sample{Series: `x{shard="` + name + `"}`, Labels: map[string]string{"shard": name}, Value: v}
	}
	return out
}

func TestJudge(t *testing.T) {
	tests := []struct {
		name   string
		spec   Spec
		res    []sample
		st     steadystate.Status
		detail []string
		values map[string]string
	}{
		{"one ok", Spec{Below: fp(1)}, series(0.5), steadystate.StatusOK, []string{"0.5, below 1"}, map[string]string{"value": "0.5", "series": "1"}},
		{"one failed", Spec{Below: fp(1)}, series(2), steadystate.StatusFailed, []string{"2, not below 1"}, map[string]string{"value": "2"}},
		{"one NaN is empty", Spec{Below: fp(1)}, series(math.NaN()), steadystate.StatusErrored, []string{"empty result: only NaN"}, map[string]string{"result": "empty", "nan": "1"}},
		{"NaN empty failed", Spec{Below: fp(1), IfEmpty: EmptyFailed}, series(math.NaN()), steadystate.StatusFailed, []string{"empty result: only NaN"}, nil},
		{"NaN left out", Spec{Below: fp(1)}, series(math.NaN(), 2), steadystate.StatusFailed, []string{"2, not below 1"}, map[string]string{"value": "2", "series": "2", "nan": "1"}},
		{"NaN left out of all", Spec{Below: fp(1), Series: SeriesAll}, series(0.5, math.NaN(), 0.2), steadystate.StatusOK, []string{"2 of 2 series below 1"}, map[string]string{"series": "3", "nan": "1"}},
		{"several under one", Spec{Below: fp(1)}, series(0.1, 0.2), steadystate.StatusErrored,
			[]string{"2 series, want one", `x{shard="a"}=0.1`, `x{shard="b"}=0.2`}, map[string]string{"series": "2", `x{shard="a"}`: "0.1"}},
		{"several named, bounded", Spec{Below: fp(1)}, series(1, 2, 3, 4, 5, 6, 7), steadystate.StatusErrored, []string{"and 2 more"}, nil},
		{"all ok", Spec{Below: fp(10), Series: SeriesAll}, series(1, 2, 3), steadystate.StatusOK, []string{"3 of 3 series below 10"}, nil},
		{"all one bad", Spec{Below: fp(2.5), Series: SeriesAll}, series(1, 2, 3), steadystate.StatusFailed, []string{"1 of 3 series not below 2.5", `x{shard="c"}=3`}, nil},
		{"all with one series", Spec{Below: fp(2.5), Series: SeriesAll}, series(1), steadystate.StatusOK, []string{"1, below 2.5"}, map[string]string{"value": "1"}},
		{"any ok", Spec{Above: fp(2.5), Series: SeriesAny}, series(1, 2, 3), steadystate.StatusOK, []string{"1 of 3 series above 2.5"}, nil},
		{"any none", Spec{Above: fp(5), Series: SeriesAny}, series(1, 2), steadystate.StatusFailed, []string{"none of 2 series above 5"}, nil},
		{"empty default errored", Spec{Below: fp(1)}, nil, steadystate.StatusErrored, []string{"empty result"}, map[string]string{"result": "empty", "series": "0"}},
		{"empty failed", Spec{Below: fp(1), IfEmpty: EmptyFailed}, nil, steadystate.StatusFailed, []string{"empty result"}, nil},
		{"empty ok", Spec{Below: fp(1), IfEmpty: EmptyOK}, nil, steadystate.StatusOK, []string{"empty result"}, nil},
		{"empty under all is still empty", Spec{Below: fp(1), Series: SeriesAll}, nil, steadystate.StatusErrored, []string{"empty result"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := tt.spec.judge(tt.res)
			check(t, v, tt.st, tt.detail, tt.values)
		})
	}
}

func check(t *testing.T, v verdict, st steadystate.Status, detail []string, values map[string]string) {
	t.Helper()
	if v.Status != st {
		t.Errorf("status %s (%q), want %s", v.Status, v.Detail, st)
	}
	for _, d := range detail {
		if !strings.Contains(v.Detail, d) {
			t.Errorf("detail %q lacks %q", v.Detail, d)
		}
	}
	for k, want := range values {
		if v.Values[k] != want {
			t.Errorf("Values[%q] = %q, want %q (all: %v)", k, v.Values[k], want, v.Values)
		}
	}
}

func withState(state string, v float64, name string) sample {
	return sample{Series: `cb{name="` + name + `", state="` + state + `"}`, Labels: map[string]string{"name": name, "state": state}, Value: v}
}

func TestReadBreaker(t *testing.T) {
	gauge := &Breaker{Gauge: &Gauge{Closed: fp(0), HalfOpen: fp(1), Open: fp(2)}}
	perState := &Breaker{StateLabel: &StateLabel{}}
	r4j := func(current string) []sample {
		var out []sample
		for _, s := range []string{"closed", "open", "half_open", "disabled", "forced_open", "metrics_only"} {
			v := 0.0
			if s == current {
				v = 1
			}
			out = append(out, withState(s, v, "backendA"))
		}
		return out
	}
	tests := []struct {
		name   string
		b      *Breaker
		res    []sample
		st     steadystate.Status
		detail []string
		state  string
	}{
		{"gauge closed", gauge, series(0), steadystate.StatusOK, []string{"closed (value 0)"}, StateClosed},
		{"gauge open", gauge, series(2), steadystate.StatusFailed, []string{"open (value 2)"}, StateOpen},
		{"gauge half-open", gauge, series(1), steadystate.StatusFailed, []string{"half-open"}, StateHalfOpen},
		{"gauge unmapped", gauge, series(3), steadystate.StatusErrored, []string{"is 3, which maps to no state", "closed=0, open=2, halfOpen=1"}, ""},
		{"gauge without half-open", &Breaker{Gauge: &Gauge{Closed: fp(0), Open: fp(1)}}, series(0.5), steadystate.StatusErrored, []string{"closed=0, open=1)"}, ""},
		{"gauge several", gauge, series(0, 2), steadystate.StatusErrored, []string{"2 series, want one breaker gauge", `shard="b"`}, ""},
		{"gauge empty", gauge, nil, steadystate.StatusErrored, []string{"empty result"}, ""},
		{"per state closed", perState, r4j("closed"), steadystate.StatusOK, []string{`closed (state="closed")`}, StateClosed},
		{"per state open", perState, r4j("open"), steadystate.StatusFailed, []string{`open (state="open")`}, StateOpen},
		{"per state forced open", perState, r4j("forced_open"), steadystate.StatusFailed, []string{`open (state="forced_open")`}, StateOpen},
		{"per state half open", perState, r4j("half_open"), steadystate.StatusFailed, []string{"half-open"}, StateHalfOpen},
		{"per state unmapped", perState, r4j("disabled"), steadystate.StatusErrored, []string{`state="disabled"`, "maps to no state"}, ""},
		{"per state custom", &Breaker{StateLabel: &StateLabel{Label: "s", Closed: []string{"C"}, Open: []string{"O"}, HalfOpen: []string{"H"}}},
			[]sample{{Series: `cb{s="O"}`, Labels: map[string]string{"s": "O"}, Value: 1}, {Series: `cb{s="C"}`, Labels: map[string]string{"s": "C"}, Value: 0}},
			steadystate.StatusFailed, []string{`open (s="O")`}, StateOpen},
		{"per state none current", perState, []sample{withState("closed", 0, "a"), withState("open", 0, "a")}, steadystate.StatusErrored, []string{"no series of 2 has a non-zero value"}, ""},
		{"per state label missing", perState, series(1), steadystate.StatusErrored, []string{`has no label "state"`}, ""},
		{"per state two breakers disagree", perState, []sample{withState("closed", 1, "a"), withState("open", 1, "b")}, steadystate.StatusErrored,
			[]string{"several breakers in different states", `name="a"`, `name="b"`}, ""},
		{"per state two breakers agree", perState, []sample{withState("open", 1, "a"), withState("open", 1, "b")}, steadystate.StatusFailed, []string{"open"}, StateOpen},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Spec{Breaker: tt.b}
			v := s.readBreaker(tt.res)
			check(t, v, tt.st, tt.detail, nil)
			if got := v.Values[BreakerValue]; got != tt.state {
				t.Errorf("Values[breaker] = %q, want %q", got, tt.state)
			}
		})
	}
}

// TestBreakerContract: the states this probe writes are the ones circuitBreaker reads.
func TestBreakerContract(t *testing.T) {
	if BreakerValue != circuitbreaker.StateValue || StateClosed != circuitbreaker.StateClosed ||
		StateOpen != circuitbreaker.StateOpen || StateHalfOpen != circuitbreaker.StateHalfOpen {
		t.Errorf("promprobe writes Values[%q] in {%s, %s, %s}; circuitbreaker reads Values[%q] in {%s, %s, %s}",
			BreakerValue, StateClosed, StateOpen, StateHalfOpen,
			circuitbreaker.StateValue, circuitbreaker.StateClosed, circuitbreaker.StateOpen, circuitbreaker.StateHalfOpen)
	}
}

func TestValidate(t *testing.T) {
	base := func(mod func(*Spec)) Spec {
		s := Spec{URL: "http://127.0.0.1:9090", Query: "up", Below: fp(1)}
		mod(&s)
		return s
	}
	tests := []struct {
		name string
		spec Spec
		errs []string // "field: fragment"
	}{
		{"ok", base(func(*Spec) {}), nil},
		{"ok breaker gauge", base(func(s *Spec) {
			s.Below = nil
			s.Breaker = &Breaker{Gauge: &Gauge{Closed: fp(0), Open: fp(2)}}
		}), nil},
		{"ok breaker per state", base(func(s *Spec) { s.Below = nil; s.Breaker = &Breaker{StateLabel: &StateLabel{}} }), nil},
		{"missing url and query", Spec{Below: fp(1)}, []string{"prometheus.url: Required", "prometheus.query: Required"}},
		{"bad url", base(func(s *Spec) { s.URL = "127.0.0.1:9090" }), []string{"prometheus.url: Invalid"}},
		{"nothing to judge", base(func(s *Spec) { s.Below = nil }), []string{"prometheus: Required", "below, above, equals, between, or breaker"}},
		{"equals with below", base(func(s *Spec) { s.Equals = fp(1) }), []string{"prometheus.equals: Forbidden"}},
		{"between with below", base(func(s *Spec) { s.Between = []float64{0, 1} }), []string{"prometheus.between: Forbidden"}},
		{"between shape", base(func(s *Spec) { s.Below = nil; s.Between = []float64{1} }), []string{"prometheus.between: Invalid", "[lo, hi]"}},
		{"between order", base(func(s *Spec) { s.Below = nil; s.Between = []float64{2, 1} }), []string{"lo <= hi"}},
		{"empty range", base(func(s *Spec) { s.Above = fp(5) }), []string{"prometheus.below: Invalid", "must be > above (5)"}},
		{"NaN bound", base(func(s *Spec) { s.Below = fp(math.NaN()) }), []string{"prometheus.below: Invalid"}},
		{"series", base(func(s *Spec) { s.Series = "some" }), []string{"prometheus.series: Unsupported"}},
		{"ifEmpty", base(func(s *Spec) { s.IfEmpty = "pass" }), []string{"prometheus.ifEmpty: Unsupported"}},
		{"timeout", base(func(s *Spec) { s.Timeout = -1 }), []string{"prometheus.timeout: Invalid"}},
		{"two tokens", base(func(s *Spec) { s.BearerTokenFile = "f"; s.BearerTokenEnv = "E" }), []string{"prometheus.bearerTokenEnv: Forbidden"}},
		{"basic without password", base(func(s *Spec) { s.BasicAuth = &BasicAuth{Username: "u"} }), []string{"prometheus.basicAuth: Required", "never an inline password"}},
		{"basic without user", base(func(s *Spec) { s.BasicAuth = &BasicAuth{PasswordEnv: "P"} }), []string{"prometheus.basicAuth.username: Required"}},
		{"basic and bearer", base(func(s *Spec) { s.BearerTokenEnv = "T"; s.BasicAuth = &BasicAuth{Username: "u", PasswordEnv: "P"} }), []string{"prometheus.basicAuth: Forbidden"}},
		{"cert without key", base(func(s *Spec) { s.TLS = &TLS{CertFile: "c.pem"} }), []string{"prometheus.tls: Required"}},
		{"breaker and below", base(func(s *Spec) { s.Breaker = &Breaker{StateLabel: &StateLabel{}} }), []string{"prometheus.breaker: Forbidden"}},
		{"breaker and series all", base(func(s *Spec) {
			s.Below = nil
			s.Series = SeriesAll
			s.Breaker = &Breaker{StateLabel: &StateLabel{}}
		}), []string{"prometheus.series: Forbidden"}},
		{"breaker empty", base(func(s *Spec) { s.Below = nil; s.Breaker = &Breaker{} }), []string{"prometheus.breaker: Required"}},
		{"breaker both", base(func(s *Spec) {
			s.Below = nil
			s.Breaker = &Breaker{Gauge: &Gauge{Closed: fp(0), Open: fp(1)}, StateLabel: &StateLabel{}}
		}), []string{"prometheus.breaker: Forbidden"}},
		{"gauge missing values", base(func(s *Spec) { s.Below = nil; s.Breaker = &Breaker{Gauge: &Gauge{}} }),
			[]string{"prometheus.breaker.gauge.closed: Required", "prometheus.breaker.gauge.open: Required"}},
		{"gauge duplicate value", base(func(s *Spec) {
			s.Below = nil
			s.Breaker = &Breaker{Gauge: &Gauge{Closed: fp(0), Open: fp(0)}}
		}), []string{"prometheus.breaker.gauge.open: Invalid", "also the value of closed"}},
		{"state listed twice", base(func(s *Spec) {
			s.Below = nil
			s.Breaker = &Breaker{StateLabel: &StateLabel{Closed: []string{"x"}, Open: []string{"y", "x"}}}
		}), []string{"prometheus.breaker.stateLabel.open[1]: Invalid", "also listed under closed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := tt.spec.Validate(field.NewPath(Key))
			if len(tt.errs) == 0 && len(errs) > 0 {
				t.Fatalf("unexpected errors: %v", errs)
			}
			all := errs.ToAggregate()
			for _, want := range tt.errs {
				if all == nil || !strings.Contains(all.Error(), want) {
					t.Errorf("errors %v lack %q", all, want)
				}
			}
		})
	}
}

func TestRegisterTwiceFails(t *testing.T) {
	r := steadystate.NewRegistry()
	if err := Register(r); err != nil {
		t.Fatal(err)
	}
	if err := Register(r); err == nil {
		t.Fatal("registering the prometheus probe twice succeeded")
	}
	d, ok := r.Probe(Key)
	if !ok {
		t.Fatal("not registered")
	}
	if _, err := d.New(&Spec{URL: "http://127.0.0.1:1", Query: "up"}, &steadystate.Env{}); err == nil {
		t.Error("New accepted a spec with nothing to judge")
	}
	p, err := d.New(&Spec{URL: "http://127.0.0.1:1", Query: "up", Below: fp(1)}, &steadystate.Env{})
	if err != nil || p == nil {
		t.Fatalf("New: %v", err)
	}
}

func TestUnreadableTLSFilesAreErrored(t *testing.T) {
	p, err := New(&Spec{URL: "https://127.0.0.1:1", Query: "up", Below: fp(1), TLS: &TLS{CAFile: "/nonexistent/ca.pem"}})
	if err != nil {
		t.Fatal(err)
	}
	o := p.Probe(t.Context())
	if o.Status != steadystate.StatusErrored || !strings.Contains(o.Detail, "reading tls.caFile") {
		t.Errorf("got %s %q, want errored reading tls.caFile", o.Status, o.Detail)
	}
}

func TestEvalTimeout(t *testing.T) {
	for _, c := range []struct{ in, want time.Duration }{
		{2 * time.Second, 2 * time.Second},
		{1500 * time.Millisecond, time.Second},
		{90 * time.Second, 90 * time.Second},
		{300 * time.Millisecond, 300 * time.Millisecond},
		{300*time.Millisecond + 500*time.Microsecond, 300 * time.Millisecond},
		{time.Microsecond, time.Millisecond},
	} {
		if got := evalTimeout(c.in); got != c.want {
			t.Errorf("evalTimeout(%s) = %s, want %s", c.in, got, c.want)
		}
	}
}
