package ui

import (
	"errors"
	"net/http"
)

func init() { pages = append(pages, (*Server).sectionPages) }

// SectionsBackend is what the config section editor reads and does.
type SectionsBackend interface {
	// Section returns a top-level config section as YAML text; ok is
	// false for a section the UI may not edit.
	Section(name string) (text string, ok bool)
	// SaveSection replaces a section and applies the config as a new
	// version. Validation problems come back as a *FormError, a section
	// the UI may not edit as ENOTFOUND.
	SaveSection(name, text, user string) error
}

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
	b := s.o.Sections
	if b == nil {
		return
	}
	s.handle("GET", "/settings/config/{section}", RoleAdmin, func(w http.ResponseWriter, r *http.Request, sess *Session) error {
		text, ok := b.Section(r.PathValue("section"))
		if !ok {
			return Errorf(ENOTFOUND, "no editable section %s", r.PathValue("section"))
		}
		return s.render(w, r, sess, "Edit "+r.PathValue("section"), sectionView(SectionView{Name: r.PathValue("section"), Text: text, CSRF: sess.CSRF}))
	})
	s.handle("POST", "/settings/config/{section}", RoleAdmin, func(w http.ResponseWriter, r *http.Request, sess *Session) error {
		name, text := r.PathValue("section"), r.PostForm.Get("yaml")
		if _, ok := b.Section(name); !ok {
			return Errorf(ENOTFOUND, "no editable section %s", name)
		}
		err := b.SaveSection(name, text, sess.User)
		var fe *FormError
		if errors.As(err, &fe) {
			writeStatus(w, fe)
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
