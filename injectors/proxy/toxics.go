package proxy

import (
	"fmt"
	"slices"
	"time"
)

// AddToxic validates t and adds it atomically. Live connections see it with the next
// bytes they read: everything sent after AddToxic returned goes through it. It returns ErrToxicExists for a
// duplicate name and an ErrInvalidToxic* error for a bad definition.
func (p *Proxy) AddToxic(t Toxic) error {
	c, err := compile(t)
	if err != nil {
		return err
	}
	c.id = splitmix(p.nextID.Add(1) ^ uint64(time.Now().UnixNano()))
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	for _, o := range p.toxics {
		if o.spec.Name == c.spec.Name {
			return fmt.Errorf("%w: %s", ErrToxicExists, c.spec.Name)
		}
	}
	p.toxics = append(p.toxics, c)
	p.publishLocked(c)
	return nil
}

// UpdateToxic merges attrs into the named toxic's attributes and, if toxicity is not
// nil, sets it; the connections it affects stay the same when toxicity is unchanged.
func (p *Proxy) UpdateToxic(name string, toxicity *float32, attrs map[string]any) (Toxic, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, o := range p.toxics {
		if o.spec.Name != name {
			continue
		}
		t := o.spec
		t.Attributes = map[string]any{}
		for k, v := range o.spec.Attributes {
			t.Attributes[k] = v
		}
		for k, v := range attrs {
			t.Attributes[k] = v
		}
		if toxicity != nil {
			t.Toxicity = *toxicity
		}
		c, err := compile(t)
		if err != nil {
			return Toxic{}, err
		}
		c.id = o.id
		p.toxics[i] = c
		p.publishLocked(c)
		return c.spec, nil
	}
	return Toxic{}, fmt.Errorf("%w: %s", ErrToxicNotFound, name)
}

// RemoveToxic removes the named toxic atomically; ErrToxicNotFound if absent. It
// never waits for connections: it swaps the chain, which connections check at every
// read. Data a removed latency toxic still holds is sent at once; data a timeout
// toxic dropped stays dropped.
func (p *Proxy) RemoveToxic(name string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, o := range p.toxics {
		if o.spec.Name == name {
			p.toxics = append(p.toxics[:i:i], p.toxics[i+1:]...)
			p.publishLocked(nil)
			return nil
		}
	}
	return fmt.Errorf("%w: %s", ErrToxicNotFound, name)
}

// ResetToxics removes every toxic.
func (p *Proxy) ResetToxics() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.toxics = nil
	p.publishLocked(nil)
}

// Toxics returns the toxics in the order added, upstream first (as Toxiproxy lists them).
func (p *Proxy) Toxics() []Toxic {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Toxic, 0, len(p.toxics))
	for _, d := range []int{dirUp, dirDown} {
		for _, t := range p.toxics {
			if t.dir == d {
				out = append(out, t.spec)
			}
		}
	}
	return out
}

// Toxic returns the named toxic.
func (p *Proxy) Toxic(name string) (Toxic, bool) {
	for _, t := range p.Toxics() {
		if t.Name == name {
			return t, true
		}
	}
	return Toxic{}, false
}

// publishLocked builds new immutable chains and swaps them in. Pumps compare their
// chain snapshot with the current one around every read, so nothing else is needed
// for data to see the change; waits on held data (latency, http_fault delay) watch
// p.changed, and the writers' timerfd waits (p.sleeping) are interrupted. A timeout toxic with a timeout (added is that toxic, if any) must also
// close idle connections: one timer does it for the connections live now (new ones
// start their own). Called with p.mu held.
func (p *Proxy) publishLocked(added *toxic) {
	var cs [2][]*toxic
	for _, t := range p.toxics {
		cs[t.dir] = append(cs[t.dir], t)
	}
	for d := range cs {
		old := p.chains[d].Load()
		if old == nil && len(cs[d]) == 0 || old != nil && slices.Equal(old.toxics, cs[d]) {
			continue
		}
		if len(cs[d]) == 0 {
			p.chains[d].Store(nil)
		} else {
			p.chains[d].Store(newChain(cs[d]))
		}
	}
	next := make(chan struct{})
	old := p.changed.Swap(&next)
	close(*old)
	p.smu.Lock() // after the close: a wait registered later sees it closed
	for s := range p.sleeping {
		s.interrupt()
	}
	p.smu.Unlock()
	if added == nil || added.kind != kTimeout || added.timeout <= 0 {
		return
	}
	p.lmu.Lock()
	live := make([]*link, 0, len(p.links))
	for _, l := range p.links {
		live = append(live, l)
	}
	p.lmu.Unlock()
	dir, id := added.dir, added.id
	p.timers = append(p.timers, time.AfterFunc(added.timeout, func() {
		for _, l := range live {
			if l.active(dir, id) {
				l.close()
			}
		}
	}))
}
