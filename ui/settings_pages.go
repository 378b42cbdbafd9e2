package ui

import (
	"net/http"
	"slices"
	"strings"
	"time"
)

func init() { pages = append(pages, (*Server).settingsPages) }

// SettingsBackend is what the settings page reads about the box (users
// come through Users, the site name through SiteBackend).
type SettingsBackend interface {
	// About returns the box facts for the settings page.
	About() About
	// PhoneHome says whether summaries reach the MSP.
	PhoneHome() PhoneHomeView
}

// PhoneHomeView is phone home as a technician checks it on install day:
// where summaries go, the last one the receiver took, what waits in the
// outbox, and the last failure.
type PhoneHomeView struct {
	// Enabled is false when the site config has no phonehome.url.
	Enabled bool
	// Receiver is where summaries go (the URL without its query).
	Receiver string
	// NotRunning is why phone home is configured but not running (a CA
	// file missing).
	NotRunning  string
	LastSuccess time.Time
	LastAck     uint64
	// Queued summaries (and their bytes) wait in the outbox, sent oldest
	// first; Lost were coalesced away by the outbox quota, ever.
	Queued      int
	QueuedBytes int64
	Lost        uint64
	LastError   string
	LastErrorAt time.Time
	Failures    int
	NextAttempt time.Time
}

// Failing says whether phone home is configured but its latest attempt
// failed (or it could not start).
func (p PhoneHomeView) Failing() bool { return p.Enabled && (p.NotRunning != "" || p.Failures > 0) }

// State is one word for the dashboard: off, failing, waiting (nothing
// delivered yet) or ok.
func (p PhoneHomeView) State() string {
	switch {
	case !p.Enabled:
		return "off"
	case p.Failing():
		return "failing"
	case p.LastSuccess.IsZero():
		return "waiting"
	}
	return "ok"
}

// ProvisioningView is the provisioning state on the settings page.
type ProvisioningView struct {
	// PinnedKey is the id of the MSP key the box trusts ("" while it
	// trusts none: every stick is refused).
	PinnedKey string
	PinnedAt  time.Time
	// PinnedBy says how the key came to be trusted; FirstUse flags trust
	// on first use (whoever inserted the first stick chose the key).
	PinnedBy  string
	FirstUse  bool
	Version   uint64
	Site      string
	AppliedAt time.Time
	// Last is the last bundle seen: its result, reasons and source.
	LastResult, LastSource string
	LastVersion            uint64
	LastTime               time.Time
	LastReasons            []string
}

// SettingsView is the settings page.
type SettingsView struct {
	Site    string
	About   About
	Users   []User
	IsAdmin bool
	Me      string
	CSRF    string
	Err     string
	Msg     string
	Phone   PhoneHomeView
}

func (s *Server) settingsPages() {
	if s.o.Settings == nil {
		return
	}
	s.handle("GET", "/settings", RoleViewer, func(w http.ResponseWriter, r *http.Request, sess *Session) error {
		return s.renderSettings(w, r, sess, "", r.URL.Query().Get("msg"))
	})
	s.handle("POST", "/settings/users", RoleAdmin, func(w http.ResponseWriter, r *http.Request, sess *Session) error {
		name := strings.TrimSpace(r.PostForm.Get("user"))
		role := Role(r.PostForm.Get("role"))
		pw := r.PostForm.Get("password")
		if err := validUserName(name); err != nil {
			return s.settingsErr(w, r, sess, Errorf(EINVALID, "%s", err))
		}
		if !slices.Contains(Roles, role) {
			return s.settingsErr(w, r, sess, Errorf(EINVALID, "role must be viewer, technician or admin"))
		}
		if _, exists, err := s.o.Users.GetUser(name); err != nil {
			return err
		} else if exists {
			return s.settingsErr(w, r, sess, Errorf(EINVALID, "user %s already exists", name))
		}
		if err := CheckPassword(name, pw); err != nil {
			return s.settingsErr(w, r, sess, Errorf(EINVALID, "%s", err))
		}
		hash, err := HashPassword(pw)
		if err != nil {
			return err
		}
		if err := s.o.Users.PutUser(User{Name: name, Role: role, Hash: hash, Created: s.o.Clock.Now()}); err != nil {
			return err
		}
		s.o.Log.Info("user added", "user", name, "role", role, "by", sess.User)
		http.Redirect(w, r, "/settings?msg=user+added", http.StatusSeeOther)
		return nil
	})
	s.handle("POST", "/settings/users/{name}/delete", RoleAdmin, func(w http.ResponseWriter, r *http.Request, sess *Session) error {
		name := r.PathValue("name")
		if name == sess.User {
			return s.settingsErr(w, r, sess, Errorf(EINVALID, "you cannot delete your own account"))
		}
		if err := s.o.Users.DeleteUserSessions(name); err != nil {
			return err
		}
		if err := s.o.Users.DeleteUser(name); err != nil {
			return err
		}
		s.o.Log.Info("user deleted", "user", name, "by", sess.User)
		http.Redirect(w, r, "/settings?msg=user+deleted", http.StatusSeeOther)
		return nil
	})
}

// settingsErr shows the settings page again with what was wrong.
func (s *Server) settingsErr(w http.ResponseWriter, r *http.Request, sess *Session, err error) error {
	return s.renderSettings(w, r, sess, s.report(w, r, err), "")
}

func (s *Server) renderSettings(w http.ResponseWriter, r *http.Request, sess *Session, errMsg, msg string) error {
	v := SettingsView{Site: s.siteName(), About: s.o.Settings.About(), Phone: s.o.Settings.PhoneHome(), IsAdmin: sess.Role.AtLeast(RoleAdmin), Me: sess.User, CSRF: sess.CSRF, Err: errMsg, Msg: msg}
	if v.IsAdmin {
		users, err := s.o.Users.ListUsers()
		if err != nil {
			return err
		}
		v.Users = users
	}
	return s.render(w, r, sess, "Settings", settingsView(v))
}
