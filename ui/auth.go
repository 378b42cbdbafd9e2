package ui

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode"

	"golang.org/x/crypto/bcrypt"

	"outpost/checks/clock"
)

// Role is what a user may do.
type Role string

// Roles, least to most.
const (
	RoleNone       Role = ""
	RoleViewer     Role = "viewer"
	RoleTechnician Role = "technician"
	RoleAdmin      Role = "admin"
)

// Roles lists the assignable roles.
var Roles = []Role{RoleViewer, RoleTechnician, RoleAdmin}

func (r Role) rank() int {
	switch r {
	case RoleViewer:
		return 1
	case RoleTechnician:
		return 2
	case RoleAdmin:
		return 3
	}
	return 0
}

// AtLeast reports whether r includes want.
func (r Role) AtLeast(want Role) bool { return r.rank() >= want.rank() }

// User is a UI account.
type User struct {
	Name    string    `json:"name"`
	Role    Role      `json:"role"`
	Hash    []byte    `json:"hash"`
	Created time.Time `json:"created"`
}

// Session is a logged-in browser.
type Session struct {
	ID      string    `json:"id"`
	User    string    `json:"user"`
	Role    Role      `json:"role"`
	CSRF    string    `json:"csrf"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
}

// Users persists accounts and sessions (bbolt in the daemon). Methods
// return an error only for storage faults; "not found" is ok == false.
type Users interface {
	CountUsers() (int, error)
	// CreateFirstAdmin creates u only if no user exists yet, atomically,
	// so two browsers racing through first boot cannot both win.
	CreateFirstAdmin(u User) (created bool, err error)
	PutUser(u User) error
	GetUser(name string) (User, bool, error)
	ListUsers() ([]User, error)
	DeleteUser(name string) error
	PutSession(s Session) error
	GetSession(id string) (Session, bool, error)
	DeleteSession(id string) error
	// DeleteUserSessions logs a user out everywhere.
	DeleteUserSessions(user string) error
}

const (
	sessionCookie = "outpost_session"
	sessionTTL    = 12 * time.Hour
	// MinPasswordLen is the password strength rule's length.
	MinPasswordLen = 12
)

// CheckPassword applies the password strength rule: at least 12
// characters with at least three of lower case, upper case, digits and
// symbols, and not containing the user name.
func CheckPassword(user, pw string) error {
	if len(pw) < MinPasswordLen {
		return fmt.Errorf("password must be at least %d characters", MinPasswordLen)
	}
	var lower, upper, digit, other bool
	for _, r := range pw {
		switch {
		case unicode.IsLower(r):
			lower = true
		case unicode.IsUpper(r):
			upper = true
		case unicode.IsDigit(r):
			digit = true
		default:
			other = true
		}
	}
	n := 0
	for _, b := range []bool{lower, upper, digit, other} {
		if b {
			n++
		}
	}
	if n < 3 {
		return fmt.Errorf("password must mix at least three of: lower case, upper case, digits, symbols")
	}
	if user != "" && strings.Contains(strings.ToLower(pw), strings.ToLower(user)) {
		return fmt.Errorf("password must not contain the user name")
	}
	return nil
}

// HashPassword hashes with bcrypt.
func HashPassword(pw string) ([]byte, error) {
	return bcrypt.GenerateFromPassword([]byte(pw), bcrypt.DefaultCost)
}

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// startSession makes a brand-new session id at every login (no fixation).
func (s *Server) startSession(w http.ResponseWriter, u User) error {
	now := s.o.Clock.Now()
	sess := Session{ID: randomToken(), User: u.Name, Role: u.Role, CSRF: randomToken(), Created: now, Expires: now.Add(sessionTTL)}
	if err := s.o.Users.PutSession(sess); err != nil {
		return err
	}
	// Max-Age, not Expires: the browser judges an absolute expiry by its own
	// clock, so a box whose clock is hours off (no RTC, NTP blocked) would
	// send cookies that are already dead and loop on the login page. The
	// server still expires the session on its own clock (session below).
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: sess.ID, Path: "/", HttpOnly: true, Secure: s.o.Secure, SameSite: http.SameSiteLaxMode, MaxAge: int(sessionTTL / time.Second)})
	return nil
}

func (s *Server) session(r *http.Request) *Session {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil
	}
	sess, ok, err := s.o.Users.GetSession(c.Value)
	if err != nil || !ok || s.o.Clock.Now().After(sess.Expires) {
		return nil
	}
	// The role may have changed since login; the user may be gone.
	u, ok, err := s.o.Users.GetUser(sess.User)
	if err != nil || !ok {
		return nil
	}
	sess.Role = u.Role
	return &sess
}

func clearCookie(w http.ResponseWriter, secure bool) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode})
}

// csrfPre is the token for forms shown before login (setup, login):
// double-submit, a cookie plus the same value in the form.
const csrfPreCookie = "outpost_csrf"

func (s *Server) preCSRF(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfPreCookie); err == nil && len(c.Value) > 20 {
		return c.Value
	}
	t := randomToken()
	http.SetCookie(w, &http.Cookie{Name: csrfPreCookie, Value: t, Path: "/", HttpOnly: true, Secure: s.o.Secure, SameSite: http.SameSiteStrictMode, MaxAge: int(sessionTTL / time.Second)})
	return t
}

// checkCSRF refuses a POST without the form token of its session (or,
// before login, of the double-submit cookie).
func (s *Server) checkCSRF(r *http.Request, sess *Session) error {
	if err := r.ParseForm(); err != nil {
		return Errorf(EBADREQUEST, "bad form: %s", err)
	}
	got := r.PostForm.Get("csrf")
	// The session's token, or before login (setup, login forms) the
	// double-submit cookie's: both are secrets only this browser holds.
	var wants []string
	if sess != nil {
		wants = append(wants, sess.CSRF)
	}
	if c, err := r.Cookie(csrfPreCookie); err == nil {
		wants = append(wants, c.Value)
	}
	for _, want := range wants {
		if want != "" && got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1 {
			return nil
		}
	}
	return Errorf(EFORBIDDEN, "the form's security token is missing or stale; reload the page and try again")
}

// loginLimiter allows at most max failures per window per client address.
type loginLimiter struct {
	clock  clock.Clock
	max    int
	window time.Duration
	mu     sync.Mutex
	fails  map[string][]time.Duration // on the monotonic clock: a step of the wall clock does not lift or extend a block
}

func newLoginLimiter(c clock.Clock, max int, window time.Duration) *loginLimiter {
	return &loginLimiter{clock: c, max: max, window: window, fails: map[string][]time.Duration{}}
}

func (l *loginLimiter) recent(addr string) []time.Duration {
	cut := l.clock.Mono() - l.window
	ts := l.fails[addr]
	i := 0
	for i < len(ts) && ts[i] < cut {
		i++
	}
	ts = ts[i:]
	if len(ts) == 0 {
		delete(l.fails, addr)
	} else {
		l.fails[addr] = ts
	}
	return ts
}

// Blocked reports whether addr has used up its failures, and until when.
func (l *loginLimiter) Blocked(addr string) (bool, time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ts := l.recent(addr)
	if len(ts) >= l.max {
		return true, l.clock.Now().Add(ts[0] + l.window - l.clock.Mono())
	}
	return false, time.Time{}
}

func (l *loginLimiter) Fail(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recent(addr)
	l.fails[addr] = append(l.fails[addr], l.clock.Mono())
}

func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func mustSub(f fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		panic(err)
	}
	return sub
}
