package experiments

import (
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/faultline-dev/faultline/reports"
	"github.com/faultline-dev/faultline/steadystate"
)

// sampleStore keeps every observation of a run by probe name, in Time order, packed:
// 24 bytes an observation (a steadystate.Observation is 72 plus its strings), in
// fixed chunks that are never copied as a series grows, details, statuses and value
// maps interned. A one-hour game day of 10 probes at 10 Hz (360,000 observations)
// holds about 9 MB here (BenchmarkLongRunPipeline). Observations are rebuilt on
// demand, for a window (abort rules, checks) or a whole series (assertions, the
// report), and the value maps they carry are shared: read them, never write them.
type sampleStore struct {
	mu sync.Mutex
	// base is the time offsets count from; it carries the monotonic clock reading,
	// and so does every Time rebuilt from it.
	base   time.Time
	series map[string]*packedSeries
	// statuses (ok, failed, errored first), details and value maps, interned.
	statuses internTable[string]
	details  internTable[string]
	vals     internTable[map[string]string]
	// added holds a token after each add (capacity 1, never blocks the adder): the
	// abort watcher wakes on it.
	added chan struct{}
}

// packedObs is one observation in the store.
type packedObs struct {
	off     int64  // Time - base, in ns
	latency int64  // ns
	meta    uint32 // status index << 24 | detail index (both in the store's tables)
	values  uint32 // 0: none; else index+1 in the store's value maps
}

const (
	chunkBits = 12
	chunkSize = 1 << chunkBits // observations per chunk: 96 KiB
	detailMax = 1<<24 - 1      // details a run stores (past internCap distinct ones, each new one is stored)
)

// tooManyDetails replaces the details of a run past detailMax distinct ones; it is
// the details' entry tooManyDetailsIndex.
const (
	tooManyDetails      = "(detail not kept: the run stored more than 16,777,214 details)"
	tooManyDetailsIndex = 1
)

// packedSeries is one probe's observations in chunks of chunkSize; only the last
// chunk is ever appended to.
type packedSeries struct {
	chunks [][]packedObs
	n      int
}

func (s *packedSeries) at(i int) *packedObs { return &s.chunks[i>>chunkBits][i&(chunkSize-1)] }

func (s *packedSeries) push(p packedObs) {
	if k := len(s.chunks); k == 0 || len(s.chunks[k-1]) == chunkSize {
		c := chunkSize
		if k == 0 {
			c = 64 // a short run's series stays small; the first chunk grows to chunkSize
		}
		s.chunks = append(s.chunks, make([]packedObs, 0, c))
	}
	k := len(s.chunks) - 1
	s.chunks[k] = append(s.chunks[k], p)
	s.n++
}

// search returns the index of the first observation at or after off.
func (s *packedSeries) search(off int64) int {
	return sort.Search(s.n, func(i int) bool { return s.at(i).off >= off })
}

// internTable gives each distinct value a small index. Past internCap distinct
// values new ones are still stored, but no longer looked up (a run whose details are
// all different, such as error texts with ports, does not also grow the map).
type internTable[T any] struct {
	idx  map[string]uint32
	list []T
}

const internCap = 1 << 16

func (t *internTable[T]) index(key string, v T) uint32 {
	if i, ok := t.idx[key]; ok {
		return i
	}
	if t.idx == nil {
		t.idx = map[string]uint32{}
	}
	i := uint32(len(t.list))
	t.list = append(t.list, v)
	if len(t.idx) < internCap {
		t.idx[key] = i
	}
	return i
}

func newSampleStore() *sampleStore {
	s := &sampleStore{base: time.Now(), series: map[string]*packedSeries{}, added: make(chan struct{}, 1)}
	for _, st := range []steadystate.Status{steadystate.StatusOK, steadystate.StatusFailed, steadystate.StatusErrored} {
		s.statuses.index(string(st), string(st))
	}
	s.details.index("", "")
	s.details.index(tooManyDetails, tooManyDetails)
	return s
}

// pack encodes o; s.mu is held.
func (s *sampleStore) pack(o steadystate.Observation) packedObs {
	st, ok := s.statuses.idx[string(o.Status)]
	if !ok {
		st = 2 // more than 256 distinct statuses: the rest count as errored
		if len(s.statuses.list) <= 0xff {
			st = s.statuses.index(string(o.Status), string(o.Status))
		}
	}
	d, ok := s.details.idx[o.Detail]
	if !ok {
		d = tooManyDetailsIndex
		if len(s.details.list) < detailMax {
			d = s.details.index(o.Detail, o.Detail)
		}
	}
	p := packedObs{off: int64(o.Time.Sub(s.base)), latency: int64(o.Latency), meta: st<<24 | d}
	if len(o.Values) > 0 {
		p.values = s.vals.index(valuesKey(o.Values), o.Values) + 1
	}
	return p
}

// valuesKey is a canonical text of a value map, to intern equal maps once.
func valuesKey(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys { // length-prefixed: no two maps share a key
		b.WriteString(strconv.Itoa(len(k)))
		b.WriteByte(':')
		b.WriteString(k)
		b.WriteString(strconv.Itoa(len(m[k])))
		b.WriteByte(':')
		b.WriteString(m[k])
	}
	return b.String()
}

// unpack rebuilds an observation; s.mu is held.
func (s *sampleStore) unpack(p *packedObs) steadystate.Observation {
	o := steadystate.Observation{Time: s.base.Add(time.Duration(p.off)), Latency: time.Duration(p.latency),
		Status: steadystate.Status(s.statuses.list[p.meta>>24]), Detail: s.details.list[p.meta&detailMax]}
	if p.values > 0 {
		o.Values = s.vals.list[p.values-1]
	}
	return o
}

// add inserts o in Time order: open-loop observations finish out of order.
func (s *sampleStore) add(name string, o steadystate.Observation) {
	s.mu.Lock()
	ps := s.series[name]
	if ps == nil {
		ps = &packedSeries{}
		s.series[name] = ps
	}
	p := s.pack(o)
	ps.push(p)
	for i := ps.n - 1; i > 0 && ps.at(i-1).off > p.off; i-- {
		*ps.at(i), *ps.at(i - 1) = *ps.at(i - 1), *ps.at(i)
	}
	s.mu.Unlock()
	select {
	case s.added <- struct{}{}:
	default:
	}
}

// since returns the observations of name at or after t.
func (s *sampleStore) since(name string, t time.Time) []steadystate.Observation {
	return s.window(name, steadystate.Window{Start: t})
}

// window returns the observations of name that w contains.
func (s *sampleStore) window(name string, w steadystate.Window) []steadystate.Observation {
	s.mu.Lock()
	defer s.mu.Unlock()
	ps := s.series[name]
	if ps == nil {
		return nil
	}
	lo, hi := ps.search(int64(w.Start.Sub(s.base))), ps.n
	if !w.End.IsZero() {
		hi = max(lo, ps.search(int64(w.End.Sub(s.base))))
	}
	out := make([]steadystate.Observation, 0, hi-lo) // sized once: a long window is not regrown
	for i := lo; i < hi; i++ {
		if o := s.unpack(ps.at(i)); w.Contains(o.Time) {
			out = append(out, o)
		}
	}
	return out
}

// all returns every observation of name.
func (s *sampleStore) all(name string) []steadystate.Observation {
	s.mu.Lock()
	defer s.mu.Unlock()
	ps := s.series[name]
	if ps == nil {
		return nil
	}
	out := make([]steadystate.Observation, ps.n)
	for i := range out {
		out[i] = s.unpack(ps.at(i))
	}
	return out
}

// take returns the observations of name as a report series holds them and drops
// them from the store. Only once sampling has stopped, and after everything that
// reads the store.
func (s *sampleStore) take(name string) []reports.Observation {
	s.mu.Lock()
	defer s.mu.Unlock()
	ps := s.series[name]
	delete(s.series, name)
	if ps == nil {
		return nil
	}
	out := make([]reports.Observation, ps.n)
	for i := range out {
		o := s.unpack(ps.at(i))
		out[i] = reports.Observation{Time: o.Time, Status: string(o.Status), Latency: o.Latency, Detail: o.Detail, Values: o.Values}
	}
	return out
}
