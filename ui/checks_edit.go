package ui

import (
	"errors"
	"net/http"
	"strings"
)

func init() { pages = append(pages, (*Server).checkEditPages) }

// CheckEditBackend is what the add, edit and delete check pages and the
// config export read and do.
type CheckEditBackend interface {
	// Kinds lists the check kinds this build knows.
	Kinds() []string
	// CheckForm returns a configured check for editing (ok false for a
	// check not in the config).
	CheckForm(id string) (f CheckForm, ok bool)
	// SaveCheck replaces check orig (adds one when orig is "") and
	// applies the config as a new version. Validation problems come back
	// as a *FormError, an unknown orig as ENOTFOUND.
	SaveCheck(orig string, f CheckForm, user string) error
	// DeleteCheck removes a check from the config. An unknown check is
	// ENOTFOUND; a config that would not validate without it ECONFLICT.
	DeleteCheck(id, user string) error
	// ConfigYAML is the config in force.
	ConfigYAML() []byte
}

// CheckForm is the add/edit check form.
type CheckForm struct {
	ID, Kind, Target, Interval, Timeout, Device, Group, Severity, Options string
}

// CheckFormView is the add/edit page.
type CheckFormView struct {
	Orig     string
	Form     CheckForm
	Kinds    []string
	Problems []string
	CSRF     string
}

func (s *Server) checkEditPages() {
	b := s.o.CheckEdit
	if b == nil {
		return
	}
	s.handle("GET", "/checks/new", RoleAdmin, func(w http.ResponseWriter, r *http.Request, sess *Session) error {
		f := CheckForm{Interval: "60s", Severity: "critical", Kind: "http"}
		// A link may fill the form in (the log rules page's "Add").
		q := r.URL.Query()
		for _, x := range []struct {
			dst  *string
			name string
		}{{&f.ID, "id"}, {&f.Kind, "kind"}, {&f.Target, "target"}, {&f.Options, "options"}} {
			if v := q.Get(x.name); v != "" {
				*x.dst = v
			}
		}
		return s.render(w, r, sess, "Add a check", checkFormView(CheckFormView{Form: f, Kinds: b.Kinds(), CSRF: sess.CSRF}))
	})
	s.handle("GET", "/checks/{id}/edit", RoleAdmin, func(w http.ResponseWriter, r *http.Request, sess *Session) error {
		f, ok := b.CheckForm(r.PathValue("id"))
		if !ok {
			return Errorf(ENOTFOUND, "no check %s", r.PathValue("id"))
		}
		return s.render(w, r, sess, "Edit "+f.ID, checkFormView(CheckFormView{Orig: f.ID, Form: f, Kinds: b.Kinds(), CSRF: sess.CSRF}))
	})
	save := func(w http.ResponseWriter, r *http.Request, sess *Session, orig string) error {
		f := CheckForm{}
		for _, x := range []struct {
			dst  *string
			name string
		}{{&f.ID, "id"}, {&f.Kind, "kind"}, {&f.Target, "target"}, {&f.Interval, "interval"}, {&f.Timeout, "timeout"}, {&f.Device, "device"}, {&f.Group, "group"}, {&f.Severity, "severity"}, {&f.Options, "options"}} {
			*x.dst = strings.TrimSpace(r.PostForm.Get(x.name))
		}
		err := b.SaveCheck(orig, f, sess.User)
		var fe *FormError
		if errors.As(err, &fe) {
			writeStatus(w, fe)
			return s.render(w, r, sess, "Check", checkFormView(CheckFormView{Orig: orig, Form: f, Kinds: b.Kinds(), Problems: fe.Problems, CSRF: sess.CSRF}))
		}
		if err != nil {
			return err
		}
		s.o.Log.Info("check saved from the UI", "check", f.ID, "by", sess.User)
		http.Redirect(w, r, "/checks/"+f.ID, http.StatusSeeOther)
		return nil
	}
	s.handle("POST", "/checks/new", RoleAdmin, func(w http.ResponseWriter, r *http.Request, sess *Session) error {
		return save(w, r, sess, "")
	})
	s.handle("POST", "/checks/{id}/edit", RoleAdmin, func(w http.ResponseWriter, r *http.Request, sess *Session) error {
		return save(w, r, sess, r.PathValue("id"))
	})
	s.handle("POST", "/checks/{id}/delete", RoleAdmin, func(w http.ResponseWriter, r *http.Request, sess *Session) error {
		if err := b.DeleteCheck(r.PathValue("id"), sess.User); err != nil {
			return err
		}
		s.o.Log.Info("check deleted from the UI", "check", r.PathValue("id"), "by", sess.User)
		http.Redirect(w, r, "/checks", http.StatusSeeOther)
		return nil
	})
	s.handle("GET", "/settings/config.yaml", RoleAdmin, func(w http.ResponseWriter, r *http.Request, sess *Session) error {
		w.Header().Set("Content-Type", "application/yaml; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="outpost-site.yaml"`)
		_, err := w.Write(b.ConfigYAML())
		return err
	})
}
