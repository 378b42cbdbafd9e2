package hq

import (
	"encoding/json"
	"fmt"
	"time"

	"outpost/appliance/phonehome/wire"
)

// A command queued for a box (`hq send`) is pending until a summary from
// the box lists its result: every reply to the box, a duplicate's too,
// carries every pending command, so a reply lost on the way loses
// nothing. The box handles each command id once and lists its result in
// its summaries until a reply no longer carries it. One command of each
// kind is pending at a time: a newer bundle or firmware notice
// supersedes the pending one (a box refuses an older bundle anyway), a
// second inventory request is the pending one. Acknowledgements are the
// exception: each is its own, up to maxPendingAcks at a time (ack.go).

// Command is one command of a box's, pending or closed. Its payload (a
// bundle of up to 2 MiB) is kept apart, in bucket commands, while it is
// pending, so the box record stays small.
type Command struct {
	ID   uint64 `json:"id"`
	Kind string `json:"kind"`
	// What says what it is, for people: "bundle v12 (site Acme)".
	What   string    `json:"what"`
	Queued time.Time `json:"queued"`
	// Sent counts the replies that carried it, LastSent the newest.
	Sent     uint64    `json:"sent,omitempty"`
	LastSent time.Time `json:"last_sent,omitzero"`
	// Closed is when it stopped being pending: Result is the box's
	// (wire.CommandDone, wire.CommandRefused) with its Detail, confirmed
	// by summary Seq, or "superseded" by a newer command of its kind.
	Closed time.Time `json:"closed,omitzero"`
	Result string    `json:"result,omitempty"`
	Detail string    `json:"detail,omitempty"`
	Seq    uint64    `json:"seq,omitempty"`
	// An acknowledgement relayed (ack.go): the incident (for a link as
	// its token says, unverified), who and how (wire.AckViaLink,
	// wire.AckViaUser), and for a link the SHA-256 of its token, so the
	// link's page finds it again.
	Incident  uint64 `json:"incident,omitempty"`
	By        string `json:"by,omitempty"`
	Via       string `json:"via,omitempty"`
	TokenHash string `json:"token_hash,omitempty"`
}

// Superseded is the result of a command replaced by a newer one of its
// kind before the box confirmed it.
const Superseded = "superseded"

// Pending reports whether the command still waits for the box.
func (c Command) Pending() bool { return c.Closed.IsZero() }

// keepClosed bounds the closed commands a box record keeps.
const keepClosed = 20

// PendingCommands counts the box's commands waiting for it.
func (b Box) PendingCommands() int {
	n := 0
	for _, c := range b.Commands {
		if c.Pending() {
			n++
		}
	}
	return n
}

// QueueRequest is the body of POST /boxes/{id}/queue: one of Bundle,
// Firmware, Inventory, and What describes it for people.
type QueueRequest struct {
	Bundle    []byte               `json:"bundle,omitempty"`
	Firmware  *wire.FirmwareNotice `json:"firmware,omitempty"`
	Inventory bool                 `json:"inventory,omitempty"`
	What      string               `json:"what,omitempty"`
}

// Queue puts a command in every reply to a box until the box confirms
// it, and returns it.
func (s *Server) Queue(id string, req QueueRequest) (Command, error) {
	wc := wire.Command{Bundle: req.Bundle, Firmware: req.Firmware, Inventory: req.Inventory}
	kind, err := wc.Kind()
	if err != nil {
		return Command{}, err
	}
	what := plain(req.What)
	if what == "" {
		what = kind
	}
	var out Command
	err = s.db.Update(func(tx Tx) error {
		b, ok, err := tx.Box(id)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("no box %q is registered", id)
		}
		out, err = s.queue(tx, &b, wc, kind, what, s.clock.Now().UTC())
		if err != nil {
			return err
		}
		return tx.PutBox(b)
	})
	return out, err
}

func (s *Server) queue(tx Tx, b *Box, wc wire.Command, kind, what string, now time.Time) (Command, error) {
	for i, c := range b.Commands {
		if !c.Pending() || c.Kind != kind {
			continue
		}
		if kind == wire.KindAck {
			continue // each acknowledgement is its own
		}
		if kind == wire.KindInventory {
			return c, nil // the one pending asks for the same
		}
		b.Commands[i].Closed, b.Commands[i].Result = now, Superseded
		if err := tx.DeleteCommand(b.ID, c.ID); err != nil {
			return Command{}, err
		}
	}
	b.NextCommand = max(b.NextCommand, 1)
	c := Command{ID: b.NextCommand, Kind: kind, What: what, Queued: now}
	b.NextCommand++
	wc.ID = c.ID
	v, err := json.Marshal(wc)
	if err != nil {
		return Command{}, err
	}
	if err := tx.PutCommand(b.ID, c.ID, v); err != nil {
		return Command{}, err
	}
	b.Commands = append(b.Commands, c)
	trimClosed(b)
	return c, nil
}

// trimClosed keeps the pending commands and the newest closed ones.
func trimClosed(b *Box) {
	closed := len(b.Commands) - b.PendingCommands()
	if closed <= keepClosed {
		return
	}
	drop := closed - keepClosed
	kept := b.Commands[:0]
	for _, c := range b.Commands {
		if !c.Pending() && drop > 0 {
			drop--
			continue
		}
		kept = append(kept, c)
	}
	b.Commands = kept
}

// confirm closes the pending commands a stored summary lists, with the
// box's results; ids the box lists that are not pending (confirmed by an
// earlier summary, superseded, or made up) change nothing.
func confirm(tx Tx, b *Box, results []wire.CommandResult, seq uint64, now time.Time) error {
	if len(results) > wire.MaxCommandResults {
		results = results[:wire.MaxCommandResults]
	}
	for _, r := range results {
		for i, c := range b.Commands {
			if c.ID != r.ID || !c.Pending() {
				continue
			}
			res := wire.CommandRefused
			if r.Result == wire.CommandDone {
				res = wire.CommandDone
			}
			b.Commands[i].Closed, b.Commands[i].Result, b.Commands[i].Detail, b.Commands[i].Seq = now, res, plain(r.Detail), seq
			if err := tx.DeleteCommand(b.ID, c.ID); err != nil {
				return err
			}
		}
	}
	trimClosed(b)
	return nil
}

// attach puts every pending command in the reply, oldest first, and
// counts the sending. The payloads are copied out of the transaction.
func attach(tx Tx, b *Box, rep *wire.Reply, now time.Time) error {
	for i, c := range b.Commands {
		if !c.Pending() {
			continue
		}
		v, err := tx.Command(b.ID, c.ID)
		if err != nil {
			return err
		}
		var wc wire.Command
		if v == nil || json.Unmarshal(v, &wc) != nil {
			return fmt.Errorf("box %s command %d: its payload is missing or unreadable", b.ID, c.ID)
		}
		rep.Commands = append(rep.Commands, wc)
		b.Commands[i].Sent++
		b.Commands[i].LastSent = now
	}
	return nil
}

// migratePending turns what an hq before command ids queued for a box
// (one unnumbered set, dropped at the first reply) into commands.
func (s *Server) migratePending(tx Tx, b *Box) error {
	p := b.OldPending
	if p == nil {
		return nil
	}
	b.OldPending = nil
	now := s.clock.Now().UTC()
	for _, wc := range []wire.Command{{Bundle: p.Bundle}, {Firmware: p.Firmware}, {Inventory: p.Inventory}} {
		kind, err := wc.Kind()
		if err != nil {
			continue // this part was not queued
		}
		if _, err := s.queue(tx, b, wc, kind, kind+" (queued before commands had ids)", now); err != nil {
			return err
		}
	}
	return nil
}
