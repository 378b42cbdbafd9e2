package hq

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"outpost/appliance/phonehome/wire"
	"outpost/checks/clock"
	hqui "outpost/ui/hq"
)

// boltStore is the embedded backend: one bbolt file in the data
// directory, one instance at a time (the file lock says so).
type boltStore struct {
	db   *bolt.DB
	acks *ackLimiter
}

func openBolt(path string, clk clock.Clock) (*boltStore, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("opening %s (is another outpost hq running on it?): %w", path, err)
	}
	// Batched commits wait this long for other boxes' summaries: short,
	// so one box draining a backlog is not held up, long enough that a
	// fleet posting at once shares fsyncs.
	db.MaxBatchDelay = time.Millisecond
	if err := db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketBoxes, bucketSummaries, bucketIndex, bucketLatest, bucketCommands, bucketUsers, bucketSessions, bucketMeta, bucketDocs} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	// One instance: the acknowledgement rate limit can live in memory.
	return &boltStore{db: db, acks: newAckLimiter(clk)}, nil
}

func (s *boltStore) Name() string { return "bbolt" }
func (s *boltStore) Close() error { return s.db.Close() }

func (s *boltStore) View(fn func(Tx) error) error {
	return s.db.View(func(tx *bolt.Tx) error { return fn(boltTx{tx}) })
}

func (s *boltStore) Update(fn func(Tx) error) error {
	return s.db.Update(func(tx *bolt.Tx) error { return fn(boltTx{tx}) })
}

func (s *boltStore) Batch(fn func(Tx) error) error {
	return s.db.Batch(func(tx *bolt.Tx) error { return fn(boltTx{tx}) })
}

func (s *boltStore) AllowAck(addr string) (bool, error) { return s.acks.allow(addr), nil }

// Lead: the file lock already makes this the only instance.
func (s *boltStore) Lead(context.Context) (<-chan struct{}, func(), bool, error) {
	return make(chan struct{}), func() {}, true, nil
}

type boltTx struct{ tx *bolt.Tx }

var _ Tx = boltTx{}

func (t boltTx) Box(id string) (Box, bool, error) {
	var b Box
	v := t.tx.Bucket(bucketBoxes).Get([]byte(id))
	if v == nil {
		return b, false, nil
	}
	if err := json.Unmarshal(v, &b); err != nil {
		return b, true, fmt.Errorf("box %s: %w", id, err)
	}
	return b, true, nil
}

func (t boltTx) PutBox(b Box) error {
	v, err := json.Marshal(b)
	if err != nil {
		return err
	}
	return t.tx.Bucket(bucketBoxes).Put([]byte(b.ID), v)
}

func (t boltTx) Boxes(fn func(Box) error) error {
	return t.tx.Bucket(bucketBoxes).ForEach(func(k, v []byte) error {
		var b Box
		if err := json.Unmarshal(v, &b); err != nil {
			return fmt.Errorf("box %s: %w", k, err)
		}
		return fn(b)
	})
}

func (t boltTx) Entry(box string, seq uint64) (*entry, error) {
	ib := t.tx.Bucket(bucketIndex).Bucket([]byte(box))
	if ib == nil {
		return nil, nil
	}
	v := ib.Get(seqKey(seq))
	if v == nil {
		return nil, nil
	}
	e, err := unmarshalEntry(v)
	if err != nil {
		return &entry{}, nil
	}
	return &e, nil
}

func (t boltTx) PutSummary(box string, seq uint64, body []byte, e entry) error {
	sb, err := t.tx.Bucket(bucketSummaries).CreateBucketIfNotExists([]byte(box))
	if err != nil {
		return err
	}
	ib, err := t.tx.Bucket(bucketIndex).CreateBucketIfNotExists([]byte(box))
	if err != nil {
		return err
	}
	k := seqKey(seq)
	if ib.Get(k) != nil {
		return fmt.Errorf("box %s summary %d is stored already", box, seq)
	}
	if err := sb.Put(k, body); err != nil {
		return err
	}
	return ib.Put(k, e.marshal())
}

func (t boltTx) Oldest(box string) (uint64, entry, int, bool, bool, error) {
	ib := t.tx.Bucket(bucketIndex).Bucket([]byte(box))
	if ib == nil {
		return 0, entry{}, 0, false, false, nil
	}
	k, v := ib.Cursor().First()
	if k == nil {
		return 0, entry{}, 0, false, false, nil
	}
	size := 0
	if sb := t.tx.Bucket(bucketSummaries).Bucket([]byte(box)); sb != nil {
		size = len(sb.Get(k))
	}
	e, err := unmarshalEntry(v)
	return keySeq(k), e, size, err != nil, true, nil
}

func (t boltTx) DeleteSummary(box string, seq uint64) error {
	k := seqKey(seq)
	if ib := t.tx.Bucket(bucketIndex).Bucket([]byte(box)); ib != nil {
		if err := ib.Delete(k); err != nil {
			return err
		}
	}
	if sb := t.tx.Bucket(bucketSummaries).Bucket([]byte(box)); sb != nil {
		return sb.Delete(k)
	}
	return nil
}

func (t boltTx) Entries(box string, below uint64, n int) ([]seqEntry, error) {
	ib := t.tx.Bucket(bucketIndex).Bucket([]byte(box))
	if ib == nil || n <= 0 {
		return nil, nil
	}
	var out []seqEntry
	c := ib.Cursor()
	var k, v []byte
	if below == 0 {
		k, v = c.Last()
	} else {
		// Seek finds the first key at or after below; the one before it
		// is the newest below.
		if k, v = c.Seek(seqKey(below)); k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
	}
	for ; k != nil && len(out) < n; k, v = c.Prev() {
		if below != 0 && keySeq(k) >= below {
			continue
		}
		e, err := unmarshalEntry(v)
		if err != nil {
			continue
		}
		out = append(out, seqEntry{Seq: keySeq(k), entry: e})
	}
	return out, nil
}

func (t boltTx) Bodies(box string, above uint64, n int) ([]storedSummary, error) {
	sb := t.tx.Bucket(bucketSummaries).Bucket([]byte(box))
	if sb == nil || n <= 0 {
		return nil, nil
	}
	ib := t.tx.Bucket(bucketIndex).Bucket([]byte(box))
	var out []storedSummary
	c := sb.Cursor()
	for k, v := c.Seek(seqKey(above + 1)); k != nil && len(out) < n; k, v = c.Next() {
		ss := storedSummary{Seq: keySeq(k), Body: bytes.Clone(v)}
		if ib != nil {
			if e, err := unmarshalEntry(ib.Get(k)); err == nil {
				ss.Entry = e
			}
		}
		out = append(out, ss)
	}
	return out, nil
}

func (t boltTx) Latest(box string) (*digest, error) {
	v := t.tx.Bucket(bucketLatest).Get([]byte(box))
	if v == nil {
		return nil, nil
	}
	var d digest
	if err := json.NewDecoder(bytes.NewReader(v)).Decode(&d); err != nil {
		return nil, fmt.Errorf("box %s digest: %w", box, err)
	}
	return &d, nil
}

func (t boltTx) PutLatest(box string, d digest) error {
	v, err := json.Marshal(d)
	if err != nil {
		return err
	}
	return t.tx.Bucket(bucketLatest).Put([]byte(box), v)
}

func (t boltTx) Command(box string, id uint64) ([]byte, error) {
	cb := t.tx.Bucket(bucketCommands).Bucket([]byte(box))
	if cb == nil {
		return nil, nil
	}
	return bytes.Clone(cb.Get(seqKey(id))), nil
}

func (t boltTx) PutCommand(box string, id uint64, payload []byte) error {
	cb, err := t.tx.Bucket(bucketCommands).CreateBucketIfNotExists([]byte(box))
	if err != nil {
		return err
	}
	return cb.Put(seqKey(id), payload)
}

func (t boltTx) DeleteCommand(box string, id uint64) error {
	if cb := t.tx.Bucket(bucketCommands).Bucket([]byte(box)); cb != nil {
		return cb.Delete(seqKey(id))
	}
	return nil
}

func (t boltTx) User(name string) (hqui.User, bool, error) {
	var u hqui.User
	v := t.tx.Bucket(bucketUsers).Get([]byte(name))
	if v == nil {
		return u, false, nil
	}
	if err := json.Unmarshal(v, &u); err != nil {
		return u, true, fmt.Errorf("user %s: %w", name, err)
	}
	return u, true, nil
}

func (t boltTx) PutUser(u hqui.User) error {
	v, err := json.Marshal(u)
	if err != nil {
		return err
	}
	return t.tx.Bucket(bucketUsers).Put([]byte(u.Name), v)
}

func (t boltTx) DeleteUser(name string) error { return t.tx.Bucket(bucketUsers).Delete([]byte(name)) }

func (t boltTx) Users(fn func(hqui.User) error) error {
	return t.tx.Bucket(bucketUsers).ForEach(func(k, v []byte) error {
		var u hqui.User
		if err := json.Unmarshal(v, &u); err != nil {
			return fmt.Errorf("user %s: %w", k, err)
		}
		return fn(u)
	})
}

func (t boltTx) CountUsers() (int, error) { return t.tx.Bucket(bucketUsers).Stats().KeyN, nil }

func (t boltTx) Session(key []byte) (hqui.Session, bool, error) {
	var ss hqui.Session
	v := t.tx.Bucket(bucketSessions).Get(key)
	if v == nil {
		return ss, false, nil
	}
	return ss, true, json.Unmarshal(v, &ss)
}

func (t boltTx) PutSession(key []byte, ss hqui.Session) error {
	ss.Token = ""
	v, err := json.Marshal(ss)
	if err != nil {
		return err
	}
	return t.tx.Bucket(bucketSessions).Put(key, v)
}

func (t boltTx) DeleteSession(key []byte) error { return t.tx.Bucket(bucketSessions).Delete(key) }

func (t boltTx) Sessions(fn func([]byte, hqui.Session, bool) error) error {
	var keys [][]byte
	var all []hqui.Session
	var bad []bool
	// Collected first: fn may delete.
	t.tx.Bucket(bucketSessions).ForEach(func(k, v []byte) error {
		var ss hqui.Session
		err := json.Unmarshal(v, &ss)
		keys, all, bad = append(keys, bytes.Clone(k)), append(all, ss), append(bad, err != nil)
		return nil
	})
	for i := range keys {
		if err := fn(keys[i], all[i], bad[i]); err != nil {
			return err
		}
	}
	return nil
}

func (t boltTx) docs(kind string, create bool) (*bolt.Bucket, error) {
	db := t.tx.Bucket(bucketDocs)
	if !create {
		return db.Bucket([]byte(kind)), nil
	}
	return db.CreateBucketIfNotExists([]byte(kind))
}

func (t boltTx) NextDoc(kind string) (uint64, error) {
	b, err := t.docs(kind, true)
	if err != nil {
		return 0, err
	}
	return b.NextSequence()
}

func (t boltTx) Doc(kind string, id uint64) ([]byte, error) {
	b, _ := t.docs(kind, false)
	if b == nil {
		return nil, nil
	}
	return bytes.Clone(b.Get(seqKey(id))), nil
}

func (t boltTx) PutDoc(kind string, id uint64, doc []byte) error {
	b, err := t.docs(kind, true)
	if err != nil {
		return err
	}
	if b.Sequence() < id {
		b.SetSequence(id)
	}
	return b.Put(seqKey(id), doc)
}

func (t boltTx) DeleteDoc(kind string, id uint64) error {
	if b, _ := t.docs(kind, false); b != nil {
		return b.Delete(seqKey(id))
	}
	return nil
}

func (t boltTx) Docs(kind string, fn func(uint64, []byte) error) error {
	b, _ := t.docs(kind, false)
	if b == nil {
		return nil
	}
	var ids []uint64
	var docs [][]byte
	b.ForEach(func(k, v []byte) error {
		ids, docs = append(ids, keySeq(k)), append(docs, bytes.Clone(v))
		return nil
	})
	for i := range ids {
		if err := fn(ids[i], docs[i]); err != nil {
			return err
		}
	}
	return nil
}

func (t boltTx) DeleteDocsBelow(kind string, id uint64) error {
	b, _ := t.docs(kind, false)
	if b == nil {
		return nil
	}
	c := b.Cursor()
	for k, _ := c.First(); k != nil && keySeq(k) < id; k, _ = c.First() {
		if err := c.Delete(); err != nil {
			return err
		}
	}
	return nil
}

// upgradeBolt brings a file written by an earlier hq up to
// layoutVersion: layout 2 added the index and the digests (built once,
// decoding every stored summary), layout 3 numbered commands and
// LastStored.
func (s *Server) upgradeBolt(bs *boltStore) error {
	return bs.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		layout := string(meta.Get([]byte("layout")))
		if layout == layoutVersion {
			return nil
		}
		var ids []string
		tx.Bucket(bucketBoxes).ForEach(func(k, _ []byte) error { ids = append(ids, string(k)); return nil })
		t := boltTx{tx}
		for _, id := range ids {
			b, _, err := t.Box(id)
			if err != nil {
				return err
			}
			if layout != "2" {
				if err := s.index(tx, &b); err != nil {
					return err
				}
			}
			if err := s.migratePending(t, &b); err != nil {
				return err
			}
			if ib := tx.Bucket(bucketIndex).Bucket([]byte(id)); ib != nil && b.LastStored.IsZero() {
				if _, v := ib.Cursor().Last(); v != nil {
					if e, err := unmarshalEntry(v); err == nil {
						b.LastStored = e.Received
					}
				}
			}
			if err := t.PutBox(b); err != nil {
				return err
			}
		}
		return meta.Put([]byte("layout"), []byte(layoutVersion))
	})
}

// index builds a box's index and digest from its stored summaries.
func (s *Server) index(tx *bolt.Tx, b *Box) error {
	id := b.ID
	sb := tx.Bucket(bucketSummaries).Bucket([]byte(id))
	if sb == nil {
		return nil
	}
	ib, err := tx.Bucket(bucketIndex).CreateBucketIfNotExists([]byte(id))
	if err != nil {
		return err
	}
	b.Stored, b.StoredBytes = 0, 0
	var newest *wire.Summary
	if err := sb.ForEach(func(k, v []byte) error {
		sum, err := wire.Decode(v)
		if err != nil {
			return fmt.Errorf("box %s summary %d: %w", id, keySeq(k), err)
		}
		b.Stored, b.StoredBytes = b.Stored+1, b.StoredBytes+uint64(len(v))
		newest = &sum
		return ib.Put(k, entryOf(v, sum, b.LastSeen).marshal())
	}); err != nil {
		return err
	}
	if newest != nil {
		if err := (boltTx{tx}).PutLatest(id, digestOf(*newest)); err != nil {
			return err
		}
	}
	s.log.Info("hq: indexed the stored summaries of a box", "box", id, "summaries", b.Stored)
	return nil
}
