package hq

import (
	bolt "go.etcd.io/bbolt"

	"outpost/appliance/phonehome/wire"
	hqui "outpost/ui/hq"
)

var _ hqui.Source = (*Server)(nil)

func row(b Box, s *Server) hqui.FleetRow {
	site := b.Site
	if site == "" {
		site = "(not heard from yet)"
	}
	return hqui.FleetRow{ID: b.ID, Site: site, Version: b.Version, Health: b.Health, Open: b.Open, LastSeen: b.LastSeen,
		Silent: b.Silent(s.clock.Now()), Lost: b.Lost, Summaries: b.Summaries, Conflicts: b.Conflicts, Missing: b.Missing()}
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

// Site is one box's page: its record, the newest summary's digest and
// the newest n index entries; no summary is decoded.
func (s *Server) Site(id string, n int) (hqui.SiteView, bool, error) {
	var v hqui.SiteView
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		b, found, err := getBox(tx, id)
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
		d, err := getLatest(tx, id)
		if err != nil {
			return err
		}
		if d != nil {
			v.Latest = &hqui.Latest{Seq: d.Seq, Time: d.Time, OpenIncidents: d.Open, MoreOpen: d.MoreOpen, SLA: d.SLA, Lost: d.Lost}
		}
		ib := tx.Bucket(bucketIndex).Bucket([]byte(id))
		if ib == nil {
			return nil
		}
		c := ib.Cursor()
		for k, val := c.Last(); k != nil && len(v.History) < n; k, val = c.Prev() {
			e, err := unmarshalEntry(val)
			if err != nil {
				continue
			}
			v.History = append(v.History, hqui.HistoryRow{Seq: keySeq(k), Time: e.Time, Reason: e.Reason, Health: e.Health, Open: e.Open, Closed: e.Closed})
		}
		return nil
	})
	return v, ok, err
}
