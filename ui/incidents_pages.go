package ui

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

func init() { pages = append(pages, (*Server).incidentPages) }

// IncidentsView is the incident list.
type IncidentsView struct {
	All  bool
	Rows []IncidentRow
}

// IncidentRow is an incident in a table.
type IncidentRow struct {
	Incident
	Age    string
	Badges []string
}

// IncidentView is one incident's page.
type IncidentView struct {
	Row          IncidentRow
	CSRF         string
	CanAct       bool
	Remediations []string
	Msg, Err     string
}

func rowOfIncident(inc Incident, now time.Time) IncidentRow {
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
		r.Badges = append(r.Badges, "escalated")
	}
	if inc.Suspended {
		r.Badges = append(r.Badges, "healing suspended")
	}
	if inc.Resolution != "" {
		r.Badges = append(r.Badges, inc.Resolution)
	}
	return r
}

func (s *Server) incidentPages() {
	s.handle("GET", "/incidents", RoleViewer, func(w http.ResponseWriter, r *http.Request, sess *Session) error {
		all := r.URL.Query().Get("all") == "1"
		list, err := s.o.Backend.Incidents(!all, 200)
		if err != nil {
			return err
		}
		v := IncidentsView{All: all}
		now := s.o.Clock.Now()
		for _, inc := range list {
			v.Rows = append(v.Rows, rowOfIncident(inc, now))
		}
		return s.render(w, r, sess, "Incidents", incidentsView(v))
	})
	s.handle("GET", "/incidents/{id}", RoleViewer, func(w http.ResponseWriter, r *http.Request, sess *Session) error {
		return s.renderIncident(w, r, sess, r.URL.Query().Get("msg"), "")
	})
	s.handle("POST", "/incidents/{id}/act", RoleTechnician, func(w http.ResponseWriter, r *http.Request, sess *Session) error {
		id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
		if err != nil {
			return &Error{Code: http.StatusNotFound, Msg: "no such incident"}
		}
		verb := r.PostForm.Get("verb")
		note := strings.TrimSpace(r.PostForm.Get("note"))
		switch verb {
		case "ack", "note", "resolve":
		default:
			return &Error{Code: http.StatusBadRequest, Msg: fmt.Sprintf("unknown action %q", verb)}
		}
		if verb == "note" && note == "" {
			w.WriteHeader(http.StatusUnprocessableEntity)
			return s.renderIncident(w, r, sess, "", "write the note first")
		}
		if err := s.o.Backend.Act(id, verb, sess.User, note); err != nil {
			w.WriteHeader(http.StatusConflict)
			return s.renderIncident(w, r, sess, "", err.Error())
		}
		http.Redirect(w, r, fmt.Sprintf("/incidents/%d?msg=%s", id, map[string]string{"ack": "acknowledged", "note": "note+added", "resolve": "resolved"}[verb]), http.StatusSeeOther)
		return nil
	})
	s.handle("POST", "/incidents/{id}/heal", RoleTechnician, func(w http.ResponseWriter, r *http.Request, sess *Session) error {
		id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
		if err != nil {
			return &Error{Code: http.StatusNotFound, Msg: "no such incident"}
		}
		inc, err := s.o.Backend.Incident(id)
		if err != nil {
			return &Error{Code: http.StatusNotFound, Msg: err.Error()}
		}
		idx, err := strconv.Atoi(r.PostForm.Get("action"))
		if err != nil {
			return &Error{Code: http.StatusBadRequest, Msg: "choose a remediation"}
		}
		out, err := s.o.Backend.Heal(r.Context(), inc.Check, idx, sess.User)
		if err != nil {
			w.WriteHeader(http.StatusConflict)
			return s.renderIncident(w, r, sess, "", err.Error())
		}
		return s.renderIncident(w, r, sess, out, "")
	})
}

func (s *Server) renderIncident(w http.ResponseWriter, r *http.Request, sess *Session, msg, errMsg string) error {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil {
		return &Error{Code: http.StatusNotFound, Msg: "no such incident"}
	}
	inc, err := s.o.Backend.Incident(id)
	if err != nil {
		return &Error{Code: http.StatusNotFound, Msg: err.Error()}
	}
	v := IncidentView{Row: rowOfIncident(inc, s.o.Clock.Now()), CSRF: sess.CSRF, CanAct: sess.Role.AtLeast(RoleTechnician), Msg: msg, Err: errMsg, Remediations: s.o.Backend.Remediations(inc.Check)}
	return s.render(w, r, sess, fmt.Sprintf("Incident %d", id), incidentView(v))
}
