package store

import (
	"bytes"
	"container/heap"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"sort"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"

	"outpost/checks"
)

// Events (SNMP traps, syslog lines) arrive from the network, where
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
	detail := maxEventDetail
	if checks.LineSource(e.Source) {
		detail = maxLogDetail
	}
	e.Device, e.Source, e.Name, e.Detail = cut(e.Device, maxEventName), cut(e.Source, maxEventName), cut(e.Name, maxEventName), cut(e.Detail, detail)
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
	if checks.LineSource(e.Source) {
		return s.putLog(eb.Tx(), e, seq)
	}
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

// expireEvents deletes events past EventRetention, and syslog lines past
// their LogBounds.MaxAge, judged on the clock as retention trusts it
// (clockhold.go).
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
	return s.expireLogs(tx, now)
}

// EventsDropped counts events not kept: over the pending buffer, over a
// device's cap, or in the bucket of a device evicted to stay under the
// device cap.
func (s *Store) EventsDropped() uint64 { return s.eventsDropped.Load() }

// Syslog lines are events too, but kept apart from traps, in bucketLogs,
// under bounds of their own (LogBounds): a chatty device's lines must not
// push its traps out, and lines come by the thousand where traps come by
// the dozen. The usage that the bounds are judged on is kept in
// bucketLogMeta, in the same transactions as the lines, so it is exact
// across restarts without a scan.
var (
	bucketLogs    = []byte("logs")    // device -> time+seq -> syslog line (an Event as JSON)
	bucketLogMeta = []byte("logmeta") // "bounds", "total", "d\x00"+device -> usage
)

func init() {
	registerBucket(string(bucketLogs))
	registerBucket(string(bucketLogMeta))
}

// maxLogDetail is the longest message a syslog line keeps (RFC 5425's
// 8192-octet message, as the receiver bounds it).
const maxLogDetail = 8192

// Default bounds of the syslog lines kept (LogBounds).
const (
	DefaultLogRetention   = 30 * 24 * time.Hour
	DefaultLogDeviceBytes = 16 << 20
	DefaultLogTotalBytes  = 256 << 20
	DefaultLogDevices     = 1_000
)

// LogBounds bound the syslog lines the store keeps, whatever the
// network sends: lines older than MaxAge go; a device keeps at most
// DeviceBytes of lines (its oldest go first); all devices together keep
// at most TotalBytes (the devices holding the most are cut down first,
// to a level they share, so a quiet device keeps its few lines), and at
// most Devices devices (the one heard from least recently goes). Sizes
// count the stored key and value; bbolt's pages add up to about as much
// again on disk. Zero fields take the defaults.
type LogBounds struct {
	MaxAge      time.Duration
	DeviceBytes int64
	TotalBytes  int64
	Devices     int
}

func (b LogBounds) withDefaults() LogBounds {
	if b.MaxAge <= 0 {
		b.MaxAge = DefaultLogRetention
	}
	if b.DeviceBytes <= 0 {
		b.DeviceBytes = DefaultLogDeviceBytes
	}
	if b.TotalBytes <= 0 {
		b.TotalBytes = DefaultLogTotalBytes
	}
	if b.Devices <= 0 {
		b.Devices = DefaultLogDevices
	}
	return b
}

var (
	logKeyBounds = []byte("bounds")
	logKeyTotal  = []byte("total")
)

func logUsageKey(device []byte) []byte { return append([]byte("d\x00"), device...) }

func readLogBounds(mb *bolt.Bucket) LogBounds {
	v := mb.Get(logKeyBounds)
	if len(v) != 32 {
		return LogBounds{}.withDefaults()
	}
	return LogBounds{MaxAge: time.Duration(binary.BigEndian.Uint64(v)), DeviceBytes: int64(binary.BigEndian.Uint64(v[8:])),
		TotalBytes: int64(binary.BigEndian.Uint64(v[16:])), Devices: int(binary.BigEndian.Uint64(v[24:]))}.withDefaults()
}

func encodeLogBounds(b LogBounds) []byte {
	v := make([]byte, 32)
	binary.BigEndian.PutUint64(v, uint64(b.MaxAge))
	binary.BigEndian.PutUint64(v[8:], uint64(b.DeviceBytes))
	binary.BigEndian.PutUint64(v[16:], uint64(b.TotalBytes))
	binary.BigEndian.PutUint64(v[24:], uint64(b.Devices))
	return v
}

// logTotal is the usage of all devices, and what the bounds removed.
type logTotal struct {
	lines, bytes, evicted, expired uint64
}

func readLogTotal(mb *bolt.Bucket) logTotal {
	v := mb.Get(logKeyTotal)
	if len(v) != 32 {
		return logTotal{}
	}
	return logTotal{binary.BigEndian.Uint64(v), binary.BigEndian.Uint64(v[8:]), binary.BigEndian.Uint64(v[16:]), binary.BigEndian.Uint64(v[24:])}
}

func writeLogTotal(mb *bolt.Bucket, t logTotal) error {
	v := make([]byte, 32)
	binary.BigEndian.PutUint64(v, t.lines)
	binary.BigEndian.PutUint64(v[8:], t.bytes)
	binary.BigEndian.PutUint64(v[16:], t.evicted)
	binary.BigEndian.PutUint64(v[24:], t.expired)
	return mb.Put(logKeyTotal, v)
}

// logUsage is one device's lines and their bytes.
type logUsage struct{ lines, bytes uint64 }

func readLogUsage(mb *bolt.Bucket, device []byte) logUsage {
	v := mb.Get(logUsageKey(device))
	if len(v) != 16 {
		return logUsage{}
	}
	return logUsage{binary.BigEndian.Uint64(v), binary.BigEndian.Uint64(v[8:])}
}

func writeLogUsage(mb *bolt.Bucket, device []byte, u logUsage) error {
	if u.lines == 0 {
		return mb.Delete(logUsageKey(device))
	}
	v := make([]byte, 16)
	binary.BigEndian.PutUint64(v, u.lines)
	binary.BigEndian.PutUint64(v[8:], u.bytes)
	return mb.Put(logUsageKey(device), v)
}

// SetLogBounds sets the bounds the syslog lines are kept within (zero
// fields: the defaults). They are kept in the file, and apply from the
// next commit: lines over a lowered bound go then, or at the next
// maintenance for MaxAge.
func (s *Store) SetLogBounds(b LogBounds) error {
	b = b.withDefaults()
	v := encodeLogBounds(b)
	same := false
	if err := s.db.View(func(tx *bolt.Tx) error { same = bytes.Equal(tx.Bucket(bucketLogMeta).Get(logKeyBounds), v); return nil }); err != nil {
		return err
	}
	if same {
		return nil // no commit (two fsyncs) for a config that did not change them
	}
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketLogMeta).Put(logKeyBounds, v) })
}

// LogUsage is what the store keeps of syslog lines, under which bounds.
type LogUsage struct {
	Bounds  LogBounds `json:"bounds"`
	Devices int       `json:"devices"`
	Lines   uint64    `json:"lines"`
	Bytes   uint64    `json:"bytes"`
	// Evicted lines went to keep a device, all devices or the number of
	// devices within the bounds; Expired ones were older than MaxAge.
	Evicted uint64 `json:"evicted"`
	Expired uint64 `json:"expired"`
}

// LogUsage reads the syslog lines' usage and bounds.
func (s *Store) LogUsage() (LogUsage, error) {
	var u LogUsage
	err := s.db.View(func(tx *bolt.Tx) error {
		mb := tx.Bucket(bucketLogMeta)
		u.Bounds = readLogBounds(mb)
		t := readLogTotal(mb)
		u.Lines, u.Bytes, u.Evicted, u.Expired = t.lines, t.bytes, t.evicted, t.expired
		return tx.Bucket(bucketLogs).ForEachBucket(func([]byte) error { u.Devices++; return nil })
	})
	return u, err
}

// putLog stores one syslog line and keeps the lines within the bounds.
func (s *Store) putLog(tx *bolt.Tx, e checks.Event, seq uint32) error {
	lb, mb := tx.Bucket(bucketLogs), tx.Bucket(bucketLogMeta)
	bd := readLogBounds(mb)
	tot := readLogTotal(mb)
	name := []byte(e.Device)
	if len(name) == 0 {
		name = []byte("-") // bbolt has no empty bucket names
	}
	b := lb.Bucket(name)
	if b == nil {
		if err := evictLogDevices(lb, mb, &tot, bd.Devices-1); err != nil {
			return err
		}
		var err error
		if b, err = lb.CreateBucket(name); err != nil {
			return err
		}
	}
	b.FillPercent = 0.95
	k := seqKey(e.Time, seq)
	v, _ := json.Marshal(e)
	if err := b.Put(k, v); err != nil {
		return err
	}
	u := readLogUsage(mb, name)
	size := uint64(len(k) + len(v))
	u.lines, u.bytes = u.lines+1, u.bytes+size
	tot.lines, tot.bytes = tot.lines+1, tot.bytes+size
	// The line just stored stays, however long: lines are bounded
	// before they get here (maxLogDetail), and DeviceBytes may be small.
	n, err := trimLogDevice(b, &u, uint64(bd.DeviceBytes), 1)
	if err != nil {
		return err
	}
	tot.lines, tot.bytes, tot.evicted = tot.lines-n.lines, tot.bytes-n.bytes, tot.evicted+n.lines
	if err := writeLogUsage(mb, name, u); err != nil {
		return err
	}
	if tot.bytes > uint64(bd.TotalBytes) {
		// Down to 15/16 of the bound, so that a store at its bound
		// evicts once per 1/16 written, not on every line.
		if err := evictLogBytes(lb, mb, &tot, uint64(bd.TotalBytes-bd.TotalBytes/16)); err != nil {
			return err
		}
	}
	return writeLogTotal(mb, tot)
}

// trimLogDevice deletes a device's oldest lines until it holds at most
// limit bytes, keeping at least keep lines whatever their size; it
// returns what it deleted and updates u.
func trimLogDevice(b *bolt.Bucket, u *logUsage, limit, keep uint64) (logUsage, error) {
	var gone logUsage
	c := b.Cursor()
	for k, v := c.First(); k != nil && u.bytes > limit && u.lines > keep; k, v = c.First() {
		size := uint64(len(k) + len(v))
		if err := b.Delete(k); err != nil {
			return gone, err
		}
		u.lines, u.bytes = u.lines-1, u.bytes-min(size, u.bytes)
		gone.lines, gone.bytes = gone.lines+1, gone.bytes+size
	}
	return gone, nil
}

// evictLogBytes cuts the devices that hold the most down to one level,
// oldest lines first, until all hold at most target bytes.
func evictLogBytes(lb, mb *bolt.Bucket, tot *logTotal, target uint64) error {
	type dev struct {
		name  []byte
		usage logUsage
	}
	var devs []dev
	prefix := logUsageKey(nil)
	c := mb.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if len(v) == 16 {
			devs = append(devs, dev{append([]byte(nil), k[len(prefix):]...), logUsage{binary.BigEndian.Uint64(v), binary.BigEndian.Uint64(v[8:])}})
		}
	}
	sort.Slice(devs, func(i, j int) bool { return devs[i].usage.bytes > devs[j].usage.bytes })
	var sum uint64
	for _, d := range devs {
		sum += d.usage.bytes
	}
	if sum <= target {
		return nil
	}
	excess := sum - target
	// The level L: trimming the k largest devices to L frees the excess.
	level, k, top := uint64(0), len(devs), uint64(0)
	for i := range devs {
		top += devs[i].usage.bytes
		next := uint64(0)
		if i+1 < len(devs) {
			next = devs[i+1].usage.bytes
		}
		if top-uint64(i+1)*next >= excess {
			k, level = i+1, (top-excess)/uint64(i+1)
			break
		}
	}
	for _, d := range devs[:k] {
		b := lb.Bucket(d.name)
		if b == nil {
			if err := mb.Delete(logUsageKey(d.name)); err != nil {
				return err
			}
			continue
		}
		u := d.usage
		gone, err := trimLogDevice(b, &u, level, 0)
		if err != nil {
			return err
		}
		tot.lines, tot.bytes, tot.evicted = tot.lines-min(gone.lines, tot.lines), tot.bytes-min(gone.bytes, tot.bytes), tot.evicted+gone.lines
		if u.lines == 0 {
			if err := lb.DeleteBucket(d.name); err != nil {
				return err
			}
		}
		if err := writeLogUsage(mb, d.name, u); err != nil {
			return err
		}
	}
	return nil
}

// evictLogDevices deletes the lines of the devices heard from least
// recently until at most keep devices remain.
func evictLogDevices(lb, mb *bolt.Bucket, tot *logTotal, keep int) error {
	type dev struct{ name, last []byte }
	var devs []dev
	if err := lb.ForEachBucket(func(k []byte) error {
		last, _ := lb.Bucket(k).Cursor().Last()
		devs = append(devs, dev{append([]byte(nil), k...), append([]byte(nil), last...)})
		return nil
	}); err != nil {
		return err
	}
	if len(devs) <= keep {
		return nil
	}
	sort.Slice(devs, func(i, j int) bool { return bytes.Compare(devs[i].last, devs[j].last) < 0 })
	for _, d := range devs[:len(devs)-max(keep, 0)] {
		u := readLogUsage(mb, d.name)
		if err := lb.DeleteBucket(d.name); err != nil {
			return err
		}
		if err := mb.Delete(logUsageKey(d.name)); err != nil {
			return err
		}
		tot.lines, tot.bytes, tot.evicted = tot.lines-min(u.lines, tot.lines), tot.bytes-min(u.bytes, tot.bytes), tot.evicted+u.lines
	}
	return nil
}

// expireLogs deletes syslog lines past their MaxAge, judged on the clock
// as retention trusts it (clockhold.go).
func (s *Store) expireLogs(tx *bolt.Tx, now time.Time) error {
	lb, mb := tx.Bucket(bucketLogs), tx.Bucket(bucketLogMeta)
	bd := readLogBounds(mb)
	tot := readLogTotal(mb)
	cutKey := timeKey(s.heldNow(now, bd.MaxAge).Add(-bd.MaxAge))
	var empty [][]byte
	changed := false
	err := lb.ForEachBucket(func(name []byte) error {
		b := lb.Bucket(name)
		c := b.Cursor()
		u := readLogUsage(mb, name)
		n := 0
		for k, v := c.First(); k != nil && bytes.Compare(k[:min(len(k), 8)], cutKey) < 0; k, v = c.First() {
			size := uint64(len(k) + len(v))
			if err := b.Delete(k); err != nil {
				return err
			}
			u.lines, u.bytes = u.lines-min(1, u.lines), u.bytes-min(size, u.bytes)
			tot.lines, tot.bytes, tot.expired = tot.lines-min(1, tot.lines), tot.bytes-min(size, tot.bytes), tot.expired+1
			n++
		}
		if k, _ := c.First(); k == nil {
			empty = append(empty, append([]byte(nil), name...))
			u = logUsage{}
		}
		if n > 0 {
			changed = true
			return writeLogUsage(mb, name, u)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, name := range empty {
		if err := lb.DeleteBucket(name); err != nil {
			return err
		}
		if err := mb.Delete(logUsageKey(name)); err != nil {
			return err
		}
	}
	if !changed {
		return nil
	}
	return writeLogTotal(mb, tot)
}

var _ checks.EventReader = (*Store)(nil)

// evStream is one series ScanEvents merges: a device's bucket (its
// cursor at the current entry), or the events waiting for a commit.
type evStream struct {
	c      *bolt.Cursor
	k, v   []byte
	pend   []checks.Event
	pi     int
	filter bool // an events-bucket series: keep only q.Source
	order  int  // ties between series break on it
}

// evHeap orders streams by their current key: ascending, or descending
// for a newest-first scan.
type evHeap struct {
	s      []*evStream
	newest bool
}

func (h *evHeap) Len() int { return len(h.s) }
func (h *evHeap) Less(i, j int) bool {
	c := bytes.Compare(h.s[i].k, h.s[j].k)
	if c == 0 {
		c = h.s[i].order - h.s[j].order
		if h.newest {
			c = -c
		}
	}
	if h.newest {
		return c > 0
	}
	return c < 0
}
func (h *evHeap) Swap(i, j int) { h.s[i], h.s[j] = h.s[j], h.s[i] }
func (h *evHeap) Push(x any)    { h.s = append(h.s, x.(*evStream)) }
func (h *evHeap) Pop() any {
	x := h.s[len(h.s)-1]
	h.s = h.s[:len(h.s)-1]
	return x
}

// pendingKey sorts an event waiting for a commit after the stored
// events of its millisecond.
func pendingKey(e checks.Event) []byte { return seqKey(e.Time, ^uint32(0)) }

// ScanEvents calls fn with the events (traps and other events, syslog
// lines) q selects, every device's merged in time order, until fn returns
// false. It reads one bbolt read transaction and the events pending at
// its start, taken while no commit runs, so an event is seen once: keep
// fn quick (a long read transaction delays a commit that must grow the
// file). Memory is one cursor per device read, plus the pending events q
// selects (at most maxPendingEvents).
func (s *Store) ScanEvents(q checks.EventQuery, fn func(checks.Event) bool) error {
	wantDevice := map[string]bool{}
	devOK := func(name string) bool {
		ok, seen := wantDevice[name]
		if !seen {
			ok = (len(q.Devices) == 0 || contains(q.Devices, name)) && (q.Device == nil || q.Device(name))
			wantDevice[name] = ok
		}
		return ok
	}
	inTime := func(t time.Time) bool { return !t.Before(q.From) && (q.To.IsZero() || !t.After(q.To)) }
	s.flushMu.Lock()
	tx, err := s.db.Begin(false)
	var pend []checks.Event
	if err == nil {
		s.mu.Lock()
		for _, e := range s.events {
			if (q.Source == "" || e.Source == q.Source) && inTime(e.Time) {
				pend = append(pend, e)
			}
		}
		s.mu.Unlock()
	}
	s.flushMu.Unlock()
	if err != nil {
		return err
	}
	defer tx.Rollback()

	lo := make([]byte, 8) // a zero From (or one before 1970) is no lower bound
	if q.From.UnixMilli() > 0 {
		lo = timeKey(q.From)
	}
	hi := []byte(nil) // nil: no upper bound
	if !q.To.IsZero() {
		hi = seqKey(q.To, ^uint32(0))
	}
	h := &evHeap{newest: q.Newest}
	// first positions a stream on its first entry in range and reports
	// whether there is one.
	first := func(st *evStream) bool {
		c := st.c
		if !q.Newest {
			st.k, st.v = c.Seek(lo)
		} else {
			if hi == nil {
				st.k, st.v = c.Last()
			} else if st.k, st.v = c.Seek(hi); st.k == nil {
				st.k, st.v = c.Last()
			} else if bytes.Compare(st.k, hi) > 0 {
				st.k, st.v = c.Prev()
			}
		}
		return inRange(st.k, lo, hi)
	}
	addBucket := func(top []byte, filter bool) error {
		pb := tx.Bucket(top)
		add := func(name []byte) {
			b := pb.Bucket(name)
			if b == nil {
				return
			}
			st := &evStream{c: b.Cursor(), filter: filter, order: len(h.s)}
			if first(st) {
				h.s = append(h.s, st)
			}
		}
		if len(q.Devices) > 0 {
			seen := map[string]bool{}
			for _, d := range q.Devices {
				if !seen[d] && devOK(d) {
					add([]byte(d))
				}
				seen[d] = true
			}
			return nil
		}
		return pb.ForEachBucket(func(name []byte) error {
			if devOK(string(name)) {
				add(name)
			}
			return nil
		})
	}
	if !checks.LineSource(q.Source) {
		if err := addBucket(bucketEvents, q.Source != ""); err != nil {
			return err
		}
	}
	if q.Source == "" || checks.LineSource(q.Source) {
		// The box's journal entries are kept with syslog lines.
		if err := addBucket(bucketLogs, q.Source != ""); err != nil {
			return err
		}
	}
	kept := pend[:0]
	for _, e := range pend {
		if devOK(e.Device) {
			kept = append(kept, e)
		}
	}
	if len(kept) > 0 {
		sort.SliceStable(kept, func(i, j int) bool {
			if q.Newest {
				return kept[i].Time.After(kept[j].Time)
			}
			return kept[i].Time.Before(kept[j].Time)
		})
		h.s = append(h.s, &evStream{pend: kept, k: pendingKey(kept[0]), order: len(h.s)})
	}
	heap.Init(h)
	for h.Len() > 0 {
		st := h.s[0]
		var e checks.Event
		keep := true
		if st.pend != nil {
			e = st.pend[st.pi]
			st.pi++
			if st.pi < len(st.pend) {
				st.k = pendingKey(st.pend[st.pi])
			} else {
				st.k = nil
			}
		} else {
			if err := json.Unmarshal(st.v, &e); err != nil {
				return fmt.Errorf("event at %s: %w", keyTime(st.k).UTC().Format(time.RFC3339Nano), err)
			}
			keep = !st.filter || e.Source == q.Source
			if q.Newest {
				st.k, st.v = st.c.Prev()
			} else {
				st.k, st.v = st.c.Next()
			}
			if !inRange(st.k, lo, hi) {
				st.k = nil
			}
		}
		if st.k == nil {
			heap.Pop(h)
		} else {
			heap.Fix(h, 0)
		}
		if keep && !fn(e) {
			return nil
		}
	}
	return nil
}

// inRange reports whether k is an entry key within [lo, hi] (hi nil: no
// bound).
func inRange(k, lo, hi []byte) bool {
	return k != nil && bytes.Compare(k, lo) >= 0 && (hi == nil || bytes.Compare(k, hi) <= 0)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
