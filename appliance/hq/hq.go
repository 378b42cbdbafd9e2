// Package hq is the MSP's end of phone home: `outpost hq` receives the
// summaries of registered boxes, verifies their signatures, drops
// duplicates, stores them in bbolt and serves a fleet page. A small MSP
// runs it as it is; the tests use it as the real peer. It speaks
// appliance/phonehome/wire and imports nothing of the box's side.
package hq

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"

	"outpost/appliance/phonehome/wire"
	"outpost/checks/clock"
)

var (
	bucketBoxes     = []byte("boxes")     // box id -> Box
	bucketSummaries = []byte("summaries") // box id -> (seq -> gzip'd summary)
)

// MaxBody bounds a request body (a gzip'd summary).
const MaxBody = 8 << 20

// Box is a registered box and what its last summary said.
type Box struct {
	ID         string    `json:"id"`
	Key        string    `json:"key"`
	Site       string    `json:"site"`
	Registered time.Time `json:"registered"`
	LastSeen   time.Time `json:"last_seen,omitzero"`
	// LastSigned is the newest request time the box signed: a request
	// replayed as captured carries an older one and does not count as
	// the box being alive.
	LastSigned time.Time   `json:"last_signed,omitzero"`
	LastSeq    uint64      `json:"last_seq"`
	Summaries  uint64      `json:"summaries"`
	Duplicates uint64      `json:"duplicates"`
	Version    string      `json:"version,omitempty"`
	Interval   int         `json:"interval_s,omitempty"`
	Health     wire.Health `json:"health"`
	Open       int         `json:"open_incidents"`
	Lost       uint64      `json:"lost"`
	// Pending is what the next reply carries to the box.
	Pending *Pending `json:"pending,omitempty"`
}

// Pending is queued for a box's next reply.
type Pending struct {
	Bundle    []byte               `json:"bundle,omitempty"`
	Firmware  *wire.FirmwareNotice `json:"firmware,omitempty"`
	Inventory bool                 `json:"inventory,omitempty"`
}

// Silent reports whether the box missed three summaries.
func (b Box) Silent(now time.Time) bool {
	iv := time.Duration(b.Interval) * time.Second
	if iv <= 0 {
		iv = 5 * time.Minute
	}
	return b.LastSeen.IsZero() || now.Sub(b.LastSeen) > 3*iv
}

// Server is the receiver.
type Server struct {
	db    *bolt.DB
	clock clock.Clock
	log   *slog.Logger
}

// Open opens (or creates) the receiver's store.
func Open(path string, clk clock.Clock, log *slog.Logger) (*Server, error) {
	if clk == nil {
		clk = clock.Real{}
	}
	if log == nil {
		log = slog.Default()
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("opening %s (is another outpost hq running on it?): %w", path, err)
	}
	// Batched commits wait this long for other boxes' summaries: short,
	// so one box draining a backlog is not held up, long enough that a
	// fleet posting at once shares fsyncs.
	db.MaxBatchDelay = time.Millisecond
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketBoxes, bucketSummaries} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	return &Server{db: db, clock: clk, log: log}, nil
}

// Close closes the store.
func (s *Server) Close() error { return s.db.Close() }

// Register adds a box (or replaces its key).
func (s *Server) Register(id, key, site string) (Box, error) {
	if _, err := wire.ParsePublicKey(key); err != nil {
		return Box{}, err
	}
	if len(id) < 4 || id[:3] != "ob-" {
		return Box{}, fmt.Errorf("box id %q is not an Outpost box id (ob-...)", id)
	}
	var b Box
	err := s.db.Update(func(tx *bolt.Tx) error {
		bb := tx.Bucket(bucketBoxes)
		if v := bb.Get([]byte(id)); v != nil {
			if err := json.Unmarshal(v, &b); err != nil {
				return err
			}
		} else {
			b = Box{ID: id, Registered: s.clock.Now().UTC()}
		}
		b.Key = key
		if site != "" {
			b.Site = site
		}
		return putBox(tx, b)
	})
	return b, err
}

func putBox(tx *bolt.Tx, b Box) error {
	v, err := json.Marshal(b)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketBoxes).Put([]byte(b.ID), v)
}

func getBox(tx *bolt.Tx, id string) (Box, bool, error) {
	var b Box
	v := tx.Bucket(bucketBoxes).Get([]byte(id))
	if v == nil {
		return b, false, nil
	}
	return b, true, json.Unmarshal(v, &b)
}

// Boxes lists the registered boxes by site.
func (s *Server) Boxes() ([]Box, error) {
	var out []Box
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketBoxes).ForEach(func(k, v []byte) error {
			var b Box
			if err := json.Unmarshal(v, &b); err != nil {
				return fmt.Errorf("box %s: %w", k, err)
			}
			out = append(out, b)
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool {
		if out[i].Site != out[j].Site {
			return out[i].Site < out[j].Site
		}
		return out[i].ID < out[j].ID
	})
	return out, err
}

// Queue puts something in a box's next reply.
func (s *Server) Queue(id string, f func(*Pending)) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b, ok, err := getBox(tx, id)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("no box %q is registered", id)
		}
		if b.Pending == nil {
			b.Pending = &Pending{}
		}
		f(b.Pending)
		return putBox(tx, b)
	})
}

// Summaries returns a box's stored summaries, newest first, at most n.
func (s *Server) Summaries(id string, n int) ([]wire.Summary, error) {
	var out []wire.Summary
	err := s.db.View(func(tx *bolt.Tx) error {
		sb := tx.Bucket(bucketSummaries).Bucket([]byte(id))
		if sb == nil {
			return nil
		}
		c := sb.Cursor()
		for k, v := c.Last(); k != nil && len(out) < n; k, v = c.Prev() {
			sum, err := wire.Decode(v)
			if err != nil {
				return fmt.Errorf("box %s summary %d: %w", id, binary.BigEndian.Uint64(k), err)
			}
			out = append(out, sum)
		}
		return nil
	})
	return out, err
}

// Seqs lists the sequence numbers stored for a box, in order.
func (s *Server) Seqs(id string) ([]uint64, error) {
	var out []uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		sb := tx.Bucket(bucketSummaries).Bucket([]byte(id))
		if sb == nil {
			return nil
		}
		return sb.ForEach(func(k, _ []byte) error {
			out = append(out, binary.BigEndian.Uint64(k))
			return nil
		})
	})
	return out, err
}

type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

func fail(code int, format string, args ...any) error {
	return &httpError{code: code, msg: fmt.Sprintf(format, args...)}
}

// Ingest is the summaries endpoint.
func (s *Server) Ingest(w http.ResponseWriter, r *http.Request) {
	rep, err := s.ingest(r)
	if err != nil {
		code := http.StatusInternalServerError
		var he *httpError
		if errors.As(err, &he) {
			code = he.code
		}
		if code >= 500 {
			s.log.Error("hq: ingest failed", "box", r.Header.Get(wire.HeaderBox), "err", err)
		} else {
			s.log.Warn("hq: summary refused", "box", r.Header.Get(wire.HeaderBox), "from", r.RemoteAddr, "err", err)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(rep)
}

func (s *Server) ingest(r *http.Request) (wire.Reply, error) {
	var rep wire.Reply
	id := r.Header.Get(wire.HeaderBox)
	seq, err := strconv.ParseUint(r.Header.Get(wire.HeaderSeq), 10, 64)
	if id == "" || err != nil || seq == 0 {
		return rep, fail(http.StatusBadRequest, "missing or bad %s / %s headers", wire.HeaderBox, wire.HeaderSeq)
	}
	if r.Header.Get(wire.HeaderIdem) != wire.IdempotencyKey(id, seq) {
		return rep, fail(http.StatusBadRequest, "%s must be %q", wire.HeaderIdem, wire.IdempotencyKey(id, seq))
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		return rep, fail(http.StatusBadRequest, "reading the body: %v", err)
	}
	if len(body) > MaxBody {
		return rep, fail(http.StatusRequestEntityTooLarge, "summary over %d bytes", MaxBody)
	}
	var box Box
	var ok bool
	if err := s.db.View(func(tx *bolt.Tx) error {
		box, ok, err = getBox(tx, id)
		return err
	}); err != nil {
		return rep, err
	}
	if !ok {
		return rep, fail(http.StatusUnauthorized, "box %s is not registered (outpost hq register)", id)
	}
	pub, err := wire.ParsePublicKey(box.Key)
	if err != nil {
		return rep, err
	}
	if err := wire.Verify(pub, id, seq, r.Header.Get(wire.HeaderTime), r.Header.Get(wire.HeaderSignature), body); err != nil {
		return rep, fail(http.StatusUnauthorized, "box %s: %v", id, err)
	}
	signed, err := time.Parse(time.RFC3339Nano, r.Header.Get(wire.HeaderTime))
	if err != nil {
		return rep, fail(http.StatusBadRequest, "%s: %v", wire.HeaderTime, err)
	}
	var sum wire.Summary
	if seq > box.LastSeq {
		if sum, err = wire.Decode(body); err != nil {
			return rep, fail(http.StatusBadRequest, "box %s summary %d: %v", id, seq, err)
		}
		if sum.Box.ID != id || sum.Seq != seq {
			return rep, fail(http.StatusBadRequest, "summary says box %s seq %d, headers box %s seq %d", sum.Box.ID, sum.Seq, id, seq)
		}
	}
	now := s.clock.Now().UTC()
	// Batch: concurrent boxes share one commit (one fsync).
	err = s.db.Batch(func(tx *bolt.Tx) error {
		b, _, err := getBox(tx, id)
		if err != nil {
			return err
		}
		rep = wire.Reply{Ack: seq}
		fresh := signed.After(b.LastSigned)
		if fresh {
			b.LastSigned = signed
		}
		if seq <= b.LastSeq {
			// Sent again after a lost reply or a crash: already stored.
			// The box re-signs every attempt, so a retry is news of it; an
			// old request replayed is not.
			rep.Duplicate = true
			b.Duplicates++
			if fresh {
				b.LastSeen = now
			}
			return putBox(tx, b)
		}
		b.LastSeen = now
		sb, err := tx.Bucket(bucketSummaries).CreateBucketIfNotExists([]byte(id))
		if err != nil {
			return err
		}
		if err := sb.Put(binary.BigEndian.AppendUint64(nil, seq), body); err != nil {
			return err
		}
		b.LastSeq, b.Summaries = seq, b.Summaries+1
		b.Site, b.Version, b.Interval, b.Health, b.Open, b.Lost = sum.Box.Site, sum.Box.Version, sum.Interval, sum.Health, len(sum.OpenIncidents), sum.Lost.Total
		if p := b.Pending; p != nil {
			rep.Bundle, rep.Firmware, rep.Inventory = p.Bundle, p.Firmware, p.Inventory
			b.Pending = nil
		}
		return putBox(tx, b)
	})
	return rep, err
}

// Handler serves the summaries endpoint.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/summaries", s.Ingest)
	return mux
}

// Serve runs srv on its listener until ctx ends.
func Serve(ctx context.Context, srv *http.Server, serve func() error) error {
	errc := make(chan error, 1)
	go func() { errc <- serve() }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		return nil
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	}
}
