package snmp

import (
	"context"
	"errors"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gosnmp/gosnmp"

	"outpost/checks"
	"outpost/checks/clock"
)

// Source is what the readers (interfaces, storage, ...) ask a device
// through: a Session directly (the probe) or a Poller-backed device that
// shares answers between checks.
type Source = checks.SNMPSource

var (
	_ Source            = (*Session)(nil)
	_ checks.SNMPPoller = (*Poller)(nil)
)

// Poller shares SNMP sessions and answers between the checks of a device.
// Each device gets at most MaxConcurrency sessions in use at once (so a
// printer is never hammered), sessions are reused from poll to poll, and
// an answer (or a failure) is reused by checks asking the same thing
// within MaxAge: the interface, storage and CPU checks of one device that
// run in the same poll cost one session and one set of walks.
type Poller struct {
	// MaxAge bounds how old a shared answer may be.
	MaxAge time.Duration
	// IdleClose closes a device's sessions when unused this long.
	IdleClose time.Duration

	clock   clock.Clock
	mu      sync.Mutex
	devices map[string]*device
}

// NewPoller returns a Poller whose cache ages on clk (nil means real time).
func NewPoller(clk clock.Clock) *Poller {
	if clk == nil {
		clk = clock.Real{}
	}
	return &Poller{MaxAge: 5 * time.Second, IdleClose: 10 * time.Minute, clock: clk, devices: map[string]*device{}}
}

type device struct {
	key      string
	target   Target
	slots    chan struct{}
	mu       sync.Mutex
	idle     []*Session
	calls    map[string]*call
	lastUsed time.Time
	sent     int64 // packets of sessions already closed
}

type call struct {
	done chan struct{}
	at   time.Time
	get  []gosnmp.SnmpPDU
	tab  map[string][]gosnmp.SnmpPDU
	err  error
}

// Device returns a Source for t that shares sessions and answers, with
// answers no older than maxAge (0 means the Poller's MaxAge).
func (p *Poller) Device(t Target, maxAge time.Duration) Source {
	t = t.WithDefaults()
	if maxAge <= 0 || maxAge > p.MaxAge {
		maxAge = p.MaxAge
	}
	return &deviceSource{p: p, t: t, maxAge: maxAge}
}

// Source implements checks.SNMPPoller: Device for a configured device.
func (p *Poller) Source(dev *checks.Device, maxAge time.Duration) Source {
	t, err := TargetFromDevice(dev)
	if err != nil {
		return failing{err}
	}
	return p.Device(t, maxAge)
}

// Set writes values to a configured device in one request, on one of its
// sessions: a SET waits its turn behind the polls like any request, so a
// device is never asked more than MaxConcurrency things at once. Nothing
// is cached.
func (p *Poller) Set(ctx context.Context, dev *checks.Device, pdus ...gosnmp.SnmpPDU) error {
	t, err := TargetFromDevice(dev)
	if err != nil {
		return err
	}
	return p.device(t).with(ctx, func(s *Session) error { return s.Set(ctx, pdus...) })
}

// failing is a Source whose every request fails with err.
type failing struct{ err error }

func (f failing) Get(context.Context, ...string) ([]gosnmp.SnmpPDU, error) { return nil, f.err }
func (f failing) Table(context.Context, ...string) (map[string][]gosnmp.SnmpPDU, error) {
	return nil, f.err
}

// Sent returns how many request packets the Poller has sent to the named
// device (for benchmarks and tests).
func (p *Poller) Sent(name string) int64 {
	p.mu.Lock()
	d := p.devices[name]
	p.mu.Unlock()
	if d == nil {
		return 0
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	n := d.sent
	for _, s := range d.idle {
		n += s.Sent()
	}
	return n
}

// Close closes every idle session.
func (p *Poller) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for name, d := range p.devices {
		d.closeIdle()
		delete(p.devices, name)
	}
	return nil
}

func (p *Poller) device(t Target) *device {
	now := p.clock.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	d := p.devices[t.Name]
	if d != nil && d.key != t.key() {
		// Credentials or address changed: never reuse the old session.
		d.closeIdle()
		d = nil
	}
	if d == nil {
		d = &device{key: t.key(), target: t, slots: make(chan struct{}, t.MaxConcurrency), calls: map[string]*call{}}
		p.devices[t.Name] = d
	}
	d.lastUsed = now
	for name, o := range p.devices {
		if o != d && now.Sub(o.lastUsed) > p.IdleClose {
			o.closeIdle()
			delete(p.devices, name)
		}
	}
	return d
}

func (d *device) closeIdle() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, s := range d.idle {
		d.sent += s.Sent()
		s.Close()
	}
	d.idle = nil
}

// with runs fn on a session of d, waiting for a free slot.
func (d *device) with(ctx context.Context, fn func(*Session) error) error {
	select {
	case d.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-d.slots }()
	d.mu.Lock()
	var s *Session
	if n := len(d.idle); n > 0 {
		s, d.idle = d.idle[n-1], d.idle[:n-1]
	}
	d.mu.Unlock()
	if s == nil {
		var err error
		if s, err = Dial(d.target); err != nil {
			return err
		}
	}
	err := fn(s)
	d.mu.Lock()
	defer d.mu.Unlock()
	if err != nil && ctx.Err() == nil && !errors.Is(err, ErrTimeout) {
		d.idle = append(d.idle, s)
		return err
	}
	if err != nil {
		// After a timeout a late answer may still arrive on this socket;
		// a fresh session keeps it from being taken for the next reply.
		d.sent += s.Sent()
		s.Close()
		return err
	}
	d.idle = append(d.idle, s)
	return nil
}

// shared runs fn once for every caller asking the same key within maxAge.
func (d *device) shared(ctx context.Context, now time.Time, key string, maxAge time.Duration, fn func(*Session, *call) error) *call {
	d.mu.Lock()
	c := d.calls[key]
	if c != nil {
		select {
		case <-c.done:
			if now.Sub(c.at) > maxAge || now.Before(c.at) {
				c = nil
			}
		default: // in flight: wait for it
		}
	}
	if c != nil {
		d.mu.Unlock()
		select {
		case <-c.done:
			return c
		case <-ctx.Done():
			return &call{err: ctx.Err()}
		}
	}
	c = &call{done: make(chan struct{}), at: now}
	d.calls[key] = c
	d.mu.Unlock()
	c.err = d.with(ctx, func(s *Session) error { return fn(s, c) })
	if ctx.Err() != nil {
		// A caller's own deadline must not poison the answer for others.
		d.mu.Lock()
		if d.calls[key] == c {
			delete(d.calls, key)
		}
		d.mu.Unlock()
	}
	close(c.done)
	return c
}

type deviceSource struct {
	p      *Poller
	t      Target
	maxAge time.Duration
}

func (s *deviceSource) Get(ctx context.Context, oids ...string) ([]gosnmp.SnmpPDU, error) {
	d := s.p.device(s.t)
	c := d.shared(ctx, s.p.clock.Now(), "get\x00"+strings.Join(oids, "\x00"), s.maxAge, func(sess *Session, c *call) error {
		var err error
		c.get, err = sess.Get(ctx, oids...)
		return err
	})
	return c.get, c.err
}

func (s *deviceSource) Table(ctx context.Context, roots ...string) (map[string][]gosnmp.SnmpPDU, error) {
	sorted := append([]string(nil), roots...)
	sort.Strings(sorted)
	d := s.p.device(s.t)
	c := d.shared(ctx, s.p.clock.Now(), "table\x00"+strings.Join(sorted, "\x00"), s.maxAge, func(sess *Session, c *call) error {
		var err error
		c.tab, err = sess.Table(ctx, roots...)
		return err
	})
	return c.tab, c.err
}
