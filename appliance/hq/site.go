package hq

import (
	"fmt"
	"time"

	"outpost/appliance/phonehome/wire"
	hqui "outpost/ui/hq"
)

var _ hqui.Source = (*Server)(nil)

func row(b Box, s *Server) hqui.FleetRow {
	site := b.Site
	if site == "" {
		site = "(not heard from yet)"
	}
	r := hqui.FleetRow{ID: b.ID, Site: site, Version: b.Version, Health: b.Health, Open: b.Open, LastSeen: b.LastSeen,
		Silent: b.Silent(s.clock.Now()), Lost: b.Lost, Summaries: b.Summaries, Conflicts: b.Conflicts, Missing: b.Missing(),
		LastStored: b.LastStored, Pending: b.PendingCommands(), Behind: b.Behind}
	if f := b.LastFirmware; f != nil {
		r.Firmware = fmt.Sprintf("%s %s (%s)", f.Result, f.Detail, f.Time.UTC().Format("2006-01-02 15:04 UTC"))
		r.FirmwareBad = f.Result == "refused" || f.Result == "rolled back" || f.Result == "interrupted"
	}
	return r
}

// Fleet is the fleet page's rows, from the box records alone.
func (s *Server) Fleet() ([]hqui.FleetRow, error) {
	boxes, err := s.Boxes()
	out := make([]hqui.FleetRow, len(boxes))
	for i, b := range boxes {
		out[i] = row(b, s)
	}
	return out, err
}

// HistoryEntry is one stored summary as the site's page and `hq list
// --box` show it: built by the box's clock, received by the receiver's.
// SilentBefore is the time since the summary received before it, when
// longer than three of the box's intervals (the site was silent), else 0.
type HistoryEntry struct {
	Seq          uint64        `json:"seq"`
	Built        time.Time     `json:"built"`
	Received     time.Time     `json:"received"`
	SilentBefore time.Duration `json:"silent_before,omitempty"`
	Reason       string        `json:"reason"`
	Health       wire.Health   `json:"health"`
	Open         int           `json:"open"`
	Closed       int           `json:"closed"`
}

// History returns a box's newest n stored summaries from the index,
// newest first (no summary is decoded); ok is false when no such box is
// registered.
func (s *Server) History(id string, n int) (h []HistoryEntry, b Box, ok bool, err error) {
	err = s.db.View(func(tx Tx) error {
		if b, ok, err = tx.Box(id); err != nil || !ok {
			return err
		}
		h, err = history(tx, b, 0, n)
		return err
	})
	return h, b, ok, err
}

// history reads n+1 index rows, the oldest only to tell the silence
// before the n-th.
func history(tx Tx, b Box, below uint64, n int) ([]HistoryEntry, error) {
	if n <= 0 {
		return nil, nil
	}
	es, err := tx.Entries(b.ID, below, n+1)
	if err != nil {
		return nil, err
	}
	out := make([]HistoryEntry, 0, len(es))
	for _, e := range es {
		out = append(out, HistoryEntry{Seq: e.Seq, Built: e.Time, Received: e.Received, Reason: e.Reason, Health: e.Health, Open: e.Open, Closed: e.Closed})
	}
	silent := 3 * time.Duration(b.Interval) * time.Second
	if silent <= 0 {
		silent = 15 * time.Minute
	}
	for i := 0; i+1 < len(out); i++ {
		if gap := out[i].Received.Sub(out[i+1].Received); gap > silent && !out[i+1].Received.IsZero() {
			out[i].SilentBefore = gap
		}
	}
	if len(out) > n {
		out = out[:n]
	}
	return out, nil
}

// Site is one box's page: its record, the newest summary's digest and
// the newest n index entries; no summary is decoded.
func (s *Server) Site(id string, before uint64, n int) (hqui.SiteView, bool, error) {
	var v hqui.SiteView
	var ok bool
	err := s.db.View(func(tx Tx) error {
		b, found, err := tx.Box(id)
		if err != nil || !found {
			return err
		}
		ok = true
		v.Row, v.Stored, v.StoredBytes = row(b, s), b.Stored, b.StoredBytes
		if pub, err := wire.ParsePublicKey(b.Key); err == nil {
			v.KeyID = wire.KeyID(pub)
		}
		if c := b.LastConflict; c != nil {
			v.LastConflict = &hqui.Conflict{Seq: c.Seq, At: c.At, Reason: c.Reason}
		}
		for _, c := range b.Commands {
			cr := hqui.CommandRow{ID: c.ID, Kind: c.Kind, What: c.What, Queued: c.Queued, Sent: c.Sent, LastSent: c.LastSent,
				Pending: c.Pending(), Closed: c.Closed, Result: c.Result, Detail: c.Detail, Seq: c.Seq, Incident: c.Incident, By: c.By}
			v.Commands = append(v.Commands, cr)
			if c.Kind == wire.KindAck && c.Result != Superseded {
				if v.Relayed == nil {
					v.Relayed = map[uint64]hqui.CommandRow{}
				}
				v.Relayed[c.Incident] = cr // oldest first: the newest stays
			}
		}
		d, err := tx.Latest(id)
		if err != nil {
			return err
		}
		if d != nil {
			v.Latest = &hqui.Latest{Seq: d.Seq, Time: d.Time, OpenIncidents: d.Open, MoreOpen: d.MoreOpen, SLA: d.SLA, Lost: d.Lost, Capacity: d.Capacity}
		}
		h, err := history(tx, b, before, n+1)
		if err != nil {
			return err
		}
		v.Before = before
		if n > 0 && len(h) > n {
			h = h[:n]
			v.Older = h[n-1].Seq
		}
		for _, e := range h {
			v.History = append(v.History, hqui.HistoryRow{Seq: e.Seq, Time: e.Built, Received: e.Received, SilentBefore: e.SilentBefore,
				Reason: e.Reason, Health: e.Health, Open: e.Open, Closed: e.Closed})
		}
		return nil
	})
	return v, ok, err
}

// Alerts is the alerts page's rows (hqui.Source).
func (s *Server) Alerts() ([]hqui.AlertRow, error) {
	alerts, err := s.ListAlerts()
	out := make([]hqui.AlertRow, len(alerts))
	for i, a := range alerts {
		out[i] = hqui.AlertRow{ID: a.ID, Box: a.Box, Site: a.Site, Kind: a.Kind, Summary: a.Summary, Opened: a.Opened, Acked: a.Acked, Resolved: a.Resolved, AckedBy: a.AckedBy}
	}
	return out, err
}

// LoginLimits is where the fleet pages count failed logins: in the
// database when instances share one (PostgreSQL), nil (in the pages'
// memory) for the single instance on bbolt.
func (s *Server) LoginLimits() hqui.SharedLimits {
	if l, ok := s.db.(hqui.SharedLimits); ok {
		return l
	}
	return nil
}
