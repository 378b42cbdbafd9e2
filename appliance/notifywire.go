package appliance

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"outpost/appliance/incidents"
	"outpost/notify"
	"outpost/store"
)

// ackSecret is the box's key for acknowledge links, made on first boot.
func ackSecret(st *store.Store) ([]byte, error) {
	fresh := make([]byte, 32)
	rand.Read(fresh)
	return st.PutBlobIfAbsent("ack-secret", fresh)
}

// notifyIncident is the incident with what only the config knows: the
// site, the parent it sits behind (for grouping) and whether
// self-healing is still at work (the first message waits for it, up to
// the policy's grace).
func (a *Appliance) notifyIncident(inc incidents.Incident) notify.Incident {
	cfg := a.Config()
	n := notify.Incident{Incident: inc, Site: cfg.Site}
	if d := cfg.Device(inc.Device); d != nil && d.Parent != "" {
		n.Parent = "device:" + d.Parent
	}
	for i := range cfg.Checks {
		ch := &cfg.Checks[i]
		if ch.ID != inc.Check {
			continue
		}
		if ch.DependsOn != "" {
			n.Parent = "check:" + ch.DependsOn
		}
		n.HealingPending = inc.IsOpen() && len(ch.Remediations) > 0 && !inc.Escalated && !inc.HealingSuspended && !inc.InMaintenance
	}
	return n
}

// onIncident feeds incident events to the notification engine.
func (a *Appliance) onIncident(inc incidents.Incident, ev incidents.Event) {
	a.log.Info("incident "+string(ev.Kind), "id", inc.ID, "check", inc.Check, "text", ev.Text)
	switch ev.Kind {
	case incidents.Detected:
		a.kickPhoneHome("incident_opened")
	case incidents.Resolve:
		a.kickPhoneHome("incident_resolved")
	}
	if a.notify == nil {
		return
	}
	n := a.notifyIncident(inc)
	switch ev.Kind {
	case incidents.Detected:
		a.notify.Opened(n)
	case incidents.Ack:
		a.notify.Updated(n)
		a.notify.Acknowledged(inc.ID, ev.By, ev.Text)
	case incidents.Resolve:
		took := time.Duration(0)
		if inc.Resolved != nil {
			took = inc.Resolved.Sub(inc.Opened)
		}
		a.notify.Resolved(n, took)
	case incidents.Notified:
	default:
		a.notify.Updated(n)
	}
}

// reconcileNotify settles the notification state against the incidents
// as stored, once at start (notify.Engine.Reconcile): the two engines
// commit apart, and a daemon killed between an incident's commit and its
// notification's would otherwise never notify an incident it opened, or
// remind forever about one it resolved.
func (a *Appliance) reconcileNotify() error {
	open, err := a.inc.List(true, 0)
	if err != nil {
		return fmt.Errorf("reconciling notifications: listing open incidents: %w", err)
	}
	ns := make([]notify.Incident, 0, len(open))
	for _, inc := range open {
		ns = append(ns, a.notifyIncident(inc))
	}
	return a.notify.Reconcile(ns, func(id uint64) (notify.Incident, bool, error) {
		inc, err := a.inc.Get(id)
		if errors.Is(err, incidents.ErrNotFound) {
			return notify.Incident{}, false, nil
		}
		if err != nil {
			return notify.Incident{}, false, err
		}
		return a.notifyIncident(inc), true, nil
	})
}

func (a *Appliance) ackURL(id uint64) string {
	if link, ok := a.relayAckLink(id); ok {
		return link
	}
	cfg := notify.ConfigOf(a.Config())
	if cfg.AckBaseURL == "" {
		return ""
	}
	tok := notify.MakeAckToken(a.ackKey, id, a.o.Clock.Now().Add(cfg.AckValid))
	return strings.TrimRight(cfg.AckBaseURL, "/") + "/ack/" + tok
}

// ackHandler serves the acknowledge links in notifications (notify's
// AckHandler: GET shows, POST acknowledges once; the signed token is the
// credential).
func (a *Appliance) ackHandler() http.Handler {
	return &notify.AckHandler{
		Secret: a.ackKey,
		Clock:  a.o.Clock,
		Used:   a.store,
		Describe: func(id uint64) (string, string, bool, error) {
			inc, err := a.inc.Get(id)
			if err != nil {
				return "", "", false, err
			}
			title := fmt.Sprintf("Incident %d: %s on %s", inc.ID, inc.Check, inc.Device)
			text := fmt.Sprintf("%s, %s since %s: %s.", inc.Status, inc.State, inc.Opened.Format("2006-01-02 15:04"), inc.Summary)
			return title, text, inc.State == incidents.Open, nil
		},
		Ack: func(id uint64, by string) error {
			_, err := a.inc.Acknowledge(id, by, "")
			return err
		},
	}
}
