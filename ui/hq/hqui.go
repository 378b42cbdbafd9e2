// Package hqui is `outpost hq`'s fleet page: every site, its health,
// open incidents and last contact (a box silent for three intervals is
// flagged), and each site's history. The pages need a login (accounts
// under the box UI's rules, made with `outpost hq user add`) and answer
// only to the host names they are given. They render from per-box
// digests kept at ingest, never by decoding stored summaries.
package hqui

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"outpost/ui/login"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"outpost/checks/clock"
)

// Source is what the pages read.
type Source interface {
	Fleet() ([]FleetRow, error)
	// Site is one box's page with its history rows below sequence
	// number before (0: the newest), at most history of them, newest
	// first; ok is false when no such box is registered.
	Site(id string, before uint64, history int) (v SiteView, ok bool, err error)
	// AckIncident relays a logged-in user's acknowledgement of an open
	// incident to its box; the error says why it was not queued.
	AckIncident(id string, incident uint64, by string) error
	// Alerts are hq's own incidents about boxes (silent, lost summaries,
	// box health), open ones first; AckAlert acknowledges an open one.
	Alerts() ([]AlertRow, error)
	AckAlert(id uint64, by string) error
}

// Options configure the pages.
type Options struct {
	Source Source
	Users  Users
	// Hosts are the host names the pages answer to, besides localhost
	// and IP literals (`hq run --host`); any other Host gets 421.
	Hosts []string
	// Secure marks cookies Secure: set it when a TLS reverse proxy
	// serves the pages.
	Secure bool
	Clock  clock.Clock
	Log    *slog.Logger
	// Limits counts failed logins for every instance together; nil: in
	// this process's memory.
	Limits SharedLimits
	// AuthHeader, when set, is the header a single-sign-on reverse proxy
	// names the logged-in user in (`hq run --auth-header`); it is taken
	// only from AuthProxies (default: loopback), and the user must have
	// an account (its role and sites apply).
	AuthHeader  string
	AuthProxies []netip.Prefix
}

// HistoryRows is how many history rows a site's page shows.
const HistoryRows = 200

// Login limits: per client address as on the box, and per user name so
// that many addresses cannot try one account's passwords quickly.
const (
	addrFailures, addrWindow = 5, time.Minute
	userFailures, userWindow = 10, 15 * time.Minute
)

type server struct {
	o       Options
	hosts   map[string]bool
	limiter *limiter
	mux     *http.ServeMux
}

// New builds the pages' handler.
func New(o Options) http.Handler {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.AuthHeader != "" && len(o.AuthProxies) == 0 {
		o.AuthProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	}
	s := &server{o: o, hosts: map[string]bool{}, limiter: newLimiter(o.Clock), mux: http.NewServeMux()}
	for _, h := range o.Hosts {
		s.hosts[strings.TrimSuffix(strings.ToLower(h), ".")] = true
	}
	s.mux.HandleFunc("GET /hq.css", ServeStylesheet)
	s.mux.HandleFunc("GET /login", s.loginForm)
	s.mux.HandleFunc("POST /login", s.login)
	s.mux.HandleFunc("POST /logout", s.withSession(s.logout))
	s.mux.HandleFunc("GET /{$}", s.withSession(s.fleet))
	s.mux.HandleFunc("GET /boxes/{id}", s.withSession(s.site))
	s.mux.HandleFunc("POST /boxes/{id}/incidents/{n}/ack", s.withSession(s.ack))
	s.mux.HandleFunc("GET /alerts", s.withSession(s.alerts))
	s.mux.HandleFunc("POST /alerts/{n}/ack", s.withSession(s.ackAlert))
	return s
}

// ServeStylesheet serves the pages' stylesheet (the acknowledge pages on
// the receiver's HTTPS listener share it).
func ServeStylesheet(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Write([]byte(stylesheet))
}

// ServeHTTP checks the Host before anything else and sets the headers
// every page carries.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.hostAllowed(r.Host) {
		s.o.Log.Warn("hq: fleet page request for another host refused", "host", r.Host, "from", r.RemoteAddr)
		http.Error(w, fmt.Sprintf("these pages do not answer to host %q (outpost hq run --host NAME)", r.Host), http.StatusMisdirectedRequest)
		return
	}
	h := w.Header()
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("Cache-Control", "no-store")
	s.mux.ServeHTTP(w, r)
}

func (s *server) withSession(h func(http.ResponseWriter, *http.Request, *Session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess := s.session(r)
		if u := s.proxyUser(r); u != "" && (sess == nil || sess.User != u) {
			// The proxy says who is there: that user's session.
			if _, ok, err := s.o.Users.GetUser(u); err != nil || !ok {
				s.o.Log.Warn("hq: single-sign-on user has no account", "user", u, "from", r.RemoteAddr)
				http.Error(w, fmt.Sprintf("%s has no account on these pages (outpost hq user add %s)", u, u), http.StatusForbidden)
				return
			}
			var err error
			if sess, err = s.newSession(w, u); err != nil {
				s.internal(w, "session", err)
				return
			}
			s.o.Log.Info("hq: login through the single-sign-on proxy", "user", u, "from", r.RemoteAddr)
		}
		if sess == nil {
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
			if err := r.ParseForm(); err != nil || !tokenEqual(r.PostForm.Get("csrf"), sess.CSRF) {
				http.Error(w, "the form's security token is missing or stale; reload the page and try again", http.StatusForbidden)
				return
			}
		}
		h(w, r, sess)
	}
}

func (s *server) internal(w http.ResponseWriter, what string, err error) {
	ref := login.RandomToken()[:8]
	s.o.Log.Error("hq: fleet page failed", "page", what, "ref", ref, "err", err)
	http.Error(w, "internal error (reference "+ref+" in the receiver's log)", http.StatusInternalServerError)
}

func (s *server) loginForm(w http.ResponseWriter, r *http.Request) {
	next := login.SafeNext(r.URL.Query().Get("next"))
	if s.session(r) != nil {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	n, err := s.o.Users.CountUsers()
	if err != nil {
		s.internal(w, "login", err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	loginPage(s.preCSRF(w, r), "", next, "", n == 0).Render(r.Context(), w)
}

func (s *server) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	user := strings.TrimSpace(r.PostForm.Get("user"))
	next := login.SafeNext(r.PostForm.Get("next"))
	again := func(code int, msg string) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(code)
		loginPage(s.preCSRF(w, r), user, next, msg, false).Render(r.Context(), w)
	}
	if !checkPreCSRF(r) {
		again(http.StatusForbidden, "the form's security token is missing or stale; try again")
		return
	}
	addr := login.ClientAddr(r)
	rules := []Rule{{"addr " + addr, addrFailures, addrWindow}, {"user " + strings.ToLower(user), userFailures, userWindow}}
	var done func(bool)
	var retry time.Duration
	var ok bool
	if s.o.Limits != nil {
		var err error
		if done, retry, ok, err = s.o.Limits.BeginLogin(rules); err != nil {
			s.internal(w, "login limits", err)
			return
		}
	} else {
		done, retry, ok = s.limiter.begin(rules...)
	}
	if !ok {
		secs := int(retry/time.Second) + 1
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		s.o.Log.Warn("hq: login refused: too many failures", "user", user, "from", addr)
		again(http.StatusTooManyRequests, fmt.Sprintf("too many failed logins; try again in %d s", secs))
		return
	}
	u, found, err := s.o.Users.GetUser(user)
	if err != nil {
		done(false)
		s.internal(w, "login", err)
		return
	}
	hash := dummyHash()
	if found {
		hash = u.Hash
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(r.PostForm.Get("password"))) != nil || !found {
		done(false)
		s.o.Log.Warn("hq: failed login", "user", user, "from", addr)
		again(http.StatusUnauthorized, "wrong user name or password")
		return
	}
	done(true)
	if c, err := r.Cookie(sessionCookie); err == nil {
		s.o.Users.DeleteSession(c.Value)
	}
	if err := s.startSession(w, u.Name); err != nil {
		s.internal(w, "login", err)
		return
	}
	s.o.Log.Info("hq: login", "user", u.Name, "from", addr)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// logout ends every session of the user, as on the box.
func (s *server) logout(w http.ResponseWriter, r *http.Request, sess *Session) {
	if err := s.o.Users.DeleteUserSessions(sess.User); err != nil {
		s.internal(w, "logout", err)
		return
	}
	s.clearSession(w)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// account is the logged-in user's account (role, sites); false when it
// is gone (deleted meanwhile) or unreadable, the answer written.
func (s *server) account(w http.ResponseWriter, sess *Session) (User, bool) {
	u, ok, err := s.o.Users.GetUser(sess.User)
	if err != nil {
		s.internal(w, "account", err)
		return u, false
	}
	if !ok {
		http.Error(w, "this account no longer exists", http.StatusForbidden)
		return u, false
	}
	return u, true
}

func (s *server) chrome(sess *Session, u User) chrome {
	return chrome{User: sess.User, CSRF: sess.CSRF, CanAct: u.CanAct()}
}

func (s *server) fleet(w http.ResponseWriter, r *http.Request, sess *Session) {
	u, ok := s.account(w, sess)
	if !ok {
		return
	}
	all, err := s.o.Source.Fleet()
	if err != nil {
		s.internal(w, "fleet", err)
		return
	}
	f := fleetFilterOf(r)
	rows := all[:0]
	for _, row := range all {
		if u.Sees(row.Site, row.ID) && f.matches(row) {
			rows = append(rows, row)
		}
	}
	f.Total = len(rows)
	if from := f.Page * FleetRows; from < len(rows) {
		rows = rows[from:min(from+FleetRows, len(rows))]
	} else {
		rows = nil
	}
	f.More = (f.Page+1)*FleetRows < f.Total
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fleetPage(s.chrome(sess, u), rows, f, s.o.Clock.Now()).Render(r.Context(), w)
}

// FleetRows is how many sites a fleet page lists.
const FleetRows = 200

// fleetFilter is the fleet page's query: a search over site names and
// box ids, a status (critical, warning, ok, silent), a version, and
// the page.
type fleetFilter struct {
	Q, Status, Version string
	Page, Total        int
	More               bool
}

func fleetFilterOf(r *http.Request) fleetFilter {
	q := r.URL.Query()
	f := fleetFilter{Q: strings.TrimSpace(q.Get("q")), Status: q.Get("status"), Version: strings.TrimSpace(q.Get("version"))}
	if len(f.Q) > 200 {
		f.Q = f.Q[:200]
	}
	if len(f.Version) > 64 {
		f.Version = f.Version[:64]
	}
	switch f.Status {
	case "critical", "warning", "ok", "silent":
	default:
		f.Status = ""
	}
	if p, err := strconv.Atoi(q.Get("page")); err == nil && p > 0 && p < 1_000_000 {
		f.Page = p
	}
	return f
}

func (f fleetFilter) matches(r FleetRow) bool {
	if f.Q != "" && !strings.Contains(strings.ToLower(r.Site), strings.ToLower(f.Q)) && !strings.Contains(r.ID, strings.ToLower(f.Q)) {
		return false
	}
	if f.Version != "" && r.Version != f.Version {
		return false
	}
	switch f.Status {
	case "silent":
		return r.Silent
	case "critical":
		return r.Health.Critical > 0
	case "warning":
		return r.Health.Critical == 0 && r.Health.Warning > 0
	case "ok":
		return !r.Silent && r.Health.Critical == 0 && r.Health.Warning == 0
	}
	return true
}

// pageURL is the fleet page's address with the same filter, page p.
func (f fleetFilter) pageURL(p int) string {
	v := url.Values{}
	if f.Q != "" {
		v.Set("q", f.Q)
	}
	if f.Status != "" {
		v.Set("status", f.Status)
	}
	if f.Version != "" {
		v.Set("version", f.Version)
	}
	if p > 0 {
		v.Set("page", strconv.Itoa(p))
	}
	if len(v) == 0 {
		return "/"
	}
	return "/?" + v.Encode()
}

// visibleBox reports whether the account sees box id (the answer is
// written when not: 404, as for a box that does not exist).
func (s *server) visibleBox(w http.ResponseWriter, u User, id string) bool {
	v, ok, err := s.o.Source.Site(id, 0, 0)
	if err != nil {
		s.internal(w, "site", err)
		return false
	}
	if !ok || !u.Sees(v.Row.Site, v.Row.ID) {
		http.Error(w, "no such box", http.StatusNotFound)
		return false
	}
	return true
}

func (s *server) site(w http.ResponseWriter, r *http.Request, sess *Session) {
	u, ok := s.account(w, sess)
	if !ok {
		return
	}
	var before uint64
	if b := r.URL.Query().Get("before"); b != "" {
		n, err := strconv.ParseUint(b, 10, 63)
		if err != nil || n == 0 {
			http.Error(w, "before: a summary's sequence number", http.StatusBadRequest)
			return
		}
		before = n
	}
	v, ok, err := s.o.Source.Site(r.PathValue("id"), before, HistoryRows)
	if err != nil {
		s.internal(w, "site", err)
		return
	}
	if !ok || !u.Sees(v.Row.Site, v.Row.ID) {
		http.Error(w, "no such box", http.StatusNotFound)
		return
	}
	v.CanAck = u.CanAct()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	boxPage(s.chrome(sess, u), v, s.o.Clock.Now()).Render(r.Context(), w)
}

// ack relays the logged-in user's acknowledgement of an open incident
// to its box (their user name is who), and goes back to the site's page,
// which shows it pending, then what the box said.
func (s *server) ack(w http.ResponseWriter, r *http.Request, sess *Session) {
	n, err := strconv.ParseUint(r.PathValue("n"), 10, 64)
	if err != nil || n == 0 {
		http.Error(w, "no such incident", http.StatusNotFound)
		return
	}
	id := r.PathValue("id")
	u, ok := s.account(w, sess)
	if !ok || !s.visibleBox(w, u, id) {
		return
	}
	if !u.CanAct() {
		http.Error(w, "a viewer account does not acknowledge", http.StatusForbidden)
		return
	}
	if err := s.o.Source.AckIncident(id, n, sess.User); err != nil {
		http.Error(w, "not acknowledged: "+err.Error(), http.StatusConflict)
		return
	}
	s.o.Log.Info("hq: incident acknowledgement relayed", "box", id, "incident", n, "user", sess.User)
	http.Redirect(w, r, "/boxes/"+url.PathEscape(id), http.StatusSeeOther)
}

func (s *server) visibleAlerts(u User) ([]AlertRow, error) {
	all, err := s.o.Source.Alerts()
	rows := all[:0]
	for _, a := range all {
		if u.Sees(a.Site, a.Box) {
			rows = append(rows, a)
		}
	}
	return rows, err
}

func (s *server) alerts(w http.ResponseWriter, r *http.Request, sess *Session) {
	u, ok := s.account(w, sess)
	if !ok {
		return
	}
	rows, err := s.visibleAlerts(u)
	if err != nil {
		s.internal(w, "alerts", err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	alertsPage(s.chrome(sess, u), rows, s.o.Clock.Now()).Render(r.Context(), w)
}

// ackAlert acknowledges one of hq's alerts in the logged-in user's name:
// the reminders stop and whoever was notified hears who took it.
func (s *server) ackAlert(w http.ResponseWriter, r *http.Request, sess *Session) {
	n, err := strconv.ParseUint(r.PathValue("n"), 10, 64)
	if err != nil || n == 0 {
		http.Error(w, "no such alert", http.StatusNotFound)
		return
	}
	u, ok := s.account(w, sess)
	if !ok {
		return
	}
	rows, err := s.visibleAlerts(u)
	if err != nil {
		s.internal(w, "alerts", err)
		return
	}
	if !slices.ContainsFunc(rows, func(a AlertRow) bool { return a.ID == n }) {
		http.Error(w, "no such alert", http.StatusNotFound)
		return
	}
	if !u.CanAct() {
		http.Error(w, "a viewer account does not acknowledge", http.StatusForbidden)
		return
	}
	if err := s.o.Source.AckAlert(n, sess.User); err != nil {
		http.Error(w, "not acknowledged: "+err.Error(), http.StatusConflict)
		return
	}
	s.o.Log.Info("hq: alert acknowledged", "alert", n, "user", sess.User)
	http.Redirect(w, r, "/alerts", http.StatusSeeOther)
}
