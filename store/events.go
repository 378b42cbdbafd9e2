package store

import (
	"bytes"
	"encoding/json"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"

	"outpost/checks"
)

// Events (SNMP traps, later syslog lines) arrive from the network, where
// anyone can send them: the store bounds them whatever the receiver lets
// through, so that a flood of spoofed packets can neither fill the disk
// nor the memory (docs/store.md, docs/security.md).
const (
	// maxPendingEvents bounds events waiting for the next commit; more in
	// one second are dropped and counted.
	maxPendingEvents = 10_000
	// Sizes kept of one event: longer texts are cut, extra fields dropped.
	maxEventDetail = 1024
	maxEventName   = 128
	maxEventFields = 32
	maxEventField  = 256
)

// Event bounds, overridable in Options.
const (
	DefaultEventRetention  = 35 * 24 * time.Hour
	DefaultEventsPerDevice = 10_000
	DefaultEventDevices    = 1_000
)

// cut shortens s to at most n bytes on a rune boundary.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// boundEvent returns e cut to the sizes the store keeps.
func boundEvent(e checks.Event) checks.Event {
	e.Device, e.Source, e.Name, e.Detail = cut(e.Device, maxEventName), cut(e.Source, maxEventName), cut(e.Name, maxEventName), cut(e.Detail, maxEventDetail)
	if len(e.Fields) > 0 {
		f := make(map[string]string, min(len(e.Fields), maxEventFields))
		for k, v := range e.Fields {
			if len(f) == maxEventFields {
				break
			}
			f[cut(k, maxEventName)] = cut(v, maxEventField)
		}
		e.Fields = f
	}
	return e
}

// putEvent stores one event in its device's bucket, then keeps the
// device within EventsPerDevice (oldest go first) and the store within
// EventDevices (the device heard from least recently goes).
func (s *Store) putEvent(eb *bolt.Bucket, e checks.Event, seq uint32) error {
	b := eb.Bucket([]byte(e.Device))
	if b == nil {
		if err := s.evictEventDevices(eb, s.o.EventDevices-1); err != nil {
			return err
		}
		var err error
		if b, err = eb.CreateBucket([]byte(e.Device)); err != nil {
			return err
		}
	}
	b.FillPercent = 0.95
	n, ok := s.evCount[e.Device]
	if !ok {
		n = b.Stats().KeyN // once per device per run; then counted here
	}
	v, _ := json.Marshal(e)
	if err := b.Put(seqKey(e.Time, seq), v); err != nil {
		return err
	}
	n++
	c := b.Cursor()
	for k, _ := c.First(); k != nil && n > s.o.EventsPerDevice; k, _ = c.First() {
		if err := b.Delete(k); err != nil {
			return err
		}
		n--
		s.eventsDropped.Add(1)
	}
	s.evCount[e.Device] = n
	return nil
}

// evictEventDevices deletes the buckets of the devices heard from least
// recently until at most keep remain.
func (s *Store) evictEventDevices(eb *bolt.Bucket, keep int) error {
	type dev struct {
		name []byte
		last []byte
	}
	var devs []dev
	if err := eb.ForEachBucket(func(k []byte) error {
		last, _ := eb.Bucket(k).Cursor().Last()
		devs = append(devs, dev{append([]byte(nil), k...), append([]byte(nil), last...)})
		return nil
	}); err != nil {
		return err
	}
	for len(devs) > keep && len(devs) > 0 {
		oldest := 0
		for i := range devs {
			if bytes.Compare(devs[i].last, devs[oldest].last) < 0 {
				oldest = i
			}
		}
		if err := eb.DeleteBucket(devs[oldest].name); err != nil {
			return err
		}
		delete(s.evCount, string(devs[oldest].name))
		s.eventsDropped.Add(1)
		devs = append(devs[:oldest], devs[oldest+1:]...)
	}
	return nil
}

// expireEvents deletes events past EventRetention, judged on the clock
// as retention trusts it (clockhold.go).
func (s *Store) expireEvents(tx *bolt.Tx, now time.Time) error {
	cutKey := timeKey(s.heldNow(now, s.o.EventRetention).Add(-s.o.EventRetention))
	eb := tx.Bucket(bucketEvents)
	var empty [][]byte
	err := eb.ForEachBucket(func(name []byte) error {
		b := eb.Bucket(name)
		c := b.Cursor()
		n, counted := s.evCount[string(name)]
		for k, _ := c.First(); k != nil && bytes.Compare(k[:8], cutKey) < 0; k, _ = c.First() {
			if err := b.Delete(k); err != nil {
				return err
			}
			n--
		}
		if counted {
			s.evCount[string(name)] = max(n, 0)
		}
		if k, _ := c.First(); k == nil {
			empty = append(empty, append([]byte(nil), name...))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, name := range empty {
		if err := eb.DeleteBucket(name); err != nil {
			return err
		}
		delete(s.evCount, string(name))
	}
	return nil
}

// EventsDropped counts events not kept: over the pending buffer, over a
// device's cap, or in the bucket of a device evicted to stay under the
// device cap.
func (s *Store) EventsDropped() uint64 { return s.eventsDropped.Load() }
