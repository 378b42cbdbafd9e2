package ui

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"outpost/checks/incident"
)

func init() { pages = append(pages, (*Server).incidentPages) }

// IncidentsBackend is what the incident list and an incident's page read
// and do.
type IncidentsBackend interface {
	// Incidents lists incidents newest first (open ones only if open), at
	// most limit; errors are internal.
	Incidents(open bool, limit int) ([]incident.Incident, error)
	// Incident returns one incident. An unknown id is ENOTFOUND.
	Incident(id uint64) (incident.Incident, error)
	// Act acknowledges, notes or resolves an incident as user. An
	// unknown id is ENOTFOUND, an unknown verb EBADREQUEST, an action the
	// incident's state refuses (already acknowledged, already resolved)
	// ECONFLICT.
	Act(id uint64, verb, user, note string) error
	// Remediations lists a check's remediations, in order.
	Remediations(check string) []string
	// Heal runs remediation index (0-based) of a check as user and says
	// what happened. A check no longer configured is ENOTFOUND; a
	// remediation it does not have (any more) ECONFLICT.
	Heal(ctx context.Context, check string, index int, user string) (string, error)
}

// IncidentsView is the incident list.
type IncidentsView struct {
	All  bool
	Rows []IncidentRow
	// Closed says, on the Open tab, that resolved incidents exist (under
	// All).
	Closed bool
}

// IncidentRow is an incident in a table and on its page: the incident
// as the engine keeps it, and what the page says of it.
type IncidentRow struct {
	incident.Incident
	Age    string
	Badges []string
	// Word and Class are its badge: the status while it is open; once
	// resolved "healed" (a remediation fixed it) or "resolved", never
	// the red status it opened with.
	Word, Class string
	// Ended says when and how it ended ("" while open): "healed Jan 2
	// 15:04:05, 3m after detection".
	Ended string
}

// IncidentView is one incident's page.
type IncidentView struct {
	Row          IncidentRow
	CSRF         string
	CanAct       bool
	Remediations []string
	Msg, Err     string
}

// rowOfIncident is the one place an incident becomes what pages show.
func rowOfIncident(inc incident.Incident, now time.Time) IncidentRow {
	end := now
	if inc.Resolved != nil {
		end = *inc.Resolved
	}
	r := IncidentRow{Incident: inc, Age: Age(end.Sub(inc.Opened))}
	if inc.Flapping {
		r.Badges = append(r.Badges, "flapping")
	}
	if inc.InMaintenance {
		r.Badges = append(r.Badges, "maintenance")
	}
	if inc.Escalated {
		r.Badges = append(r.Badges, "needs technician")
	}
	if inc.HealingSuspended {
		r.Badges = append(r.Badges, "healing suspended")
	}
	r.Word, r.Class = inc.Status.String(), "st-"+inc.Status.String()
	if inc.Resolved != nil {
		how := "resolved"
		switch inc.Resolution {
		case incident.SelfHealed:
			how = "healed"
		case incident.ResolvedByItself:
			how = "recovered"
		case incident.ByTechnician:
			how = "resolved by hand"
		}
		r.Word, r.Class = "resolved", "st-resolved"
		if inc.SelfHealed() {
			r.Word, r.Class = "healed", "st-healed"
		}
		took := inc.Resolved.Sub(inc.Opened)
		after := Age(took)
		if took < time.Minute {
			after = fmt.Sprintf("%ds", int(took.Round(time.Second)/time.Second))
		}
		r.Ended = fmt.Sprintf("%s %s, %s after detection", how, inc.Resolved.Format("Jan 2 15:04:05"), after)
	} else if inc.Resolution != "" {
		r.Badges = append(r.Badges, inc.Resolution)
	}
	return r
}

func (s *Server) incidentPages() {
	b := s.o.Incidents
	if b == nil {
		return
	}
	s.handle("GET", "/incidents", RoleViewer, func(w http.ResponseWriter, r *http.Request, sess *Session) error {
		all := r.URL.Query().Get("all") == "1"
		list, err := b.Incidents(!all, 200)
		if err != nil {
			return err
		}
		v := IncidentsView{All: all}
		if !all && len(list) == 0 {
			any, err := b.Incidents(false, 1)
			if err != nil {
				return err
			}
			v.Closed = len(any) > 0
		}
		now := s.o.Clock.Now()
		for _, inc := range list {
			v.Rows = append(v.Rows, rowOfIncident(inc, now))
		}
		return s.render(w, r, sess, "Incidents", incidentsView(v))
	})
	s.handle("GET", "/incidents/{id}", RoleViewer, func(w http.ResponseWriter, r *http.Request, sess *Session) error {
		return s.renderIncident(b, w, r, sess, r.URL.Query().Get("msg"), "")
	})
	s.handle("POST", "/incidents/{id}/act", RoleTechnician, func(w http.ResponseWriter, r *http.Request, sess *Session) error {
		id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
		if err != nil {
			return Errorf(ENOTFOUND, "no such incident")
		}
		verb := r.PostForm.Get("verb")
		note := strings.TrimSpace(r.PostForm.Get("note"))
		switch verb {
		case "ack", "note", "resolve":
		default:
			return Errorf(EBADREQUEST, "unknown action %q", verb)
		}
		if verb == "note" && note == "" {
			return s.renderIncident(b, w, r, sess, "", s.report(w, r, Errorf(EINVALID, "write the note first")))
		}
		if err := b.Act(id, verb, sess.User, note); err != nil {
			return s.renderIncident(b, w, r, sess, "", s.report(w, r, err))
		}
		http.Redirect(w, r, fmt.Sprintf("/incidents/%d?msg=%s", id, map[string]string{"ack": "acknowledged", "note": "note+added", "resolve": "resolved"}[verb]), http.StatusSeeOther)
		return nil
	})
	s.handle("POST", "/incidents/{id}/heal", RoleTechnician, func(w http.ResponseWriter, r *http.Request, sess *Session) error {
		id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
		if err != nil {
			return Errorf(ENOTFOUND, "no such incident")
		}
		inc, err := b.Incident(id)
		if err != nil {
			return err
		}
		idx, err := strconv.Atoi(r.PostForm.Get("action"))
		if err != nil {
			return Errorf(EBADREQUEST, "choose a remediation")
		}
		out, err := b.Heal(r.Context(), inc.Check, idx, sess.User)
		if err != nil {
			return s.renderIncident(b, w, r, sess, "", s.report(w, r, err))
		}
		return s.renderIncident(b, w, r, sess, out, "")
	})
}

func (s *Server) renderIncident(b IncidentsBackend, w http.ResponseWriter, r *http.Request, sess *Session, msg, errMsg string) error {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil {
		return Errorf(ENOTFOUND, "no such incident")
	}
	inc, err := b.Incident(id)
	if err != nil {
		return err
	}
	v := IncidentView{Row: rowOfIncident(inc, s.o.Clock.Now()), CSRF: sess.CSRF, CanAct: sess.Role.AtLeast(RoleTechnician), Msg: msg, Err: errMsg, Remediations: b.Remediations(inc.Check)}
	return s.render(w, r, sess, fmt.Sprintf("Incident %d", id), incidentView(v))
}
