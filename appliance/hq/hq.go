// Package hq is the MSP's end of phone home: `outpost hq` receives the
// summaries of registered boxes, authenticates each request before it
// reads the body, stores summaries in bbolt per box under a quota and a
// retention, tells a box's retry from a conflicting summary, and serves
// the fleet pages behind a login. A small MSP runs it as it is; the
// tests use it as the real peer. It speaks appliance/phonehome/wire and
// imports nothing of the box's side.
package hq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"runtime"
	"sort"
	"time"

	"outpost/appliance/phonehome/wire"
	"outpost/checks/clock"
)

// MaxBody bounds a request body (a gzip'd summary).
const MaxBody = 8 << 20

// Box is a registered box and what its summaries said.
type Box struct {
	ID         string    `json:"id"`
	Key        string    `json:"key"`
	Site       string    `json:"site"`
	Registered time.Time `json:"registered"`
	LastSeen   time.Time `json:"last_seen,omitzero"`
	// LastSigned is the newest request time the box signed: a request
	// replayed as captured carries an older one and does not count as
	// the box being alive.
	LastSigned time.Time `json:"last_signed,omitzero"`
	// LastSeq is the newest sequence number stored.
	LastSeq uint64 `json:"last_seq"`
	// Summaries counts the summaries ever stored, Duplicates the
	// retries acknowledged without storing.
	Summaries  uint64 `json:"summaries"`
	Duplicates uint64 `json:"duplicates"`
	// Stored and StoredBytes are what is kept now (the quota's figures);
	// Floor is the newest sequence number retention removed.
	Stored      uint64 `json:"stored"`
	StoredBytes uint64 `json:"stored_bytes"`
	Floor       uint64 `json:"floor,omitempty"`
	// Conflicts counts summaries refused because they differ from the
	// one held under their sequence number, or fall at or below Floor.
	Conflicts    uint64      `json:"conflicts,omitempty"`
	LastConflict *Conflict   `json:"last_conflict,omitempty"`
	Version      string      `json:"version,omitempty"`
	Interval     int         `json:"interval_s,omitempty"`
	Health       wire.Health `json:"health"`
	Open         int         `json:"open_incidents"`
	Lost         uint64      `json:"lost"`
	// Behind is the newest summary's count of checks missing their
	// schedule (box_health.checks_behind).
	Behind int `json:"checks_behind,omitempty"`
	// ClockProblem is what the newest summary says is wrong with the
	// box's own clock, "" when nothing is.
	ClockProblem string `json:"clock_problem,omitempty"`
	// NotifyFailing are the box's failing notification channels and
	// OpenCritical its unacknowledged critical incidents, by its newest
	// summary: both at once may mean nobody was told.
	NotifyFailing []wire.ChannelFailure `json:"notify_failing,omitempty"`
	OpenCritical  int                   `json:"open_critical,omitempty"`
	// LastFirmware is the newest summary's last firmware outcome (an
	// update applied, confirmed, refused, rolled back), nil when none.
	LastFirmware *wire.Event `json:"last_firmware,omitempty"`
	// LastStored is when the newest summary was stored, by the
	// receiver's clock: LastSeen moves with every signed attempt (a box
	// retrying a refused summary too), this only with news.
	LastStored time.Time `json:"last_stored,omitzero"`
	// Commands are the box's pending commands and the newest closed ones
	// (commands.go); NextCommand numbers the next.
	Commands    []Command `json:"commands,omitempty"`
	NextCommand uint64    `json:"next_command,omitempty"`
	// OldPending is what an hq before command ids had queued; Open turns
	// it into commands.
	OldPending *Pending `json:"pending,omitempty"`
}

// Conflict records a refused summary.
type Conflict struct {
	Seq    uint64    `json:"seq"`
	At     time.Time `json:"at"`
	Reason string    `json:"reason"`
}

// Pending is what an hq before command ids kept queued for a box's next
// reply (Box.OldPending).
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

// Missing counts sequence numbers above Floor and up to LastSeq that
// were never stored: dropped by the box's outbox quota (its summaries
// say how many), or still on their way.
func (b Box) Missing() uint64 {
	if b.LastSeq < b.Floor+b.Stored {
		return 0
	}
	return b.LastSeq - b.Floor - b.Stored
}

// Limits bound what boxes and strangers can make the receiver hold.
type Limits struct {
	// BoxSummaries, BoxBytes and Retention bound the summaries kept per
	// box: beyond any of them the oldest (lowest sequence) go.
	BoxSummaries int
	BoxBytes     int64
	Retention    time.Duration
	// UploadBytes bounds the request bodies being read or checked at
	// once, all boxes together; AddrUploadBytes those from one client
	// address; BoxUploads the requests naming one box. Beyond them hq
	// answers 503 with Retry-After before reading.
	UploadBytes     int64
	AddrUploadBytes int64
	BoxUploads      int
	// UploadTimeout is how long one body may take to arrive.
	UploadTimeout time.Duration
}

// DefaultLimits: a year of 5-minute summaries per box, 256 MiB of them
// at most, 400 days; 64 MiB of bodies in flight.
var DefaultLimits = Limits{
	BoxSummaries:    120_000,
	BoxBytes:        256 << 20,
	Retention:       400 * 24 * time.Hour,
	UploadBytes:     64 << 20,
	AddrUploadBytes: 2 * MaxBody,
	BoxUploads:      2,
	UploadTimeout:   30 * time.Second,
}

func (l Limits) withDefaults() (Limits, error) {
	d := DefaultLimits
	if l.BoxSummaries == 0 {
		l.BoxSummaries = d.BoxSummaries
	}
	if l.BoxBytes == 0 {
		l.BoxBytes = d.BoxBytes
	}
	if l.Retention == 0 {
		l.Retention = d.Retention
	}
	if l.UploadBytes == 0 {
		l.UploadBytes = d.UploadBytes
	}
	if l.AddrUploadBytes == 0 {
		l.AddrUploadBytes = d.AddrUploadBytes
	}
	if l.BoxUploads == 0 {
		l.BoxUploads = d.BoxUploads
	}
	if l.UploadTimeout == 0 {
		l.UploadTimeout = d.UploadTimeout
	}
	switch {
	case l.BoxSummaries < 1:
		return l, fmt.Errorf("per-box summary limit %d: must be at least 1", l.BoxSummaries)
	case l.BoxBytes < MaxBody:
		return l, fmt.Errorf("per-box byte limit %d: must be at least %d (one summary at its largest)", l.BoxBytes, MaxBody)
	case l.Retention < time.Hour:
		return l, fmt.Errorf("retention %s: must be at least 1h", l.Retention)
	case l.UploadBytes < MaxBody || l.AddrUploadBytes < MaxBody:
		return l, fmt.Errorf("upload memory %d (per address %d): must be at least %d (one summary at its largest)", l.UploadBytes, l.AddrUploadBytes, MaxBody)
	case l.BoxUploads < 1 || l.UploadTimeout < time.Second:
		return l, fmt.Errorf("per-box uploads %d, upload timeout %s: need at least 1 and 1s", l.BoxUploads, l.UploadTimeout)
	}
	return l, nil
}

// Options configure a Server.
type Options struct {
	Clock  clock.Clock
	Log    *slog.Logger
	Limits Limits
	// PublicURL is where people reach this receiver's acknowledge pages
	// (`hq run --public-url`, https): every reply tells the boxes, whose
	// acknowledge links then point here. Empty: no relayed links.
	PublicURL string
}

// Server is the receiver.
type Server struct {
	db     Store
	clock  clock.Clock
	log    *slog.Logger
	lim    Limits
	gate   *gate
	decode chan struct{}
	// refusals bounds the log lines refused requests write.
	refusals logBudget
	// publicURL is Options.PublicURL checked.
	publicURL string
	metrics   *metrics
}

// Open opens (or creates) the receiver's bbolt store with DefaultLimits.
func Open(path string, clk clock.Clock, log *slog.Logger) (*Server, error) {
	return OpenWith(path, Options{Clock: clk, Log: log})
}

// OpenWith opens (or creates) the receiver's bbolt store at path.
func OpenWith(path string, o Options) (*Server, error) {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	bs, err := openBolt(path, o.Clock)
	if err != nil {
		return nil, err
	}
	s, err := newServer(bs, o)
	if err == nil {
		err = s.upgradeBolt(bs)
	}
	if err != nil {
		bs.Close()
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	return s, nil
}

// OpenStore serves from an open store (OpenPostgres, or bbolt through
// OpenWith); Close closes it.
func OpenStore(db Store, o Options) (*Server, error) { return newServer(db, o) }

func newServer(db Store, o Options) (*Server, error) {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	lim, err := o.Limits.withDefaults()
	if err != nil {
		return nil, err
	}
	public := ""
	if o.PublicURL != "" {
		if public, err = wire.CleanAckBase(o.PublicURL); err != nil {
			return nil, fmt.Errorf("--public-url: %w", err)
		}
	}
	return &Server{db: db, clock: o.Clock, log: o.Log, lim: lim, gate: newGate(lim), refusals: logBudget{perMinute: 60},
		publicURL: public, metrics: newMetrics(),
		// Decoding is CPU work on up to wire.MaxSummary bytes: more at
		// once than there are CPUs only adds memory.
		decode: make(chan struct{}, max(2, runtime.GOMAXPROCS(0)))}, nil
}

// Close closes the store.
func (s *Server) Close() error { return s.db.Close() }

// Store is the store the receiver serves from.
func (s *Server) Store() Store { return s.db }

// Box returns one registered box.
func (s *Server) Box(id string) (Box, bool, error) {
	var b Box
	var ok bool
	err := s.db.View(func(tx Tx) (err error) {
		b, ok, err = tx.Box(id)
		return err
	})
	return b, ok, err
}

// Boxes lists the registered boxes by site.
func (s *Server) Boxes() ([]Box, error) {
	var out []Box
	err := s.db.View(func(tx Tx) error {
		out = out[:0]
		return tx.Boxes(func(b Box) error { out = append(out, b); return nil })
	})
	sort.Slice(out, func(i, j int) bool {
		if out[i].Site != out[j].Site {
			return out[i].Site < out[j].Site
		}
		return out[i].ID < out[j].ID
	})
	return out, err
}

// Summaries returns a box's stored summaries, newest first, at most n,
// decoded (for tools and tests; the pages read the index instead).
func (s *Server) Summaries(id string, n int) ([]wire.Summary, error) {
	var out []wire.Summary
	err := s.db.View(func(tx Tx) error {
		es, err := tx.Entries(id, 0, n)
		if err != nil || len(es) == 0 {
			return err
		}
		ss, err := tx.Bodies(id, es[len(es)-1].Seq-1, n)
		if err != nil {
			return err
		}
		out = out[:0]
		for i := len(ss) - 1; i >= 0; i-- {
			sum, err := wire.Decode(ss[i].Body)
			if err != nil {
				return fmt.Errorf("box %s summary %d: %w", id, ss[i].Seq, err)
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
	err := s.db.View(func(tx Tx) error {
		out = out[:0]
		es, err := tx.Entries(id, 0, math.MaxInt)
		for i := len(es) - 1; i >= 0; i-- {
			out = append(out, es[i].Seq)
		}
		return err
	})
	return out, err
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
