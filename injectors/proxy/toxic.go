package proxy

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Sentinel errors. The API maps them to Toxiproxy's status codes.
var (
	ErrToxicNotFound      = errors.New("proxy: toxic not found")
	ErrToxicExists        = errors.New("proxy: toxic already exists")
	ErrProxyNotFound      = errors.New("proxy: proxy not found")
	ErrProxyExists        = errors.New("proxy: proxy already exists")
	ErrInvalidToxic       = errors.New("proxy: invalid toxic")
	ErrInvalidToxicType   = errors.New("proxy: invalid toxic type")
	ErrInvalidToxicStream = errors.New("proxy: stream was invalid, can be either upstream or downstream")
	ErrClosed             = errors.New("proxy: closed")
)

// Streams, as in Toxiproxy: upstream is client → upstream server (requests),
// downstream is upstream server → client (responses).
const (
	Upstream   = "upstream"
	Downstream = "downstream"
)

// Toxic mirrors Toxiproxy's JSON shape:
//
//	{"name":"lat","type":"latency","stream":"downstream","toxicity":1,"attributes":{"latency":50,"jitter":0}}
//
// Toxicity is the share of connections the toxic affects, in [0,1], exactly as in
// Toxiproxy: 1 affects every connection and 0 affects none (the HTTP API defaults an
// absent toxicity to 1; the Go zero value is 0, so set it). Whether a connection is
// affected is decided once per (connection, toxic) and stays stable while both live.
//
// Types and attributes (times in ms unless said otherwise):
//
//	latency     latency, jitter          delay each chunk by latency ± jitter
//	bandwidth   rate (KB/s)              pace data; 0 = unlimited
//	slow_close  delay                    delay the close after EOF
//	timeout     timeout                  drop all data; close after timeout (0 = never: blackhole)
//	reset_peer  timeout                  on data, reset (RST) both sides after timeout
//	slicer      average_size, size_variation (bytes), delay (µs)   split into small chunks
//	limit_data  bytes                    close after that many bytes
//	http_fault  path_prefix, method, header ("Name: value"), action (status|delay|abort),
//	            status, body, delay_ms, share (0..1 of matching requests)   upstream only
type Toxic struct {
	Name       string         `json:"name"`
	Type       string         `json:"type"`
	Stream     string         `json:"stream"`
	Toxicity   float32        `json:"toxicity"`
	Attributes map[string]any `json:"attributes"`
}

type kind int

const (
	kLatency kind = iota
	kBandwidth
	kSlowClose
	kTimeout
	kReset
	kSlicer
	kLimit
	kHTTP
)

// attrDef describes one attribute: its name, whether it is a string, its default,
// and for an integer its largest value (0: no bound).
type attrDef struct {
	name   string
	str    bool
	float  bool
	defVal any
	max    int64
}

// MaxDelayMS bounds every time attribute: 24 h in ms (slicer's delay, in µs, has the
// same 24 h bound). Larger values are refused rather than overflowing to no delay.
const MaxDelayMS = 24 * 60 * 60 * 1000

// maxRate bounds bandwidth's rate (KB/s), so rate*1024 never overflows.
const maxRate = 1 << 40

type kindDef struct {
	kind  kind
	attrs []attrDef
}

var kinds = map[string]kindDef{
	"latency": {kLatency, []attrDef{{name: "latency", defVal: int64(0), max: MaxDelayMS},
		{name: "jitter", defVal: int64(0), max: MaxDelayMS}}},
	"bandwidth":  {kBandwidth, []attrDef{{name: "rate", defVal: int64(0), max: maxRate}}},
	"slow_close": {kSlowClose, []attrDef{{name: "delay", defVal: int64(0), max: MaxDelayMS}}},
	"timeout":    {kTimeout, []attrDef{{name: "timeout", defVal: int64(0), max: MaxDelayMS}}},
	"reset_peer": {kReset, []attrDef{{name: "timeout", defVal: int64(0), max: MaxDelayMS}}},
	"slicer": {kSlicer, []attrDef{{name: "average_size", defVal: int64(0)},
		{name: "size_variation", defVal: int64(0)}, {name: "delay", defVal: int64(0), max: MaxDelayMS * 1000}}},
	"limit_data": {kLimit, []attrDef{{name: "bytes", defVal: int64(0)}}},
	"http_fault": {kHTTP, []attrDef{
		{name: "path_prefix", str: true, defVal: ""}, {name: "method", str: true, defVal: ""},
		{name: "header", str: true, defVal: ""}, {name: "action", str: true, defVal: "status"},
		{name: "status", defVal: int64(503)}, {name: "body", str: true, defVal: ""},
		{name: "delay_ms", defVal: int64(0), max: MaxDelayMS}, {name: "share", float: true, defVal: float64(1)}}},
}

// ToxicTypes returns the supported toxic type names, sorted.
func ToxicTypes() []string {
	out := make([]string, 0, len(kinds))
	for k := range kinds {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// toxic is a validated, immutable toxic as the data path uses it.
type toxic struct {
	id        uint64
	spec      Toxic // normalised: stream set, every attribute present with its type
	dir       int   // dirUp or dirDown
	kind      kind
	threshold float64 // toxicity

	latency, jitter  time.Duration
	rate             int64 // bytes per second, 0 = unlimited
	delay            time.Duration
	timeout          time.Duration
	avgSize, sizeVar int
	limit            int64
	http             *httpRule
}

const (
	dirUp   = 0
	dirDown = 1
)

// compile validates t and returns its data-path form. It has no side effects.
func compile(t Toxic) (*toxic, error) {
	def, ok := kinds[t.Type]
	if !ok {
		return nil, fmt.Errorf("%w %q (known: %s)", ErrInvalidToxicType, t.Type, strings.Join(ToxicTypes(), ", "))
	}
	if t.Stream == "" {
		t.Stream = Downstream
		if def.kind == kHTTP {
			t.Stream = Upstream
		}
	}
	c := &toxic{kind: def.kind, threshold: float64(t.Toxicity)}
	switch t.Stream {
	case Upstream:
		c.dir = dirUp
	case Downstream:
		c.dir = dirDown
	default:
		return nil, fmt.Errorf("%w: %q", ErrInvalidToxicStream, t.Stream)
	}
	if def.kind == kHTTP && c.dir != dirUp {
		return nil, fmt.Errorf("%w: http_fault works on requests: stream must be upstream", ErrInvalidToxic)
	}
	if t.Name == "" {
		t.Name = t.Type + "_" + t.Stream
	}
	if math.IsNaN(float64(t.Toxicity)) || t.Toxicity < 0 || t.Toxicity > 1 {
		return nil, fmt.Errorf("%w %s: toxicity must be between 0 and 1, got %v", ErrInvalidToxic, t.Name, t.Toxicity)
	}
	attrs, err := normalise(t.Name, t.Type, def, t.Attributes)
	if err != nil {
		return nil, err
	}
	t.Attributes = attrs
	c.spec = t
	ms := func(k string) time.Duration { return time.Duration(attrs[k].(int64)) * time.Millisecond }
	bad := func(msg string, a ...any) error {
		return fmt.Errorf("%w %s (%s): %s", ErrInvalidToxic, t.Name, t.Type, fmt.Sprintf(msg, a...))
	}
	for _, a := range def.attrs {
		if v, ok := attrs[a.name].(int64); ok && v < 0 {
			return nil, bad("%s must be >= 0, got %d", a.name, v)
		} else if ok && a.max > 0 && v > a.max {
			return nil, bad("%s must be <= %d, got %d", a.name, a.max, v)
		}
	}
	switch def.kind {
	case kLatency:
		c.latency, c.jitter = ms("latency"), ms("jitter")
	case kBandwidth:
		c.rate = attrs["rate"].(int64) * 1024
	case kSlowClose:
		c.delay = ms("delay")
	case kTimeout, kReset:
		c.timeout = ms("timeout")
	case kSlicer:
		c.avgSize, c.sizeVar = int(attrs["average_size"].(int64)), int(attrs["size_variation"].(int64))
		c.delay = time.Duration(attrs["delay"].(int64)) * time.Microsecond
		if c.avgSize < 1 {
			return nil, bad("average_size must be >= 1")
		}
		if c.sizeVar >= c.avgSize {
			return nil, bad("size_variation must be less than average_size (%d), got %d", c.avgSize, c.sizeVar)
		}
	case kLimit:
		c.limit = attrs["bytes"].(int64)
	case kHTTP:
		r, err := newHTTPRule(attrs)
		if err != nil {
			return nil, bad("%v", err)
		}
		c.http = r
	}
	return c, nil
}

// normalise checks attribute names and types against def and fills defaults.
func normalise(name, typ string, def kindDef, in map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(def.attrs))
	known := make([]string, 0, len(def.attrs))
	for _, a := range def.attrs {
		out[a.name] = a.defVal
		known = append(known, a.name)
	}
	for k, v := range in {
		i := slices.IndexFunc(def.attrs, func(a attrDef) bool { return a.name == k })
		if i < 0 {
			return nil, fmt.Errorf("%w %s: unknown attribute %q for type %s (known: %s)",
				ErrInvalidToxic, name, k, typ, strings.Join(known, ", "))
		}
		a := def.attrs[i]
		switch {
		case a.str:
			s, ok := v.(string)
			if !ok {
				return nil, fmt.Errorf("%w %s: attribute %s must be a string, got %T", ErrInvalidToxic, name, k, v)
			}
			out[k] = s
		case a.float:
			f, ok := toFloat(v)
			if !ok {
				return nil, fmt.Errorf("%w %s: attribute %s must be a number, got %v", ErrInvalidToxic, name, k, v)
			}
			out[k] = f
		default:
			f, ok := toFloat(v)
			if !ok || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
				return nil, fmt.Errorf("%w %s: attribute %s must be an integer, got %v", ErrInvalidToxic, name, k, v)
			}
			out[k] = int64(f)
		}
	}
	return out, nil
}

func toFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case float32:
		return float64(n), true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case int32:
		return float64(n), true
	case uint:
		return float64(n), true
	case uint32:
		return float64(n), true
	case uint64:
		return float64(n), true
	case time.Duration:
		return float64(n / time.Millisecond), true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}

// httpRule is a compiled http_fault.
type httpRule struct {
	pathPrefix, method  string
	headerName, headerV string
	action              string
	status              int
	body                string
	delay               time.Duration
	share               float64
}

func newHTTPRule(a map[string]any) (*httpRule, error) {
	r := &httpRule{
		pathPrefix: a["path_prefix"].(string), method: strings.ToUpper(a["method"].(string)),
		action: a["action"].(string), status: int(a["status"].(int64)), body: a["body"].(string),
		delay: time.Duration(a["delay_ms"].(int64)) * time.Millisecond, share: a["share"].(float64),
	}
	if h := a["header"].(string); h != "" {
		n, v, ok := strings.Cut(h, ":")
		if !ok || strings.TrimSpace(n) == "" {
			return nil, fmt.Errorf(`header must read "Name: value", got %q`, h)
		}
		r.headerName, r.headerV = http.CanonicalHeaderKey(strings.TrimSpace(n)), strings.TrimSpace(v)
	}
	switch r.action {
	case "status":
		if r.status < 100 || r.status > 599 {
			return nil, fmt.Errorf("status must be between 100 and 599, got %d", r.status)
		}
	case "delay", "abort":
	default:
		return nil, fmt.Errorf("action must be one of: status, delay, abort; got %q", r.action)
	}
	if r.share < 0 || r.share > 1 || math.IsNaN(r.share) {
		return nil, fmt.Errorf("share must be between 0 and 1, got %v", r.share)
	}
	if r.pathPrefix != "" && !strings.HasPrefix(r.pathPrefix, "/") {
		return nil, fmt.Errorf("path_prefix must start with /, got %q", r.pathPrefix)
	}
	return r, nil
}

// chain is the immutable list of toxics of one direction. A new chain replaces the
// old one atomically on every add, update or remove.
type chain struct {
	toxics []*toxic
	all    bool // every toxic has toxicity 1: effective is toxics, no allocation
}

func newChain(ts []*toxic) *chain {
	c := &chain{toxics: ts, all: true}
	for _, t := range ts {
		c.all = c.all && t.threshold >= 1
	}
	return c
}

// affects reports whether toxic t applies to connection connID: a stable
// pseudo-random roll per (connection, toxic) compared with the toxicity.
func (t *toxic) affects(connID uint64) bool {
	if t.threshold >= 1 {
		return true
	}
	if t.threshold <= 0 {
		return false
	}
	x := splitmix(connID*0x9e3779b97f4a7c15 ^ t.id)
	return float64(x>>11)/(1<<53) < t.threshold
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// effective returns the toxics of c that apply to connection connID (nil if none).
func (c *chain) effective(connID uint64) []*toxic {
	if c == nil {
		return nil
	}
	if c.all {
		return c.toxics
	}
	var out []*toxic
	for _, t := range c.toxics {
		if t.affects(connID) {
			out = append(out, t)
		}
	}
	return out
}
