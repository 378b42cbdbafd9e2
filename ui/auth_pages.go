package ui

import (
	"fmt"
	"net/http"
	"outpost/ui/login"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func init() { pages = append(pages, (*Server).authPages) }

func (s *Server) authPages() {
	s.handle("GET", "/setup", RoleNone, func(w http.ResponseWriter, r *http.Request, sess *Session) error {
		if n, err := s.o.Users.CountUsers(); err != nil || n > 0 {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return err
		}
		return s.render(w, r, nil, "First boot", setupView(s.formCSRF(w, r, sess), s.claimHint(), "", "admin", ""))
	})
	s.handle("POST", "/setup", RoleNone, func(w http.ResponseWriter, r *http.Request, sess *Session) error {
		addr := login.ClientAddr(r)
		user := strings.TrimSpace(r.PostForm.Get("user"))
		code := r.PostForm.Get("claim")
		pw := r.PostForm.Get("password")
		// keep is the claim code shown again in the form: only a right one.
		fail := func(keep string, err error) error {
			tok := s.formCSRF(w, r, sess)
			return s.render(w, r, nil, "First boot", setupView(tok, s.claimHint(), keep, user, s.report(w, r, err)))
		}
		if n, err := s.o.Users.CountUsers(); err != nil || n > 0 {
			if err != nil {
				return err
			}
			return Errorf(ECONFLICT, "an administrator already exists; log in instead")
		}
		if s.o.Claim == nil {
			return Errorf(EFORBIDDEN, "this box cannot be claimed from the web UI")
		}
		// Guessing the code is limited like guessing a password, and
		// counted before the code's hash is compared.
		try, blocked, until := s.limiter.Attempt(s.limiter.addr(addr), claimLimit, boxLimit)
		if blocked != nil {
			s.retryAfter(w, until)
			return fail("", Errorf(ETOOMANY, "too many wrong claim codes %s; try again after %s", blocked.what, until.Format("15:04:05")))
		}
		ok, err := s.o.Claim.CheckClaimCode(code)
		if err != nil {
			return err
		}
		if !ok {
			s.o.Log.Warn("wrong claim code at first boot", "from", addr)
			return fail("", Errorf(EFORBIDDEN, "wrong or missing claim code; read it at the box as shown above"))
		}
		s.limiter.Forgive(try)
		if err := validUserName(user); err != nil {
			return fail(code, Errorf(EINVALID, "%s", err))
		}
		if pw != r.PostForm.Get("confirm") {
			return fail(code, Errorf(EINVALID, "the two passwords differ"))
		}
		if err := CheckPassword(user, pw); err != nil {
			return fail(code, Errorf(EINVALID, "%s", err))
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
		s.o.Log.Info("first admin account created: the box is claimed", "user", user, "from", addr)
		if err := s.o.Claim.Claimed(); err != nil {
			s.o.Log.Error("the spent claim code was not removed", "err", err)
		}
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
		return s.render(w, r, nil, "Log in", loginView(s.formCSRF(w, r, sess), "", login.SafeNext(r.URL.Query().Get("next")), ""))
	})
	s.handle("POST", "/login", RoleNone, func(w http.ResponseWriter, r *http.Request, sess *Session) error {
		addr := login.ClientAddr(r)
		user := strings.TrimSpace(r.PostForm.Get("user"))
		next := login.SafeNext(r.PostForm.Get("next"))
		fail := func(err error) error {
			tok := s.formCSRF(w, r, sess)
			return s.render(w, r, nil, "Log in", loginView(tok, user, next, s.report(w, r, err)))
		}
		// Counted before bcrypt, per address, per account and for the box,
		// so neither parallel attempts nor many addresses get more guesses.
		try, blocked, until := s.limiter.Attempt(s.limiter.addr(addr), accountLimit(user), boxLimit)
		if blocked != nil {
			s.retryAfter(w, until)
			return fail(Errorf(ETOOMANY, "too many failed logins %s; try again after %s", blocked.what, until.Format("15:04:05")))
		}
		u, known, err := s.o.Users.GetUser(user)
		if err != nil {
			return err
		}
		hash := u.Hash
		if !known {
			hash = dummyHash()
		}
		if bcrypt.CompareHashAndPassword(hash, []byte(r.PostForm.Get("password"))) != nil || !known {
			s.o.Log.Warn("failed login", "user", truncateName(user), "from", addr)
			return fail(Errorf(EUNAUTHORIZED, "wrong user name or password"))
		}
		s.limiter.Forgive(try)
		if c, err := r.Cookie(s.cookieName(sessionCookie)); err == nil {
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
		s.clearCookie(w)
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return nil
	})
}

// retryAfter tells a blocked client when to try again, in seconds (a
// relative time: the client's clock may differ from the box's).
func (s *Server) retryAfter(w http.ResponseWriter, until time.Time) {
	w.Header().Set("Retry-After", fmt.Sprint(int(until.Sub(s.o.Clock.Now()).Seconds())+1))
}

// claimHint says where the claim code is, for the first-boot page.
func (s *Server) claimHint() ClaimHint {
	if s.o.Claim == nil {
		return ClaimHint{}
	}
	return s.o.Claim.ClaimCodeHint()
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

// truncateName keeps what an attacker posts as a user name from filling
// the log.
func truncateName(u string) string {
	if len(u) > 64 {
		return u[:64] + "…"
	}
	return u
}
