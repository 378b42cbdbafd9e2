package hq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"outpost/appliance/phonehome/wire"
	"outpost/checks"
	"outpost/checks/incident"
	"outpost/notify"
)

// Who watches the watcher: hq turns what goes wrong with a box itself
// into an MSP incident (an alert) and notifies the MSP's staff through
// the notify package, the box's own channels, policies, escalation and
// on-call rotations. An alert is opened when a box
//
//   - goes silent: nothing heard for three of its intervals (kind
//     "silent"; resolved when it is heard again);
//   - reports summaries lost to its outbox quota (kind "lost", once per
//     growth of the count; resolved when acknowledged);
//   - reports a health problem of its own: checks missing their
//     schedule, or its clock not synchronised or judged wrong (kind
//     "health"; resolved when a summary no longer says so);
//   - reports critical incidents open, unacknowledged, while its own
//     notification channels fail: nobody may know (kind "undelivered";
//     resolved when a summary no longer says both).
//
// One instance runs the watcher at a time (Store.Lead); its alerts,
// notification states, outbox and delivery log are in the store, so the
// next leader carries on. Anyone logged in to the fleet pages, on any
// instance, acknowledges an alert; the leader tells the engine, which
// stops the reminders and tells whoever was notified.

// Alert kinds.
const (
	AlertSilent      = "silent"
	AlertLost        = "lost"
	AlertHealth      = "health"
	AlertUndelivered = "undelivered"
)

// Alert is an MSP incident at hq about one box.
type Alert struct {
	ID       uint64    `json:"id"`
	Box      string    `json:"box"`
	Site     string    `json:"site"`
	Kind     string    `json:"kind"`
	Summary  string    `json:"summary"`
	Opened   time.Time `json:"opened"`
	Acked    time.Time `json:"acked,omitzero"`
	AckedBy  string    `json:"acked_by,omitempty"`
	Resolved time.Time `json:"resolved,omitzero"`
	// Lost is, for a "lost" alert, the box's count of lost summaries it
	// reports; a later alert needs a higher one.
	Lost uint64 `json:"lost,omitempty"`
	// AckTold and ResolvedTold: the notify engine was told.
	AckTold      bool `json:"ack_told,omitempty"`
	ResolvedTold bool `json:"resolved_told,omitempty"`
}

// Open reports whether the alert is not resolved.
func (a Alert) Open() bool { return a.Resolved.IsZero() }

// Watch configures the watcher (`hq run --notify FILE`).
type Watch struct {
	Channels map[string]notify.Channel
	Policies []notify.Policy
	People   map[string][]string
	OnCalls  []notify.OnCall
	// Every is how often the boxes are looked at (default 10s).
	Every time.Duration
	// KeepClosed is how long resolved alerts are kept (default 90 days).
	KeepClosed time.Duration
	// RemoteWrite, when its URL is set, pushes the fleet series to the
	// MSP's Prometheus-compatible store (remotewrite.go).
	RemoteWrite RemoteWrite
}

// clockProblem is what a summary's clock report says is wrong, or "".
func clockProblem(c *wire.Clock) string {
	if c == nil {
		return ""
	}
	switch {
	case c.Status == "critical" || c.Status == "warning":
		return plain(fmt.Sprintf("clock %s: %s", c.Status, c.Detail))
	case c.Sync == "not synchronised":
		return "clock not synchronised"
	}
	return ""
}

// healthProblem is what is wrong with a box by its newest summary, "".
func healthProblem(b Box) string {
	var out []string
	if b.Behind > 0 {
		out = append(out, fmt.Sprintf("%d checks missing their schedule", b.Behind))
	}
	if b.ClockProblem != "" {
		out = append(out, b.ClockProblem)
	}
	return strings.Join(out, "; ")
}

// undelivered says what a box's summary reports of critical incidents
// its notifications may not have reached anyone about, or "".
func undelivered(b Box) string {
	if b.OpenCritical == 0 || len(b.NotifyFailing) == 0 {
		return ""
	}
	var chs []string
	for _, f := range b.NotifyFailing {
		c := fmt.Sprintf("%s (%d failures since %s", f.Channel, f.Failures, f.Since.UTC().Format("2006-01-02 15:04 UTC"))
		if f.Error != "" {
			c += ": " + f.Error
		}
		chs = append(chs, c+")")
	}
	return fmt.Sprintf("%d critical incidents open and unacknowledged while the box's notifications fail: %s", b.OpenCritical, strings.Join(chs, "; "))
}

// ListAlerts lists the alerts, open ones first, newest first.
func (s *Server) ListAlerts() ([]Alert, error) {
	var out []Alert
	err := s.db.View(func(tx Tx) error {
		out = out[:0]
		return tx.Docs(docAlert, func(id uint64, doc []byte) error {
			var a Alert
			if json.Unmarshal(doc, &a) == nil {
				out = append(out, a)
			}
			return nil
		})
	})
	slices.SortFunc(out, func(a, b Alert) int {
		if a.Open() != b.Open() {
			if a.Open() {
				return -1
			}
			return 1
		}
		return b.Opened.Compare(a.Opened)
	})
	return out, err
}

// ErrNoAlert is returned for an alert that does not exist or is closed.
var ErrNoAlert = errors.New("no such open alert")

// AckAlert records who acknowledged an open alert; the watcher's leader
// tells the notify engine at its next look.
func (s *Server) AckAlert(id uint64, by string) error {
	now := s.clock.Now().UTC()
	return s.db.Update(func(tx Tx) error {
		doc, err := tx.Doc(docAlert, id)
		if err != nil {
			return err
		}
		var a Alert
		if doc == nil || json.Unmarshal(doc, &a) != nil || !a.Open() {
			return ErrNoAlert
		}
		if !a.Acked.IsZero() {
			return nil
		}
		a.Acked, a.AckedBy = now, plain(by)
		return putAlert(tx, a)
	})
}

func putAlert(tx Tx, a Alert) error {
	v, err := json.Marshal(a)
	if err != nil {
		return err
	}
	return tx.PutDoc(docAlert, a.ID, v)
}

// incidentOf is an alert as the notify engine is told about it: the
// box's site as the site, the box as the device, the kind as the check,
// so that policies match on them (checks: [silent], devices: [ob-…]).
func incidentOf(a Alert) notify.Incident {
	sev := checks.SeverityWarning
	if a.Kind == AlertSilent || a.Kind == AlertUndelivered {
		sev = checks.SeverityCritical
	}
	inc := notify.Incident{Site: a.Site, Labels: map[string]string{"box": a.Box, "kind": a.Kind}}
	m := &inc.Incident
	m.ID, m.Check, m.Kind, m.Device, m.Group, m.Summary = a.ID, a.Kind, "hq", a.Box, "boxes", a.Summary
	m.Severity, m.Status, m.State, m.Opened = sev, checks.Critical, incident.Open, a.Opened
	if sev == checks.SeverityWarning {
		m.Status = checks.Warning
	}
	if !a.Acked.IsZero() {
		t := a.Acked
		m.Acked, m.AckedBy, m.State = &t, a.AckedBy, incident.Acknowledged
	}
	if !a.Resolved.IsZero() {
		t := a.Resolved
		m.Resolved, m.State, m.Resolution = &t, incident.Resolved, incident.ResolvedByItself
		if a.Kind == AlertLost {
			m.Resolution = incident.ByTechnician
		}
	}
	return inc
}

// RunWatch runs the watcher until ctx ends: it waits to lead, then
// watches while it leads.
func (s *Server) RunWatch(ctx context.Context, w Watch) {
	if w.Every <= 0 {
		w.Every = 10 * time.Second
	}
	if w.KeepClosed <= 0 {
		w.KeepClosed = 90 * 24 * time.Hour
	}
	t := s.clock.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
		lost, release, ok, err := s.db.Lead(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.Error("hq: watcher: cannot tell whether this instance should lead", "err", err)
		case ok:
			s.log.Info("hq: this instance runs the watcher (silent boxes, MSP alerts, their notifications)")
			s.metrics.leader.Set(1)
			lctx, cancel := context.WithCancel(ctx)
			go func() {
				select {
				case <-lost:
					s.log.Warn("hq: watcher lead lost (database connection broke); another instance takes over")
				case <-lctx.Done():
				}
				cancel()
			}()
			if err := s.lead(lctx, w); err != nil && lctx.Err() == nil {
				s.log.Error("hq: watcher stopped", "err", err)
			}
			cancel()
			release()
			s.metrics.leader.Set(0)
		}
		t.Reset(w.Every)
	}
}

func (s *Server) lead(ctx context.Context, w Watch) error {
	eng, err := notify.New(notify.Options{Outbox: notify.NewOutbox(notifyDocs{s.db}), Clock: s.clock, Log: s.log,
		Channels: w.Channels, Policies: w.Policies, People: w.People, OnCalls: w.OnCalls})
	if err != nil {
		return err
	}
	alerts, err := s.ListAlerts()
	if err != nil {
		return err
	}
	var open []notify.Incident
	byID := map[uint64]Alert{}
	for _, a := range alerts {
		byID[a.ID] = a
		if a.Open() {
			open = append(open, incidentOf(a))
		}
	}
	// What the previous leader did not finish: first messages never
	// queued, acknowledgements and resolutions not told.
	if err := eng.Reconcile(open, func(id uint64) (notify.Incident, bool, error) {
		a, ok := byID[id]
		return incidentOf(a), ok, nil
	}); err != nil {
		s.log.Error("hq: watcher: settling the notification state", "err", err)
	}
	done := make(chan struct{})
	go func() { eng.Run(ctx); close(done) }()
	defer func() { <-done }()
	if w.RemoteWrite.URL != "" {
		wrote := make(chan struct{})
		go func() { s.runRemoteWrite(ctx, w.RemoteWrite); close(wrote) }()
		defer func() { <-wrote }()
	}
	t := s.clock.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C():
		}
		if err := s.watchOnce(eng, w); err != nil {
			s.log.Error("hq: watcher", "err", err)
		}
		t.Reset(w.Every)
	}
}

// watchOnce looks at every box once: opens, acknowledges and resolves
// alerts, and tells the engine.
func (s *Server) watchOnce(eng *notify.Engine, w Watch) error {
	now := s.clock.Now().UTC()
	boxes, err := s.Boxes()
	if err != nil {
		return err
	}
	alerts, err := s.ListAlerts()
	if err != nil {
		return err
	}
	open := map[string]Alert{} // box/kind
	lostCovered := map[string]uint64{}
	for _, a := range alerts {
		if a.Open() {
			open[a.Box+"/"+a.Kind] = a
		}
		if a.Kind == AlertLost {
			lostCovered[a.Box] = max(lostCovered[a.Box], a.Lost)
		}
	}
	var opened, changed []Alert
	for _, b := range boxes {
		site := b.Site
		if site == "" {
			site = b.ID
		}
		want := map[string]string{}
		if !b.LastSeen.IsZero() && b.Silent(now) {
			want[AlertSilent] = fmt.Sprintf("box silent since %s (no summary for %s, three intervals are %s)",
				b.LastSeen.UTC().Format("2006-01-02 15:04:05 UTC"), now.Sub(b.LastSeen).Round(time.Second), 3*time.Duration(max(b.Interval, 1))*time.Second)
		}
		if p := healthProblem(b); p != "" {
			want[AlertHealth] = "box health: " + p
		}
		if p := undelivered(b); p != "" {
			want[AlertUndelivered] = p
		}
		for kind, summary := range want {
			if _, ok := open[b.ID+"/"+kind]; !ok {
				opened = append(opened, Alert{Box: b.ID, Site: site, Kind: kind, Summary: summary, Opened: now})
			}
		}
		if b.Lost > lostCovered[b.ID] && open[b.ID+"/"+AlertLost].ID == 0 {
			opened = append(opened, Alert{Box: b.ID, Site: site, Kind: AlertLost, Opened: now, Lost: b.Lost,
				Summary: fmt.Sprintf("the box dropped summaries its outbox could not hold: %d lost in all (%d more than acknowledged before)", b.Lost, b.Lost-lostCovered[b.ID])})
		}
		for _, kind := range []string{AlertSilent, AlertHealth, AlertUndelivered} {
			if a, ok := open[b.ID+"/"+kind]; ok && want[kind] == "" {
				a.Resolved = now
				changed = append(changed, a)
			}
		}
	}
	for _, a := range open {
		if !a.Acked.IsZero() && !a.AckTold {
			eng.Acknowledged(a.ID, a.AckedBy, "acknowledged")
			a.AckTold = true
			if a.Kind == AlertLost {
				a.Resolved = now
			}
			changed = append(changed, a)
		}
	}
	for i := range opened {
		a := &opened[i]
		if err := s.db.Update(func(tx Tx) error {
			id, err := tx.NextDoc(docAlert)
			if err != nil {
				return err
			}
			a.ID = id
			return putAlert(tx, *a)
		}); err != nil {
			return err
		}
		s.log.Warn("hq: MSP alert opened", "alert", a.ID, "box", a.Box, "site", a.Site, "kind", a.Kind, "summary", a.Summary)
		eng.Opened(incidentOf(*a))
	}
	for _, a := range changed {
		var cur Alert
		if err := s.db.Update(func(tx Tx) error {
			doc, err := tx.Doc(docAlert, a.ID)
			if err != nil || doc == nil {
				return err
			}
			if err := json.Unmarshal(doc, &cur); err != nil {
				return err
			}
			// Acknowledged meanwhile elsewhere: keep who did.
			if cur.Acked.IsZero() {
				cur.Acked, cur.AckedBy = a.Acked, a.AckedBy
			}
			cur.AckTold = cur.AckTold || a.AckTold
			if !a.Resolved.IsZero() && cur.Resolved.IsZero() {
				cur.Resolved = a.Resolved
			}
			cur.ResolvedTold = !cur.Resolved.IsZero()
			return putAlert(tx, cur)
		}); err != nil {
			return err
		}
		if !a.Resolved.IsZero() {
			s.log.Info("hq: MSP alert resolved", "alert", a.ID, "box", a.Box, "kind", a.Kind)
			eng.Resolved(incidentOf(cur), 0)
		}
	}
	return s.pruneAlerts(now.Add(-w.KeepClosed))
}

// pruneAlerts deletes alerts resolved before cut.
func (s *Server) pruneAlerts(cut time.Time) error {
	var old []uint64
	alerts, err := s.ListAlerts()
	if err != nil {
		return err
	}
	for _, a := range alerts {
		if !a.Open() && a.Resolved.Before(cut) {
			old = append(old, a.ID)
		}
	}
	if len(old) == 0 {
		return nil
	}
	return s.db.Update(func(tx Tx) error {
		for _, id := range old {
			if err := tx.DeleteDoc(docAlert, id); err != nil {
				return err
			}
		}
		return nil
	})
}
