package ui

import (
	"errors"
	"net/http"
	"strings"
)

func init() { pages = append(pages, (*Server).checkEditPages) }

// CheckFormView is the add/edit page.
type CheckFormView struct {
	Orig     string
	Form     CheckForm
	Kinds    []string
	Problems []string
	CSRF     string
}

func (s *Server) checkEditPages() {
	s.handle("GET", "/checks/new", RoleAdmin, func(w http.ResponseWriter, r *http.Request, sess *Session) error {
		return s.render(w, r, sess, "Add a check", checkFormView(CheckFormView{Form: CheckForm{Interval: "60s", Severity: "critical", Kind: "http"}, Kinds: s.o.Backend.Kinds(), CSRF: sess.CSRF}))
	})
	s.handle("GET", "/checks/{id}/edit", RoleAdmin, func(w http.ResponseWriter, r *http.Request, sess *Session) error {
		f, ok := s.o.Backend.CheckForm(r.PathValue("id"))
		if !ok {
			return &Error{Code: http.StatusNotFound, Msg: "no check " + r.PathValue("id")}
		}
		return s.render(w, r, sess, "Edit "+f.ID, checkFormView(CheckFormView{Orig: f.ID, Form: f, Kinds: s.o.Backend.Kinds(), CSRF: sess.CSRF}))
	})
	save := func(w http.ResponseWriter, r *http.Request, sess *Session, orig string) error {
		f := CheckForm{}
		for _, x := range []struct {
			dst  *string
			name string
		}{{&f.ID, "id"}, {&f.Kind, "kind"}, {&f.Target, "target"}, {&f.Interval, "interval"}, {&f.Timeout, "timeout"}, {&f.Device, "device"}, {&f.Group, "group"}, {&f.Severity, "severity"}, {&f.Options, "options"}} {
			*x.dst = strings.TrimSpace(r.PostForm.Get(x.name))
		}
		err := s.o.Backend.SaveCheck(orig, f, sess.User)
		var fe *FormError
		if errors.As(err, &fe) {
			w.WriteHeader(http.StatusUnprocessableEntity)
			return s.render(w, r, sess, "Check", checkFormView(CheckFormView{Orig: orig, Form: f, Kinds: s.o.Backend.Kinds(), Problems: fe.Problems, CSRF: sess.CSRF}))
		}
		if err != nil {
			return &Error{Code: http.StatusConflict, Msg: err.Error()}
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
		if err := s.o.Backend.DeleteCheck(r.PathValue("id"), sess.User); err != nil {
			return &Error{Code: http.StatusConflict, Msg: err.Error()}
		}
		s.o.Log.Info("check deleted from the UI", "check", r.PathValue("id"), "by", sess.User)
		http.Redirect(w, r, "/checks", http.StatusSeeOther)
		return nil
	})
	s.handle("GET", "/settings/config.yaml", RoleAdmin, func(w http.ResponseWriter, r *http.Request, sess *Session) error {
		w.Header().Set("Content-Type", "application/yaml; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="outpost-site.yaml"`)
		_, err := w.Write(s.o.Backend.ConfigYAML())
		return err
	})
}
