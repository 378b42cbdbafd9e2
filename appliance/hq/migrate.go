package hq

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	hqui "outpost/ui/hq"
)

// MigrateReport is what Migrate copied.
type MigrateReport struct {
	Boxes     int   `json:"boxes"`
	Summaries int   `json:"summaries"`
	Bytes     int64 `json:"bytes"`
	Commands  int   `json:"pending_commands"`
	Users     int   `json:"users"`
	Sessions  int   `json:"sessions"`
	// Docs counts alerts, API tokens and the notification engine's
	// states, outbox and log.
	Docs int `json:"docs"`
}

// migrateChunk is how many summaries one transaction of a migration
// copies: a box with a year of history is not held in memory at once.
const migrateChunk = 500

// Migrate copies everything from one store into another that holds
// nothing yet (`outpost hq migrate`): box records with their commands,
// counters and floors, every stored summary as the box sent it with its
// index row (when it was received, its hash), the digests, the pending
// commands' payloads, accounts and sessions, alerts, API tokens and the
// notification engine's state. A box's record goes last,
// after its summaries; the copy is then compared with the source, box
// by box (the sequence numbers and each body's hash).
func Migrate(from, to Store, log *slog.Logger) (MigrateReport, error) {
	var rep MigrateReport
	if log == nil {
		log = slog.Default()
	}
	if err := to.View(func(tx Tx) error {
		n := 0
		if err := tx.Boxes(func(Box) error { n++; return nil }); err != nil {
			return err
		}
		u, err := tx.CountUsers()
		if err != nil {
			return err
		}
		if n > 0 || u > 0 {
			return fmt.Errorf("the target already holds %d boxes and %d accounts: migrate into an empty database (drop and create it again)", n, u)
		}
		return nil
	}); err != nil {
		return rep, err
	}
	var boxes []Box
	if err := from.View(func(tx Tx) error {
		boxes = boxes[:0]
		return tx.Boxes(func(b Box) error { boxes = append(boxes, b); return nil })
	}); err != nil {
		return rep, fmt.Errorf("reading the source: %w", err)
	}
	slices.SortFunc(boxes, func(a, b Box) int { return strings.Compare(a.ID, b.ID) })
	for _, b := range boxes {
		n, bytes, err := migrateSummaries(from, to, b.ID)
		if err != nil {
			return rep, fmt.Errorf("box %s: %w", b.ID, err)
		}
		var latest *digest
		payloads := map[uint64][]byte{}
		if err := from.View(func(tx Tx) error {
			var err error
			if latest, err = tx.Latest(b.ID); err != nil {
				return err
			}
			for _, c := range b.Commands {
				if c.Pending() {
					p, err := tx.Command(b.ID, c.ID)
					if err != nil {
						return err
					}
					if p == nil {
						return fmt.Errorf("command %d: pending without its payload", c.ID)
					}
					payloads[c.ID] = p
				}
			}
			return nil
		}); err != nil {
			return rep, fmt.Errorf("box %s: %w", b.ID, err)
		}
		if err := to.Update(func(tx Tx) error {
			if latest != nil {
				if err := tx.PutLatest(b.ID, *latest); err != nil {
					return err
				}
			}
			for id, p := range payloads {
				if err := tx.PutCommand(b.ID, id, p); err != nil {
					return err
				}
			}
			return tx.PutBox(b)
		}); err != nil {
			return rep, fmt.Errorf("box %s: %w", b.ID, err)
		}
		if err := compareBox(from, to, b.ID); err != nil {
			return rep, fmt.Errorf("box %s: the copy differs from the source: %w", b.ID, err)
		}
		rep.Boxes++
		rep.Summaries += n
		rep.Bytes += bytes
		rep.Commands += len(payloads)
		log.Info("hq migrate: box copied", "box", b.ID, "site", b.Site, "summaries", n)
	}
	var users []hqui.User
	type sess struct {
		key []byte
		ss  hqui.Session
	}
	var sessions []sess
	if err := from.View(func(tx Tx) error {
		users, sessions = users[:0], sessions[:0]
		if err := tx.Users(func(u hqui.User) error { users = append(users, u); return nil }); err != nil {
			return err
		}
		return tx.Sessions(func(k []byte, ss hqui.Session, bad bool) error {
			if !bad {
				sessions = append(sessions, sess{k, ss})
			}
			return nil
		})
	}); err != nil {
		return rep, fmt.Errorf("reading the accounts: %w", err)
	}
	if err := to.Update(func(tx Tx) error {
		for _, u := range users {
			if err := tx.PutUser(u); err != nil {
				return err
			}
		}
		for _, s := range sessions {
			if err := tx.PutSession(s.key, s.ss); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return rep, fmt.Errorf("writing the accounts: %w", err)
	}
	rep.Users, rep.Sessions = len(users), len(sessions)
	for _, kind := range []string{docAlert, docToken, docNotifyState, docNotifyOutbox, docNotifyLog} {
		type doc struct {
			id uint64
			v  []byte
		}
		var docs []doc
		if err := from.View(func(tx Tx) error {
			docs = docs[:0]
			return tx.Docs(kind, func(id uint64, v []byte) error { docs = append(docs, doc{id, v}); return nil })
		}); err != nil {
			return rep, fmt.Errorf("reading %s: %w", kind, err)
		}
		for i := 0; i < len(docs); i += migrateChunk {
			chunk := docs[i:min(i+migrateChunk, len(docs))]
			if err := to.Update(func(tx Tx) error {
				for _, d := range chunk {
					if err := tx.PutDoc(kind, d.id, d.v); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				return rep, fmt.Errorf("writing %s: %w", kind, err)
			}
		}
		rep.Docs += len(docs)
	}
	return rep, nil
}

func migrateSummaries(from, to Store, box string) (n int, bytes int64, err error) {
	var above uint64
	for {
		var chunk []storedSummary
		if err := from.View(func(tx Tx) (err error) {
			chunk, err = tx.Bodies(box, above, migrateChunk)
			return err
		}); err != nil {
			return n, bytes, err
		}
		if len(chunk) == 0 {
			return n, bytes, nil
		}
		if err := to.Update(func(tx Tx) error {
			for _, s := range chunk {
				if err := tx.PutSummary(box, s.Seq, s.Body, s.Entry); err != nil {
					return fmt.Errorf("summary %d: %w", s.Seq, err)
				}
			}
			return nil
		}); err != nil {
			return n, bytes, err
		}
		for _, s := range chunk {
			bytes += int64(len(s.Body))
		}
		n += len(chunk)
		above = chunk[len(chunk)-1].Seq
	}
}

// compareBox reads both stores' index rows of a box and compares them.
func compareBox(from, to Store, box string) error {
	read := func(s Store) (out []seqEntry, err error) {
		err = s.View(func(tx Tx) (err error) {
			out, err = tx.Entries(box, 0, 1<<62)
			return err
		})
		return out, err
	}
	a, err := read(from)
	if err != nil {
		return err
	}
	b, err := read(to)
	if err != nil {
		return err
	}
	if len(a) != len(b) {
		return fmt.Errorf("%d summaries in the source, %d in the copy", len(a), len(b))
	}
	for i := range a {
		if a[i].Seq != b[i].Seq || a[i].Hash != b[i].Hash || !a[i].Received.Equal(b[i].Received) {
			return fmt.Errorf("summary %d: %w", a[i].Seq, errors.New("sequence number, hash or time received differ"))
		}
	}
	return nil
}
