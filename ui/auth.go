package ui

import (
	"crypto/subtle"
	"io/fs"
	"net/http"
	"outpost/ui/login"
	"strings"
	"sync"
	"time"

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

// Claim guards first boot: creating the first administrator needs the
// box's claim code, a secret the technician reads at the box (a root-only
// file in its data dir) and a host on the LAN does not have. Without a
// Claim, /setup refuses: the box cannot be claimed from the web.
type Claim interface {
	// CheckClaimCode reports whether code is the box's claim code; it is
	// false once the box is claimed. An error is a storage fault.
	CheckClaimCode(code string) (bool, error)
	// Claimed is called once the first administrator exists: the code is
	// spent (its hash and its file are removed).
	Claimed() error
	// ClaimCodeHint says where at the box the technician finds the code,
	// for the first-boot page (never the code itself).
	ClaimCodeHint() ClaimHint
}

// ClaimHint is where the claim code is: a command to run at the box and
// the file it reads.
type ClaimHint struct{ Command, File string }

const (
	// Cookie names; over TLS they carry the __Host- prefix, so that no
	// other host (a sibling name, a plain-HTTP page on the same address)
	// can set them (cookieName).
	sessionCookie = "outpost_session"
	csrfPreCookie = "outpost_csrf"
	sessionTTL    = 12 * time.Hour
	// MinPasswordLen is the password strength rule's length.
	MinPasswordLen = 12
)

// Failed logins (and wrong claim codes) allowed per minute, besides the
// limit per client address New sets (5): per account, whatever the address
// (a host on the LAN can send from any), and for the whole box, whatever
// the account.
const (
	maxFailsPerAccount = 10
	maxFailsPerBox     = 30
)

// cookieName is a cookie's name as this server sets it: with the
// __Host- prefix over TLS (the browser then insists on Secure, Path=/ and
// no Domain).
func (s *Server) cookieName(base string) string {
	if s.o.Secure {
		return "__Host-" + base
	}
	return base
}

// startSession makes a brand-new session id at every login (no fixation).
func (s *Server) startSession(w http.ResponseWriter, u User) error {
	now := s.o.Clock.Now()
	sess := Session{ID: login.RandomToken(), User: u.Name, Role: u.Role, CSRF: login.RandomToken(), Created: now, Expires: now.Add(sessionTTL)}
	if err := s.o.Users.PutSession(sess); err != nil {
		return err
	}
	// Max-Age, not Expires: the browser judges an absolute expiry by its own
	// clock, so a box whose clock is hours off (no RTC, NTP blocked) would
	// send cookies that are already dead and loop on the login page. The
	// server still expires the session on its own clock (session below).
	http.SetCookie(w, &http.Cookie{Name: s.cookieName(sessionCookie), Value: sess.ID, Path: "/", HttpOnly: true, Secure: s.o.Secure, SameSite: http.SameSiteLaxMode, MaxAge: int(sessionTTL / time.Second)})
	return nil
}

func (s *Server) session(r *http.Request) *Session {
	c, err := r.Cookie(s.cookieName(sessionCookie))
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

func (s *Server) clearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: s.cookieName(sessionCookie), Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.o.Secure, SameSite: http.SameSiteLaxMode})
}

// formCSRF is the token for the forms shown before login (setup, login):
// the session's own when the browser is logged in already, else a
// double-submit token, a cookie plus the same value in the form.
func (s *Server) formCSRF(w http.ResponseWriter, r *http.Request, sess *Session) string {
	if sess != nil {
		return sess.CSRF
	}
	if c, err := r.Cookie(s.cookieName(csrfPreCookie)); err == nil && len(c.Value) > 20 {
		return c.Value
	}
	t := login.RandomToken()
	http.SetCookie(w, &http.Cookie{Name: s.cookieName(csrfPreCookie), Value: t, Path: "/", HttpOnly: true, Secure: s.o.Secure, SameSite: http.SameSiteStrictMode, MaxAge: int(sessionTTL / time.Second)})
	return t
}

// checkCSRF refuses a POST without the form token of its session or,
// only when there is no session, of the double-submit cookie. A cookie
// can be planted in a browser by another host on the network, so once
// logged in only the session's token (kept on the server) counts.
func (s *Server) checkCSRF(r *http.Request, sess *Session) error {
	if err := r.ParseForm(); err != nil {
		return Errorf(EBADREQUEST, "bad form: %s", err)
	}
	got := r.PostForm.Get("csrf")
	want := ""
	if sess != nil {
		want = sess.CSRF
	} else if c, err := r.Cookie(s.cookieName(csrfPreCookie)); err == nil {
		want = c.Value
	}
	if want != "" && got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1 {
		return nil
	}
	return Errorf(EFORBIDDEN, "the form's security token is missing or stale; reload the page and try again")
}

// limit is one count of the login limiter: its key and how many failures
// it allows per window.
type limit struct {
	key, what string
	max       int
}

// accountLimit counts failures for a user name, whatever the address. The
// name is cut short: the map must not hold what an attacker posts.
func accountLimit(user string) limit {
	return limit{key: "user " + strings.ToLower(truncateName(user)), what: "for this account", max: maxFailsPerAccount}
}

var (
	boxLimit = limit{key: "box", what: "on this box", max: maxFailsPerBox}
	// claimLimit counts wrong claim codes as an account of their own.
	claimLimit = limit{key: "claim", what: "for this box's claim code", max: maxFailsPerAccount}
)

// loginLimiter counts failed logins in a sliding window. An attempt is
// counted before the password is hashed (Attempt) and handed back once it
// succeeds (Forgive), so parallel attempts cannot all pass the check
// while the first ones are still hashing.
type loginLimiter struct {
	clock   clock.Clock
	perAddr int
	window  time.Duration
	mu      sync.Mutex
	fails   map[string][]time.Duration // on the monotonic clock: a step of the wall clock does not lift or extend a block
}

// newLoginLimiter allows perAddr failures per window from one address
// (and the account and box limits above).
func newLoginLimiter(c clock.Clock, perAddr int, window time.Duration) *loginLimiter {
	return &loginLimiter{clock: c, perAddr: perAddr, window: window, fails: map[string][]time.Duration{}}
}

// addr is the limit for one client address.
func (l *loginLimiter) addr(addr string) limit {
	return limit{key: "addr " + addr, what: "from " + addr, max: l.perAddr}
}

func (l *loginLimiter) recent(key string) []time.Duration {
	cut := l.clock.Mono() - l.window
	ts := l.fails[key]
	i := 0
	for i < len(ts) && ts[i] < cut {
		i++
	}
	ts = ts[i:]
	if len(ts) == 0 {
		delete(l.fails, key)
	} else {
		l.fails[key] = ts
	}
	return ts
}

// attempt is one counted login attempt, to Forgive if it succeeds.
type attempt struct {
	keys []string
	at   time.Duration
}

// Attempt counts an attempt against every limit at once, before the
// password is checked. If a limit is used up it counts nothing and says
// which and until when the block lasts.
func (l *loginLimiter) Attempt(limits ...limit) (attempt, *limit, time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clock.Mono()
	var blocked *limit
	var until time.Duration
	for i := range limits {
		lim := &limits[i]
		ts := l.recent(lim.key)
		if len(ts) >= lim.max {
			// Free again when the oldest failure that keeps it full ages out.
			if u := ts[len(ts)-lim.max] + l.window; blocked == nil || u > until {
				blocked, until = lim, u
			}
		}
	}
	if blocked != nil {
		return attempt{}, blocked, l.clock.Now().Add(until - now)
	}
	a := attempt{at: now}
	for _, lim := range limits {
		l.fails[lim.key] = append(l.fails[lim.key], now)
		a.keys = append(a.keys, lim.key)
	}
	return a, nil, time.Time{}
}

// Forgive takes back a successful attempt: only failures count.
func (l *loginLimiter) Forgive(a attempt) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range a.keys {
		ts := l.fails[k]
		for i := len(ts) - 1; i >= 0; i-- {
			if ts[i] == a.at {
				l.fails[k] = append(ts[:i:i], ts[i+1:]...)
				break
			}
		}
		if len(l.fails[k]) == 0 {
			delete(l.fails, k)
		}
	}
}

// dummyHash is compared against when the user name is unknown, so that
// an unknown name costs the same bcrypt work as a wrong password and the
// two cannot be told apart by the time they take.
var dummyHash = sync.OnceValue(func() []byte {
	h, err := bcrypt.GenerateFromPassword([]byte(login.RandomToken()), bcrypt.DefaultCost)
	if err != nil {
		panic(err)
	}
	return h
})

func mustSub(f fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		panic(err)
	}
	return sub
}

// CheckPassword applies the password strength rule (login.CheckPassword).
func CheckPassword(user, pw string) error { return login.CheckPassword(user, pw) }

// HashPassword hashes with bcrypt.
func HashPassword(pw string) ([]byte, error) { return login.HashPassword(pw) }
