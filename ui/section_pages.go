package ui

import (
	"errors"
	"net/http"
)

func init() { pages = append(pages, (*Server).sectionPages) }

// SectionView is the YAML editor for one config section.
type SectionView struct {
	Name, Text string
	Problems   []string
	CSRF       string
}

// sectionHelp says what each editable section holds.
var sectionHelp = map[string]string{
	"notify":      "channels, people, on-call rotations and policies (docs/notifications.md)",
	"maintenance": "maintenance windows (docs/incidents.md)",
	"incidents":   "confirmation, recovery and flapping thresholds (docs/incidents.md)",
	"healing":     "self-healing limits and the command allow-list (docs/incidents.md)",
}

func (s *Server) sectionPages() {
	s.handle("GET", "/settings/config/{section}", RoleAdmin, func(w http.ResponseWriter, r *http.Request, sess *Session) error {
		text, ok := s.o.Backend.Section(r.PathValue("section"))
		if !ok {
			return &Error{Code: http.StatusNotFound, Msg: "no editable section " + r.PathValue("section")}
		}
		return s.render(w, r, sess, "Edit "+r.PathValue("section"), sectionView(SectionView{Name: r.PathValue("section"), Text: text, CSRF: sess.CSRF}))
	})
	s.handle("POST", "/settings/config/{section}", RoleAdmin, func(w http.ResponseWriter, r *http.Request, sess *Session) error {
		name, text := r.PathValue("section"), r.PostForm.Get("yaml")
		if _, ok := s.o.Backend.Section(name); !ok {
			return &Error{Code: http.StatusNotFound, Msg: "no editable section " + name}
		}
		err := s.o.Backend.SaveSection(name, text, sess.User)
		var fe *FormError
		if errors.As(err, &fe) {
			w.WriteHeader(http.StatusUnprocessableEntity)
			return s.render(w, r, sess, "Edit "+name, sectionView(SectionView{Name: name, Text: text, Problems: fe.Problems, CSRF: sess.CSRF}))
		}
		if err != nil {
			return err
		}
		s.o.Log.Info("config section saved from the UI", "section", name, "by", sess.User)
		http.Redirect(w, r, "/notifications", http.StatusSeeOther)
		return nil
	})
}
