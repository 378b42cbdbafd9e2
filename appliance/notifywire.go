package appliance

import (
	"crypto/rand"
	"fmt"
	"html/template"
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

func notifyIncident(site string, inc incidents.Incident) notify.Incident {
	n := notify.Incident{ID: inc.ID, Site: site, Check: inc.Check, Device: inc.Device, Group: inc.Group, Severity: inc.Severity,
		Status: inc.Status.String(), Summary: inc.Summary, Opened: inc.Opened, InMaintenance: inc.InMaintenance, Flapping: inc.Flapping,
		SelfHealed: inc.Resolution == "self-healed"}
	for _, ev := range inc.Timeline {
		if ev.Kind == incidents.Healing {
			n.Healing = append(n.Healing, ev.Text)
		}
	}
	return n
}

// onIncident feeds incident events to the notification engine.
func (a *Appliance) onIncident(inc incidents.Incident, ev incidents.Event) {
	a.log.Info("incident "+string(ev.Kind), "id", inc.ID, "check", inc.Check, "text", ev.Text)
	if a.notify == nil {
		return
	}
	n := notifyIncident(a.Config().Site, inc)
	switch ev.Kind {
	case incidents.Detected:
		a.notify.Opened(n)
	case incidents.Ack:
		a.notify.Acknowledged(inc.ID)
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

func (a *Appliance) ackURL(id uint64) string {
	cfg := a.Config()
	if cfg.Notify.AckBaseURL == "" {
		return ""
	}
	tok := notify.MakeAckToken(a.ackKey, id, a.o.Clock.Now().Add(cfg.Notify.AckValid))
	return strings.TrimRight(cfg.Notify.AckBaseURL, "/") + "/ack/" + tok
}

var ackPage = template.Must(template.New("ack").Parse(`<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Acknowledge · Outpost</title><link rel="stylesheet" href="/static/style.css"></head>
<body><main><section class="card narrow"><h1>{{.Title}}</h1>{{if .Error}}<p class="error" role="alert">{{.Error}}</p>{{end}}{{if .Text}}<p>{{.Text}}</p>{{end}}
{{if .Form}}<form method="post"><label for="by">Your name</label><input id="by" name="by" required autocomplete="name"><button type="submit" data-testid="ack-link">Acknowledge</button></form>{{end}}</section></main></body></html>`))

// ackHandler serves the acknowledge links in notifications: GET shows the
// incident and a button (mail scanners that open links must not
// acknowledge), POST acknowledges once. No login: the signed token is the
// credential, bound to one incident, expiring, single use.
func (a *Appliance) ackHandler() http.Handler {
	mux := http.NewServeMux()
	page := func(w http.ResponseWriter, code int, v map[string]any) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Referrer-Policy", "no-referrer")
		w.WriteHeader(code)
		ackPage.Execute(w, v)
	}
	check := func(w http.ResponseWriter, r *http.Request) (incidents.Incident, bool) {
		id, err := notify.CheckAckToken(a.ackKey, r.PathValue("token"), a.o.Clock.Now())
		if err != nil {
			page(w, http.StatusForbidden, map[string]any{"Title": "Link not valid", "Error": err.Error()})
			return incidents.Incident{}, false
		}
		inc, err := a.inc.Get(id)
		if err != nil {
			page(w, http.StatusNotFound, map[string]any{"Title": "Unknown incident", "Error": err.Error()})
			return inc, false
		}
		return inc, true
	}
	mux.HandleFunc("GET /ack/{token}", func(w http.ResponseWriter, r *http.Request) {
		if inc, ok := check(w, r); ok {
			page(w, http.StatusOK, map[string]any{"Title": fmt.Sprintf("Incident %d: %s on %s", inc.ID, inc.Check, inc.Device), "Text": fmt.Sprintf("%s, %s since %s: %s", inc.Status, inc.State, inc.Opened.Format("2006-01-02 15:04"), inc.Summary), "Form": inc.State == incidents.Open})
		}
	})
	mux.HandleFunc("POST /ack/{token}", func(w http.ResponseWriter, r *http.Request) {
		inc, ok := check(w, r)
		if !ok {
			return
		}
		fresh, err := a.store.UseOnce(r.PathValue("token"))
		if err != nil || !fresh {
			page(w, http.StatusForbidden, map[string]any{"Title": "Link already used", "Error": "this acknowledge link was used already; open the box's web UI"})
			return
		}
		by := strings.TrimSpace(r.FormValue("by"))
		if by == "" {
			by = "someone"
		}
		if _, err := a.inc.Acknowledge(inc.ID, by+" (via link)", ""); err != nil {
			page(w, http.StatusConflict, map[string]any{"Title": "Not acknowledged", "Error": err.Error()})
			return
		}
		page(w, http.StatusOK, map[string]any{"Title": "Acknowledged", "Text": fmt.Sprintf("Incident %d (%s on %s) is yours. Reminders stop.", inc.ID, inc.Check, inc.Device)})
	})
	return mux
}
