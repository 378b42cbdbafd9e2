package hqui

import (
	"crypto/subtle"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"outpost/ui/login"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"outpost/checks/clock"
)

// User is a fleet page account. Accounts are made on the receiver with
// `outpost hq user add`: there is no default password and no first
// visitor who becomes admin.
type User struct {
	Name    string    `json:"name"`
	Hash    []byte    `json:"hash"`
	Created time.Time `json:"created"`
	// Role is RoleAdmin (also an account made before roles), RoleTechnician
	// or RoleViewer; Sites, when set, are the only sites (by name or box
	// id) a technician or viewer sees.
	Role  string   `json:"role,omitempty"`
	Sites []string `json:"sites,omitempty"`
}

// Roles of the fleet pages' accounts: an admin sees and acts on every
// site; a technician acts (acknowledges) on the sites they see; a viewer
// only looks.
const (
	RoleAdmin      = "admin"
	RoleTechnician = "technician"
	RoleViewer     = "viewer"
)

// ValidRole says what a role must be.
func ValidRole(role string) error {
	switch role {
	case "", RoleAdmin, RoleTechnician, RoleViewer:
		return nil
	}
	return fmt.Errorf("role %q: admin, technician or viewer", role)
}

// CanAct reports whether the account may acknowledge.
func (u User) CanAct() bool { return u.Role != RoleViewer }

// Sees reports whether the account sees a site (by its name or box id).
func (u User) Sees(site, box string) bool {
	if u.Role == "" || u.Role == RoleAdmin || len(u.Sites) == 0 {
		return true
	}
	return slices.Contains(u.Sites, site) || slices.Contains(u.Sites, box)
}

// Session is a logged-in browser. Token is the cookie's value: the
// store keeps only its SHA-256, so a copied database logs nobody in.
type Session struct {
	Token   string    `json:"-"`
	User    string    `json:"user"`
	CSRF    string    `json:"csrf"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
}

// Users persists accounts and sessions. Methods return an error only
// for storage faults; "not found" is ok == false.
type Users interface {
	CountUsers() (int, error)
	GetUser(name string) (User, bool, error)
	// PutSession stores s under its Token (hashed).
	PutSession(s Session) error
	GetSession(token string) (Session, bool, error)
	DeleteSession(token string) error
	// DeleteUserSessions logs a user out everywhere.
	DeleteUserSessions(user string) error
}

const (
	sessionCookie = "outpost_hq_session"
	csrfPreCookie = "outpost_hq_csrf"
	// SessionTTL is how long a login lasts, as on the box.
	SessionTTL = 12 * time.Hour
	// MinPasswordLen is the password rule's length (the box's rule).
	MinPasswordLen = 12
)

// ValidUserName applies the box UI's user name rule.
func ValidUserName(u string) error {
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

// dummyHash is compared against when the user does not exist, so an
// unknown name costs the same bcrypt as a wrong password.
var dummyHash = sync.OnceValue(func() []byte {
	h, _ := bcrypt.GenerateFromPassword([]byte(login.RandomToken()), bcrypt.DefaultCost)
	return h
})

func (s *server) startSession(w http.ResponseWriter, user string) error {
	_, err := s.newSession(w, user)
	return err
}

func (s *server) newSession(w http.ResponseWriter, user string) (*Session, error) {
	now := s.o.Clock.Now()
	sess := Session{Token: login.RandomToken(), User: user, CSRF: login.RandomToken(), Created: now, Expires: now.Add(SessionTTL)}
	if err := s.o.Users.PutSession(sess); err != nil {
		return nil, err
	}
	// Max-Age, not Expires: the browser's clock does not judge it; the
	// receiver expires the session on its own clock (session below).
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: sess.Token, Path: "/", HttpOnly: true, Secure: s.o.Secure, SameSite: http.SameSiteLaxMode, MaxAge: int(SessionTTL / time.Second)})
	return &sess, nil
}

// proxyUser is the user a single-sign-on reverse proxy in front of the
// pages names in Options.AuthHeader, "" when that mode is off, the
// request did not come from one of Options.AuthProxies (anyone else
// could set the header), or the name is not a user name.
func (s *server) proxyUser(r *http.Request) string {
	if s.o.AuthHeader == "" {
		return ""
	}
	name := strings.TrimSpace(r.Header.Get(s.o.AuthHeader))
	if name == "" || ValidUserName(name) != nil {
		return ""
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return ""
	}
	for _, p := range s.o.AuthProxies {
		if p.Contains(ap.Addr().Unmap()) {
			return name
		}
	}
	s.o.Log.Warn("hq: single-sign-on header from an address that is not a trusted proxy; ignored", "from", r.RemoteAddr, "header", s.o.AuthHeader)
	return ""
}

func (s *server) session(r *http.Request) *Session {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" || len(c.Value) > 100 {
		return nil
	}
	sess, ok, err := s.o.Users.GetSession(c.Value)
	if err != nil || !ok || !s.o.Clock.Now().Before(sess.Expires) {
		return nil
	}
	if _, ok, err := s.o.Users.GetUser(sess.User); err != nil || !ok {
		return nil // deleted since
	}
	sess.Token = c.Value
	return &sess
}

func (s *server) clearSession(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.o.Secure, SameSite: http.SameSiteLaxMode})
}

// preCSRF is the login form's token: double-submit, a Strict cookie and
// the same value in the form. It is accepted by the login form only;
// every form after login carries its session's token.
func (s *server) preCSRF(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfPreCookie); err == nil && len(c.Value) == 43 {
		return c.Value
	}
	t := login.RandomToken()
	http.SetCookie(w, &http.Cookie{Name: csrfPreCookie, Value: t, Path: "/", HttpOnly: true, Secure: s.o.Secure, SameSite: http.SameSiteStrictMode, MaxAge: int(SessionTTL / time.Second)})
	return t
}

func tokenEqual(got, want string) bool {
	return got != "" && want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// checkPreCSRF accepts the login form's double-submit token.
func checkPreCSRF(r *http.Request) bool {
	c, err := r.Cookie(csrfPreCookie)
	return err == nil && tokenEqual(r.PostForm.Get("csrf"), c.Value)
}

// hostAllowed is the DNS-rebinding defence: a page on another site whose
// name the attacker re-points at the receiver still carries that name
// in Host. Allowed are IP literals (only a page from that very address
// sends one), localhost, and the names given with `hq run --host`.
func (s *server) hostAllowed(host string) bool {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	h = strings.TrimSuffix(strings.ToLower(strings.Trim(h, "[]")), ".")
	if h == "" {
		return false
	}
	if net.ParseIP(h) != nil || h == "localhost" {
		return true
	}
	return s.hosts[h]
}

// limiter counts failed logins per key (client address, user name) in a
// sliding window on the monotonic clock. An attempt reserves its place
// before the password is checked, so attempts sent in parallel are
// counted before any of them has finished bcrypt.
type limiter struct {
	clock clock.Clock
	mu    sync.Mutex
	fails map[string][]time.Duration
}

// rule is one key's limit: at most max failures per window.
type rule = Rule

// Rule is one key's limit: at most Max failed logins per Window.
type Rule struct {
	Key    string
	Max    int
	Window time.Duration
}

// SharedLimits counts failed logins where several instances of the
// pages see them all (hq on PostgreSQL counts in the database). Begin
// reserves one attempt under every rule, or reports how long the first
// exhausted one blocks; done(true) takes the reservation back (a
// successful login is no failure). An error is a fault of the store:
// the login is refused.
type SharedLimits interface {
	BeginLogin(rules []Rule) (done func(ok bool), retry time.Duration, allowed bool, err error)
}

func newLimiter(c clock.Clock) *limiter {
	return &limiter{clock: c, fails: map[string][]time.Duration{}}
}

func (l *limiter) recent(r rule) []time.Duration {
	cut := l.clock.Mono() - r.Window
	ts := l.fails[r.Key]
	i := 0
	for i < len(ts) && ts[i] < cut {
		i++
	}
	ts = ts[i:]
	if len(ts) == 0 {
		delete(l.fails, r.Key)
	} else {
		l.fails[r.Key] = ts
	}
	return ts
}

// begin reserves one attempt under every rule, or reports until when
// the first exhausted one blocks. done(true) takes the reservation back
// (a successful login is no failure); done(false) leaves it counted.
func (l *limiter) begin(rules ...rule) (done func(ok bool), retry time.Duration, allowed bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clock.Mono()
	for _, r := range rules {
		if ts := l.recent(r); len(ts) >= r.Max {
			return nil, ts[len(ts)-r.Max] + r.Window - now, false
		}
	}
	for _, r := range rules {
		l.fails[r.Key] = append(l.fails[r.Key], now)
	}
	return func(ok bool) {
		if !ok {
			return
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, r := range rules {
			ts := l.fails[r.Key]
			for i := len(ts) - 1; i >= 0; i-- {
				if ts[i] == now {
					l.fails[r.Key] = append(ts[:i:i], ts[i+1:]...)
					break
				}
			}
			if len(l.fails[r.Key]) == 0 {
				delete(l.fails, r.Key)
			}
		}
	}, 0, true
}

// CheckPassword applies the password strength rule (login.CheckPassword).
func CheckPassword(user, pw string) error { return login.CheckPassword(user, pw) }

// HashPassword hashes with bcrypt.
func HashPassword(pw string) ([]byte, error) { return login.HashPassword(pw) }
