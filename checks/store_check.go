package checks

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"outpost/checks/clock"
)

func init() {
	Register(Kind{Name: "store", Summary: "the box's own store: its commits succeed (the disk is not full, failing or stuck); Outpost adds `outpost-store` unless you declare one", New: newStore})
}

// StoreState is what the daemon's store says of its writes (store.Stats,
// adapted by the wiring).
type StoreState struct {
	// Path is the store's file.
	Path string
	// Err is why the last commit failed, "" when it succeeded; Full says
	// the disk was full.
	Err  string
	Full bool
	// Pending results wait in memory for a commit; Dropped were not kept
	// (the bound on pending results was reached).
	Pending int
	Dropped uint64
	// SinceCommit is the real time since the last commit (0 before the
	// first).
	SinceCommit time.Duration
}

// StoreHealth reports the state of the daemon's store (*store.Store
// through the wiring). StoreState reads counters; it does not wait on the
// disk.
type StoreHealth interface {
	StoreState() StoreState
}

// StoreStall is how long results may wait while no commit succeeds before
// the store counts as stuck (a disk that hangs instead of failing);
// /healthz uses the same figure.
const StoreStall = 30 * time.Second

// Store judges the box's own store, where every result, incident and
// queued notification is written: critical when its last commit failed
// (a full or failing disk: detail says which, and how many results wait
// in memory) or when results have waited StoreStall without a commit.
// Its value is the number of results waiting. Without a store (a
// command that runs checks once) it is ok and says so. Changes of
// verdict are logged, so the journal has the time and level of a store
// that stops writing.
type Store struct {
	src   StoreHealth
	log   *slog.Logger
	clock clock.Clock
	mu    sync.Mutex
	// reason is why the store was last judged bad ("" while ok).
	reason string
}

var _ Checker = (*Store)(nil)

func newStore(s Spec, d Deps) (Checker, error) {
	if err := s.Options.Decode(&NoOptions{}); err != nil {
		return nil, err
	}
	return &Store{src: d.Store, log: d.Log, clock: d.Clock}, nil
}

// Check reports the store's state; see Store.
func (c *Store) Check(ctx context.Context) Result {
	start := time.Now()
	if c.src == nil {
		return Result{Time: c.clock.Now(), Status: OK, Detail: "no store in this process: only the daemon (outpost run) writes one"}
	}
	s := c.src.StoreState()
	r := Result{Time: c.clock.Now(), Status: OK, Detail: fmt.Sprintf("store %s commits", s.Path)}
	switch {
	case s.Err != "":
		why := "cannot write"
		if s.Full {
			why = "cannot write: the disk is full"
		}
		r.Status, r.Detail = Critical, fmt.Sprintf("store %s %s (%s); %d results wait in memory, %d dropped", s.Path, why, s.Err, s.Pending, s.Dropped)
	case s.Pending > 0 && s.SinceCommit > StoreStall:
		r.Status, r.Detail = Critical, fmt.Sprintf("store %s cannot write: no commit for %s with %d results waiting (the disk hangs or is very slow)", s.Path, s.SinceCommit.Round(time.Second), s.Pending)
	}
	reason := ""
	if r.Status != OK {
		switch {
		case s.Full:
			reason = "disk full"
		case s.Err != "":
			reason = s.Err
		default:
			reason = "stalled"
		}
	}
	c.logChange(reason, s)
	r.Latency = Since(start)
	return r.WithValue(float64(s.Pending))
}

// logChange logs the store going bad (or bad for another reason) and
// coming back; counts alone changing are not news.
func (c *Store) logChange(reason string, s StoreState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case reason == c.reason:
	case reason != "":
		c.log.Error("store cannot write", "path", s.Path, "err", s.Err, "full", s.Full, "pending", s.Pending, "dropped", s.Dropped, "since_commit", s.SinceCommit.Round(time.Second).String())
	default:
		c.log.Info("store writes again", "path", s.Path, "pending", s.Pending)
	}
	c.reason = reason
}
