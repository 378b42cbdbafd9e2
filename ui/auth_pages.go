package ui

import (
	"fmt"
	"net/http"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

func init() { pages = append(pages, (*Server).authPages) }

func (s *Server) authPages() {
	s.handle("GET", "/setup", RoleNone, func(w http.ResponseWriter, r *http.Request, sess *Session) error {
		if n, err := s.o.Users.CountUsers(); err != nil || n > 0 {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return err
		}
		return s.render(w, r, nil, "First boot", setupView(s.preCSRF(w, r), "admin", ""))
	})
	s.handle("POST", "/setup", RoleNone, func(w http.ResponseWriter, r *http.Request, sess *Session) error {
		user := strings.TrimSpace(r.PostForm.Get("user"))
		pw := r.PostForm.Get("password")
		fail := func(msg string) error {
			return s.render(w, r, nil, "First boot", setupView(s.preCSRF(w, r), user, s.report(w, r, Errorf(EINVALID, "%s", msg))))
		}
		if err := validUserName(user); err != nil {
			return fail(err.Error())
		}
		if pw != r.PostForm.Get("confirm") {
			return fail("the two passwords differ")
		}
		if err := CheckPassword(user, pw); err != nil {
			return fail(err.Error())
		}
		hash, err := HashPassword(pw)
		if err != nil {
			return err
		}
		u := User{Name: user, Role: RoleAdmin, Hash: hash, Created: s.o.Clock.Now()}
		created, err := s.o.Users.CreateFirstAdmin(u)
		if err != nil {
			return err
		}
		if !created {
			return Errorf(ECONFLICT, "an administrator already exists; log in instead")
		}
		s.o.Log.Info("first admin account created", "user", user, "from", clientAddr(r))
		if err := s.startSession(w, u); err != nil {
			return err
		}
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return nil
	})
	s.handle("GET", "/login", RoleNone, func(w http.ResponseWriter, r *http.Request, sess *Session) error {
		if n, err := s.o.Users.CountUsers(); err == nil && n == 0 {
			http.Redirect(w, r, "/setup", http.StatusSeeOther)
			return nil
		}
		return s.render(w, r, nil, "Log in", loginView(s.preCSRF(w, r), "", safeNext(r.URL.Query().Get("next")), ""))
	})
	s.handle("POST", "/login", RoleNone, func(w http.ResponseWriter, r *http.Request, sess *Session) error {
		addr := clientAddr(r)
		user := strings.TrimSpace(r.PostForm.Get("user"))
		next := safeNext(r.PostForm.Get("next"))
		if blocked, until := s.limiter.Blocked(addr); blocked {
			w.Header().Set("Retry-After", fmt.Sprint(int(until.Sub(s.o.Clock.Now()).Seconds())+1))
			msg := s.report(w, r, Errorf(ETOOMANY, "too many failed logins from %s; try again after %s", addr, until.Format("15:04:05")))
			return s.render(w, r, nil, "Log in", loginView(s.preCSRF(w, r), user, next, msg))
		}
		u, ok, err := s.o.Users.GetUser(user)
		if err != nil {
			return err
		}
		if !ok || bcrypt.CompareHashAndPassword(u.Hash, []byte(r.PostForm.Get("password"))) != nil {
			s.limiter.Fail(addr)
			s.o.Log.Warn("failed login", "user", user, "from", addr)
			msg := s.report(w, r, Errorf(EUNAUTHORIZED, "wrong user name or password"))
			return s.render(w, r, nil, "Log in", loginView(s.preCSRF(w, r), user, next, msg))
		}
		if c, err := r.Cookie(sessionCookie); err == nil {
			s.o.Users.DeleteSession(c.Value)
		}
		if err := s.startSession(w, u); err != nil {
			return err
		}
		http.Redirect(w, r, next, http.StatusSeeOther)
		return nil
	})
	// Logging out ends every session of the user, on every device.
	s.handle("POST", "/logout", RoleViewer, func(w http.ResponseWriter, r *http.Request, sess *Session) error {
		if err := s.o.Users.DeleteUserSessions(sess.User); err != nil {
			return err
		}
		clearCookie(w, s.o.Secure)
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return nil
	})
}

// safeNext keeps redirects after login on this site.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.Contains(next, "\\") {
		return "/"
	}
	return next
}

func validUserName(u string) error {
	if len(u) < 2 || len(u) > 32 {
		return fmt.Errorf("user name must be 2 to 32 characters")
	}
	for _, r := range u {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-@", r)) {
			return fmt.Errorf("user name may only use letters, digits and . _ - @")
		}
	}
	return nil
}
