// Package store is Outpost's only state: one bbolt file holding check
// results packed into compact blocks, rollups, status changes, events and
// config versions, written in batches of at most one commit per flush
// interval (each commit is two fsyncs on the box's SD card).
package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"outpost/checks"
	"outpost/checks/clock"
)

// Top-level buckets. Other files of this package add theirs with
// registerBucket in an init function; Open creates them all.
var (
	bucketResults = []byte("results") // check id -> block start -> block
	bucketChanges = []byte("changes") // check id -> time+seq -> change
	bucketR5m     = []byte("r5m")     // check id -> day -> 5-minute rollups
	bucketR1h     = []byte("r1h")     // check id -> day -> hourly rollups
	bucketEvents  = []byte("events")  // device -> time+seq -> event
	bucketConfig  = []byte("config")  // version -> ConfigVersion
	bucketMeta    = []byte("meta")    // check id -> rolled-up-until day

	buckets = [][]byte{bucketResults, bucketChanges, bucketR5m, bucketR1h, bucketEvents, bucketConfig, bucketMeta}
)

func registerBucket(name string) { buckets = append(buckets, []byte(name)) }

// Options configure a Store.
type Options struct {
	Clock             clock.Clock
	RawRetention      time.Duration // default 48h; at least 26h so a whole day is rolled up first
	Rollup5mRetention time.Duration // default 35d
	Rollup1hRetention time.Duration // default 400d
	FlushInterval     time.Duration // default 1s
	OpenTimeout       time.Duration // default 2s
	// MaintainEvery is how often Run looks for rollup and retention work
	// (default 1m). The work itself rides along in the flush commits, a
	// few checks per commit, so it never adds commits of its own.
	MaintainEvery time.Duration
	// Events (traps, log lines) are bounded: kept EventRetention (default
	// 35d), at most EventsPerDevice per device (default 10,000, oldest
	// go first) and EventDevices devices (default 1,000: the device heard
	// from least recently goes), whatever the network sends.
	EventRetention  time.Duration
	EventsPerDevice int
	EventDevices    int
	// MaxPending bounds the results kept in memory while commits fail (a
	// full or failing disk): beyond it the oldest pending result of the
	// check goes (default 200,000, about 20 MB). The latest result of
	// every check is always kept, for the UI.
	MaxPending int
	// Log receives commit and maintenance errors, with time and level
	// (default slog.Default()).
	Log *slog.Logger
}

// Store is an open outpost.db.
type Store struct {
	db   *bolt.DB
	o    Options
	path string

	mu      sync.Mutex
	sealer  Sealer
	pending map[string][]checks.Result
	npend   int
	events  []checks.Event
	latest  map[string]checks.Result
	enc     map[string]*encState // open block per check
	ch      clockHolds           // forward clock steps retention holds back
	// blobKey seals secret blobs (blobkey.go).
	blobMu  sync.Mutex
	blobKey []byte
	// evCount counts events per device bucket (filled lazily; commits
	// only, which bbolt serialises).
	evCount       map[string]int
	eventsDropped atomic.Uint64
	// dropped counts results not kept over MaxPending; lastErr and full
	// say why the last commit failed (full: the disk is).
	dropped atomic.Uint64
	lastErr string
	full    bool
	seq     uint32
	// maint holds check ids with rollup or retention work found by the
	// last maintenance scan, done maintPerCommit at a time by Run.
	maint []string

	commits    atomic.Uint64
	written    atomic.Uint64
	lastCommit atomic.Int64
	// lastCommitMono is lastCommit on the monotonic clock, for "how long
	// since", which a wall clock step must not change.
	lastCommitMono atomic.Int64
	commitDur      atomic.Int64
	flushMu        sync.Mutex
}

// Open opens (creating if needed) the database at path. A second process
// on the same file fails after OpenTimeout with a clear error.
func Open(path string, o Options) (*Store, error) {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.RawRetention == 0 {
		o.RawRetention = 48 * time.Hour
	}
	if o.RawRetention < 26*time.Hour {
		o.RawRetention = 26 * time.Hour
	}
	if o.Rollup5mRetention == 0 {
		o.Rollup5mRetention = 35 * 24 * time.Hour
	}
	if o.Rollup1hRetention == 0 {
		o.Rollup1hRetention = 400 * 24 * time.Hour
	}
	if o.FlushInterval == 0 {
		o.FlushInterval = time.Second
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.OpenTimeout == 0 {
		o.OpenTimeout = 2 * time.Second
	}
	if o.MaintainEvery == 0 {
		o.MaintainEvery = time.Minute
	}
	if o.EventRetention <= 0 {
		o.EventRetention = DefaultEventRetention
	}
	if o.EventsPerDevice <= 0 {
		o.EventsPerDevice = DefaultEventsPerDevice
	}
	if o.EventDevices <= 0 {
		o.EventDevices = DefaultEventDevices
	}
	if o.MaxPending <= 0 {
		o.MaxPending = 200_000
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("opening store: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:        o.OpenTimeout,
		NoFreelistSync: true, // the freelist is rebuilt on open; saves a write per commit
		FreelistType:   bolt.FreelistMapType,
	})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("opening store %s: database is locked by another outpost process", path)
	}
	if err != nil {
		return nil, fmt.Errorf("opening store %s: %w", path, err)
	}
	s := &Store{db: db, o: o, path: path, pending: map[string][]checks.Result{}, latest: map[string]checks.Result{}, enc: map[string]*encState{}, evCount: map[string]int{}}
	if err := db.Update(func(tx *bolt.Tx) error {
		for _, b := range buckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening store %s: %w", path, err)
	}
	if err := s.loadLatest(); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening store %s: %w", path, err)
	}
	if err := s.loadClockHolds(); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening store %s: %w", path, err)
	}
	return s, nil
}

// loadLatest reads each check's newest result and its open block's
// encoder state, so appending and change detection go on after a restart.
func (s *Store) loadLatest() error {
	return s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketResults).ForEachBucket(func(id []byte) error {
			b := tx.Bucket(bucketResults).Bucket(id)
			k, v := b.Cursor().Last()
			if k == nil {
				return nil
			}
			var last checks.Result
			st, err := decodeBlock(keyTime(k), v, func(r checks.Result) bool { last = r; return true })
			if err != nil {
				return fmt.Errorf("check %s block %s: %w", id, keyTime(k).UTC().Format(time.RFC3339), err)
			}
			s.latest[string(id)] = last
			s.enc[string(id)] = &st
			return nil
		})
	})
}

// DB is the underlying bbolt handle, for the store's own extension files.
func (s *Store) DB() *bolt.DB { return s.db }

// Close flushes pending writes and closes the file.
func (s *Store) Close() error {
	ferr := s.Flush()
	if err := s.db.Close(); err != nil {
		return err
	}
	return ferr
}

// Append buffers a result; it is committed at the next flush. It never
// waits for the disk.
func (s *Store) Append(checkID string, r checks.Result) {
	s.mu.Lock()
	s.pending[checkID] = append(s.pending[checkID], r)
	s.npend++
	if s.npend > s.o.MaxPending {
		s.trimPendingLocked()
	}
	s.mu.Unlock()
}

// trimPendingLocked drops the oldest pending results of the checks with
// the most pending until MaxPending holds, keeping each check's newest.
func (s *Store) trimPendingLocked() {
	for s.npend > s.o.MaxPending {
		longest, n := "", 1
		for id, rs := range s.pending {
			if len(rs) > n {
				longest, n = id, len(rs)
			}
		}
		if longest == "" {
			return // one result per check left: the bound yields
		}
		drop := min(n-1, s.npend-s.o.MaxPending)
		s.pending[longest] = s.pending[longest][drop:]
		s.npend -= drop
		s.dropped.Add(uint64(drop))
	}
}

// AppendEvent buffers an event for its device, cut to the sizes the
// store keeps; beyond maxPendingEvents waiting for a commit it is
// dropped and counted (EventsDropped).
func (s *Store) AppendEvent(e checks.Event) {
	e = boundEvent(e)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.events) >= maxPendingEvents {
		s.eventsDropped.Add(1)
		return
	}
	s.events = append(s.events, e)
	s.npend++
}

// Change is a status change of a check.
type Change struct {
	Time   time.Time     `json:"time"`
	From   checks.Status `json:"from"`
	To     checks.Status `json:"to"`
	Detail string        `json:"detail"`
}

// changeFormat starts a binary change value: the format byte, from, to,
// then the detail. The time is the key's. Values from before it are JSON
// and start with '{'.
const changeFormat = 1

func encodeChange(c Change) []byte {
	d := c.Detail
	if len(d) > maxDetail {
		d = d[:maxDetail]
	}
	v := make([]byte, 0, 3+len(d))
	return append(append(v, changeFormat, byte(c.From), byte(c.To)), d...)
}

func decodeChange(k, v []byte, c *Change) error {
	if len(v) > 0 && v[0] == '{' {
		return json.Unmarshal(v, c)
	}
	if len(v) < 3 || v[0] != changeFormat {
		return fmt.Errorf("status change at %s: %w", keyTime(k).UTC().Format(time.RFC3339Nano), errCorrupt)
	}
	*c = Change{Time: keyTime(k), From: checks.Status(v[1]), To: checks.Status(v[2]), Detail: string(v[3:])}
	return nil
}

// Flush commits everything pending: one transaction, or a few of at
// most maxCommitResults results each after a backlog.
func (s *Store) Flush() error {
	for {
		more, err := s.commitChunk(nil)
		if err != nil || !more {
			return err
		}
	}
}

// maxCommitResults bounds the results one commit carries, so that a
// backlog (after the disk was full) is written in commits that fit in
// the space freed, and memory for one transaction stays small.
const maxCommitResults = 20_000

// commit writes one chunk; see commitChunk.
func (s *Store) commit(maint []string) error {
	_, err := s.commitChunk(maint)
	return err
}

// takeChunkLocked moves at most maxCommitResults pending results (whole
// checks in id order, the last one split) and every pending event out of
// the buffers, and reports whether results remain.
func (s *Store) takeChunkLocked() (map[string][]checks.Result, []checks.Event, bool) {
	events := s.events
	s.events = nil
	s.npend -= len(events)
	if s.npend <= maxCommitResults {
		pending := s.pending
		s.pending, s.npend = map[string][]checks.Result{}, 0
		return pending, events, false
	}
	ids := make([]string, 0, len(s.pending))
	for id := range s.pending {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	chunk, n := map[string][]checks.Result{}, 0
	for _, id := range ids {
		rs := s.pending[id]
		k := min(len(rs), maxCommitResults-n)
		chunk[id] = rs[:k:k]
		if k == len(rs) {
			delete(s.pending, id)
		} else {
			s.pending[id] = rs[k:]
		}
		n += k
		if n == maxCommitResults {
			break
		}
	}
	s.npend -= n
	return chunk, events, s.npend > 0
}

// maintPerCommit bounds how many checks' rollup and retention work one
// flush commit carries, so a commit stays short at midnight too.
const maintPerCommit = 100

// commitChunk writes pending results (at most maxCommitResults), changes
// and events, and the maintenance of the checks in maint, in one
// transaction: one commit, two fsyncs. more says results remain.
func (s *Store) commitChunk(maint []string) (more bool, err error) {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	s.mu.Lock()
	if len(s.pending) == 0 && len(s.events) == 0 && len(maint) == 0 {
		s.mu.Unlock()
		return false, nil
	}
	pending, events, more := s.takeChunkLocked()
	// Work out status changes against the latest known results, and
	// move "latest" on, under the same lock that Latest reads with. The
	// previous values are kept to undo this if the commit fails.
	type chg struct {
		id string
		c  Change
	}
	var changes []chg
	type prevLatest struct {
		r   checks.Result
		had bool
	}
	undo := make(map[string]prevLatest, len(pending))
	n := 0
	for id, rs := range pending {
		prev, had := s.latest[id]
		undo[id] = prevLatest{prev, had}
		for _, r := range rs {
			if !had || r.Status != prev.Status {
				from := checks.Unknown
				if had {
					from = prev.Status
				}
				// The first result ever counts as a change from unknown,
				// so "since when" always has an answer.
				changes = append(changes, chg{id, Change{Time: r.Time, From: from, To: r.Status, Detail: r.Detail}})
			}
			prev, had = r, true
			n++
		}
		s.latest[id] = prev
	}
	seq := s.seq
	s.seq += uint32(len(changes) + len(events))
	s.mu.Unlock()

	now := s.o.Clock.Now()
	if len(maint) > 0 {
		now = s.observeClock()
	}
	start := time.Now()
	err = s.db.Update(func(tx *bolt.Tx) error {
		res := tx.Bucket(bucketResults)
		ids := make([]string, 0, len(pending))
		for id := range pending {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			if err := s.appendResults(res, id, pending[id]); err != nil {
				return fmt.Errorf("check %s: %w", id, err)
			}
		}
		cb := tx.Bucket(bucketChanges)
		for _, c := range changes {
			b, err := cb.CreateBucketIfNotExists([]byte(c.id))
			if err != nil {
				return err
			}
			b.FillPercent = 0.95 // keys only grow: pack pages full
			v := encodeChange(c.c)
			seq++
			if err := b.Put(seqKey(c.c.Time, seq), v); err != nil {
				return err
			}
		}
		eb := tx.Bucket(bucketEvents)
		for _, e := range events {
			seq++
			if err := s.putEvent(eb, e, seq); err != nil {
				return err
			}
		}
		if len(maint) > 0 {
			if err := s.expireEvents(tx, now); err != nil {
				return err
			}
		}
		for _, id := range maint {
			if err := s.maintainCheck(tx, id, now); err != nil {
				return fmt.Errorf("maintaining %s: %w", id, err)
			}
		}
		return s.saveClockHolds(tx)
	})
	if err != nil {
		// Put everything back so the next flush retries it; the encoder
		// state of the failed transaction is dropped with it.
		s.mu.Lock()
		for id, rs := range pending {
			s.pending[id] = append(rs, s.pending[id]...)
			s.npend += len(rs)
			delete(s.enc, id)
			if u := undo[id]; u.had {
				s.latest[id] = u.r
			} else {
				delete(s.latest, id)
			}
		}
		s.events = append(events, s.events...)
		s.npend += len(events)
		if extra := len(s.events) - maxPendingEvents; extra > 0 {
			s.events = s.events[extra:]
			s.npend -= extra
			s.eventsDropped.Add(uint64(extra))
		}
		s.trimPendingLocked()
		s.maint = append(maint, s.maint...)
		s.lastErr = err.Error()
		s.full = errors.Is(err, syscall.ENOSPC)
		s.mu.Unlock()
		s.reloadEnc(pending)
		return false, fmt.Errorf("store flush: %w", err)
	}
	s.mu.Lock()
	s.lastErr, s.full = "", false
	s.mu.Unlock()
	s.commits.Add(1)
	s.written.Add(uint64(n))
	s.lastCommit.Store(now.UnixNano())
	s.lastCommitMono.Store(int64(s.o.Clock.Mono()))
	s.commitDur.Store(int64(time.Since(start)))
	return more, nil
}

// reloadEnc re-reads encoder state from disk after a failed commit.
func (s *Store) reloadEnc(ids map[string][]checks.Result) {
	s.db.View(func(tx *bolt.Tx) error {
		for id := range ids {
			b := tx.Bucket(bucketResults).Bucket([]byte(id))
			if b == nil {
				continue
			}
			if k, v := b.Cursor().Last(); k != nil {
				st, err := decodeBlock(keyTime(k), v, nil)
				if err == nil {
					s.mu.Lock()
					s.enc[id] = &st
					s.mu.Unlock()
				}
			}
		}
		return nil
	})
}

// appendResults adds rs to the check's open block, opening new blocks
// when one is full or spans too long.
func (s *Store) appendResults(res *bolt.Bucket, id string, rs []checks.Result) error {
	b, err := res.CreateBucketIfNotExists([]byte(id))
	if err != nil {
		return err
	}
	b.FillPercent = 0.95 // blocks are appended in time order: pack pages full
	s.mu.Lock()
	st := s.enc[id]
	s.mu.Unlock()
	var buf []byte
	if st != nil {
		buf = append(buf, b.Get(timeKey(st.key))...)
	}
	for _, r := range rs {
		t := r.Time.Truncate(time.Millisecond)
		if st != nil && t.Sub(st.key) < blockMaxSpan {
			saved := *st
			if nb := appendRecord(buf, st, r); len(nb) <= blockMaxBytes {
				buf = nb
				continue
			}
			*st = saved // does not fit in this block's page: start a new one
		}
		if st != nil && len(buf) > 0 {
			if err := b.Put(timeKey(st.key), buf); err != nil {
				return err
			}
		}
		key := t
		if st != nil && !key.After(st.last) {
			key = st.last.Add(time.Millisecond)
		}
		st = &encState{key: key, last: key}
		buf = appendRecord(nil, st, r)
	}
	s.mu.Lock()
	s.enc[id] = st
	s.mu.Unlock()
	return b.Put(timeKey(st.key), buf)
}

// Run commits every FlushInterval and looks for rollup and retention
// work every MaintainEvery, until ctx ends; then it flushes a last time.
// Maintenance is done inside the flush commits (maintPerCommit checks
// each), so Run never commits more than once per FlushInterval.
//
// A flush cycle is FlushInterval long including its commit: the wait
// after a commit is the interval less what the commit took (at least
// half the interval). So a result appended just after one commit took
// its chunk is on disk about FlushInterval later, not FlushInterval
// plus a commit's two fsyncs: a kill loses at most the last interval.
func (s *Store) Run(ctx context.Context) error {
	flush := s.o.Clock.NewTimer(s.o.FlushInterval)
	// The first scan comes soon after start, so a box that was off over
	// midnight rolls up without waiting a whole MaintainEvery.
	maint := s.o.Clock.NewTimer(min(5*time.Second, s.o.MaintainEvery))
	defer flush.Stop()
	defer maint.Stop()
	var lastErr string
	for {
		select {
		case <-ctx.Done():
			return s.Flush()
		case <-flush.C():
			s.mu.Lock()
			n := min(len(s.maint), maintPerCommit)
			batch := s.maint[:n:n]
			s.maint = s.maint[n:]
			s.mu.Unlock()
			start := s.o.Clock.Mono()
			more, err := s.commitChunk(batch)
			took := s.o.Clock.Mono() - start
			// Kept pending (up to MaxPending) and retried at the next
			// tick; Stats says why, for health and incidents. The log
			// says so when it starts, changes and ends, not every tick.
			switch {
			case err != nil && err.Error() != lastErr:
				s.o.Log.Error("store commit failed: results wait in memory", "err", err, "pending", s.Stats().Pending)
				lastErr = err.Error()
			case err == nil && lastErr != "":
				s.o.Log.Info("store commits again", "after", lastErr)
				lastErr = ""
			}
			if more {
				flush.Reset(0) // a backlog: the next chunk at once
			} else {
				flush.Reset(nextFlush(s.o.FlushInterval, took))
			}
		case <-maint.C():
			if err := s.planMaintenance(); err != nil {
				s.o.Log.Error("store maintenance", "err", err)
			}
			maint.Reset(s.o.MaintainEvery)
		}
	}
}

// nextFlush is the wait after a commit that took took: the rest of the
// interval, and at least half of it (a slow disk gets no more commits).
func nextFlush(interval, took time.Duration) time.Duration {
	return max(interval-took, interval/2)
}

// Latest returns the newest result of a check, including unflushed ones.
func (s *Store) Latest(checkID string) (checks.Result, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rs := s.pending[checkID]; len(rs) > 0 {
		return rs[len(rs)-1], true
	}
	r, ok := s.latest[checkID]
	return r, ok
}

// Results returns a check's raw results in [from, to], in time order,
// including not yet flushed ones. Failing results keep their exact
// detail; an ok result's detail is the text as of its last change in
// substance (the numbers in it are not kept for every run: Value and
// Latency are).
func (s *Store) Results(checkID string, from, to time.Time) ([]checks.Result, error) {
	var out []checks.Result
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketResults).Bucket([]byte(checkID))
		if b == nil {
			return nil
		}
		rs, err := rawRange(b, from, to)
		if err != nil {
			return fmt.Errorf("reading %s: %w", checkID, err)
		}
		out = rs
		return nil
	})
	s.mu.Lock()
	for _, r := range s.pending[checkID] {
		if !r.Time.Before(from) && !r.Time.After(to) {
			out = append(out, r)
		}
	}
	s.mu.Unlock()
	return out, err
}

// Changes returns a check's status changes in [from, to].
func (s *Store) Changes(checkID string, from, to time.Time) ([]Change, error) {
	var out []Change
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketChanges).Bucket([]byte(checkID))
		if b == nil {
			return nil
		}
		c := b.Cursor()
		max := seqKey(to, ^uint32(0))
		for k, v := c.Seek(timeKey(from)); k != nil && bytes.Compare(k, max) <= 0; k, v = c.Next() {
			var ch Change
			if err := decodeChange(k, v, &ch); err != nil {
				return fmt.Errorf("change of %s: %w", checkID, err)
			}
			out = append(out, ch)
		}
		return nil
	})
	return out, err
}

// LastChange returns a check's most recent committed status change: "when
// did this go down" is one seek.
func (s *Store) LastChange(checkID string) (Change, bool, error) {
	var ch Change
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketChanges).Bucket([]byte(checkID))
		if b == nil {
			return nil
		}
		k, v := b.Cursor().Last()
		if v == nil {
			return nil
		}
		ok = true
		return decodeChange(k, v, &ch)
	})
	return ch, ok, err
}

// Events returns a device's trap (and other non-syslog) events in
// [from, to], committed and waiting. Syslog lines are kept apart, with
// their own bounds: ScanEvents reads every source.
func (s *Store) Events(device string, from, to time.Time) ([]checks.Event, error) {
	var out []checks.Event
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketEvents).Bucket([]byte(device))
		if b == nil {
			return nil
		}
		c := b.Cursor()
		max := seqKey(to, ^uint32(0))
		for k, v := c.Seek(timeKey(from)); k != nil && bytes.Compare(k, max) <= 0; k, v = c.Next() {
			var e checks.Event
			if err := json.Unmarshal(v, &e); err != nil {
				return err
			}
			out = append(out, e)
		}
		return nil
	})
	s.mu.Lock()
	for _, e := range s.events {
		if e.Device == device && !checks.LineSource(e.Source) && !e.Time.Before(from) && !e.Time.After(to) {
			out = append(out, e)
		}
	}
	s.mu.Unlock()
	return out, err
}

// CheckIDs lists every check with stored results.
func (s *Store) CheckIDs() ([]string, error) {
	var ids []string
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketResults).ForEachBucket(func(k []byte) error {
			ids = append(ids, string(k))
			return nil
		})
	})
	return ids, err
}

// Stats are the store's counters.
type Stats struct {
	Commits    uint64
	LastCommit time.Time
	// SinceCommit is the real time since LastCommit (0 before the first).
	SinceCommit    time.Duration
	CommitDuration time.Duration
	FileSize       int64
	Pending        int
	ResultsWritten uint64
	// Dropped counts results not kept because commits failed for so long
	// that MaxPending was reached.
	Dropped uint64
	// LastError is why the last commit failed ("" when it succeeded);
	// Full says the disk was full.
	LastError string
	Full      bool
}

// Stats returns the current counters.
func (s *Store) Stats() Stats {
	st := Stats{Commits: s.commits.Load(), ResultsWritten: s.written.Load(), CommitDuration: time.Duration(s.commitDur.Load())}
	if ns := s.lastCommit.Load(); ns != 0 {
		st.LastCommit = time.Unix(0, ns)
		st.SinceCommit = s.o.Clock.Mono() - time.Duration(s.lastCommitMono.Load())
	}
	if fi, err := os.Stat(s.path); err == nil {
		st.FileSize = fi.Size()
	}
	s.mu.Lock()
	st.Pending = s.npend
	st.Dropped, st.LastError, st.Full = s.dropped.Load(), s.lastErr, s.full
	s.mu.Unlock()
	return st
}
