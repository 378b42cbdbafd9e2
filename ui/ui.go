// Package ui is Outpost's local web interface: server-rendered templ pages
// that work without JavaScript, fast on a phone on the site Wi-Fi. It
// reads and acts through narrow interfaces, one per page and declared next
// to it (DashboardBackend, ChecksBackend, ...), plus Users; it imports
// neither the store nor other features. Errors meant for the user are
// *Error, mapped to HTTP status in one table (error.go).
package ui

import (
	"embed"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/a-h/templ"

	"outpost/checks"
	"outpost/checks/clock"
)

// SiteBackend names the site, for the header of every page.
type SiteBackend interface {
	SiteName() string
}

// AgentView is an agent on a device page: its pairing and its latest
// inventory (Inventory nil until one was collected).
type AgentView struct {
	Name, Hostname, OS, Address string
	Paired                      bool
	PairedAt, LastSeen          time.Time
	Inventory                   *InventoryView
}

// InventoryView is the part of an agent's inventory a technician looks
// at on site.
type InventoryView struct {
	Collected               time.Time
	OS, CPU, Serial         string
	Cores                   int
	RAMBytes                uint64
	BootTime                time.Time
	Apps                    []InventoryApp
	Patches, PendingPatches int
	Problems                []string
}

// InventoryApp is one installed application or package.
type InventoryApp struct{ Name, Version string }

// NotifyView is the notifications page's content.
type NotifyView struct {
	Channels    []ChannelView
	Policies    []PolicyView
	OnCall      []NamedKind // rotation name, who now
	Maintenance []string
	Log         []LogLine
}

// ChannelView is a notification channel and whom it reaches, masked:
// a webhook's host, an email address, the last digits of an SMS number,
// never a token or a URL's path (which may hold one).
type ChannelView struct {
	Name, Kind string
	To         string
	// Problem is why the channel cannot be built (it sends nothing).
	Problem string
}

// NamedKind is a name and what it is.
type NamedKind struct{ Name, Kind string }

// PolicyView is a policy in words.
type PolicyView struct {
	Name, Matches, Repeat string
	Steps                 []string
}

// LogLine is one delivery attempt.
type LogLine struct {
	Time                          time.Time
	Channel, Kind, Result, Answer string
	Incident                      uint64
}

// CheckState is one check as the UI shows it.
type CheckState struct {
	ID       string
	Kind     string
	Target   string
	Labels   checks.Labels
	Interval time.Duration
	Latest   *checks.Result
	Since    time.Time
}

// Change is a status change.
type Change struct {
	Time     time.Time
	From, To checks.Status
	Detail   string
}

// Point is one aggregated history point (a rollup bucket or a raw result).
type Point struct {
	Time     time.Time
	Value    float64
	HasValue bool
	Latency  time.Duration
	Count    int
	Failures int
}

// About is what the settings page shows about the box.
type About struct {
	Version         string
	CertFingerprint string
	StoreSize       int64
	ConfigVersion   int
	ConfigApplied   time.Time
	ConfigSource    string
	// BoxID and BoxKey identify the box to the MSP (receipts, hq).
	BoxID, BoxKey string
	Provisioning  ProvisioningView
	Firmware      FirmwareView
}

// FirmwareView is the Settings page's firmware card: the version running,
// the highest the box has run (an update below it is refused), an update
// in its health window, and the last recorded outcomes, newest first.
type FirmwareView struct {
	Highest string
	// Trial is an update in its health window ("" when none).
	Trial  string
	Events []FirmwareEvent
}

// FirmwareEvent is one recorded update outcome.
type FirmwareEvent struct {
	Time                             time.Time
	Result, From, To, Reason, Source string
}

// Options configure the UI server. Each page reads through its own
// interface, declared next to it; a page whose backend is nil is not
// served (the daemon passes one adapter for all of them). Users is
// required.
type Options struct {
	Site      SiteBackend
	Dashboard DashboardBackend
	Checks    ChecksBackend
	CheckEdit CheckEditBackend
	Devices   DevicesBackend
	Inventory InventoryBackend
	Incidents IncidentsBackend
	Notify    NotifyBackend
	Sections  SectionsBackend
	Reports   ReportsBackend
	Settings  SettingsBackend
	Logs      LogsBackend
	Backups   BackupsBackend
	Users     Users
	Claim     Claim // first boot needs its code (auth.go); nil: /setup refuses
	Clock     clock.Clock
	Log       *slog.Logger
	// Secure marks cookies Secure; true when served over HTTPS.
	Secure bool
}

// Server serves the UI.
type Server struct {
	o       Options
	mux     *http.ServeMux
	limiter *loginLimiter
	routes  []Route
	mu      sync.Mutex
}

// Route is one UI route; Routes lists them so tests can prove every
// state-changing route demands a CSRF token.
type Route struct {
	Method, Pattern string
	// Role is the least role allowed ("" = no login needed).
	Role Role
}

//go:embed static
var static embed.FS

// New builds the UI server.
func New(o Options) *Server {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	s := &Server{o: o, mux: http.NewServeMux(), limiter: newLoginLimiter(o.Clock, 5, time.Minute)}
	s.mux.Handle("GET /static/", http.StripPrefix("/static/", cacheFor(24*time.Hour, http.FileServerFS(mustSub(static, "static")))))
	for _, p := range pages {
		p(s)
	}
	return s
}

// pages registers each page's routes; each page file appends to it in
// init, so adding a page is one file.
var pages []func(*Server)

// handle registers a route with its role and CSRF protection.
func (s *Server) handle(method, pattern string, role Role, h func(w http.ResponseWriter, r *http.Request, sess *Session) error) {
	s.routes = append(s.routes, Route{Method: method, Pattern: pattern, Role: role})
	s.mux.HandleFunc(method+" "+pattern, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Frame-Options", "DENY")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "same-origin")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'")
		w.Header().Set("Cache-Control", "no-store")
		sess := s.session(r)
		if role != RoleNone {
			if sess == nil {
				if n, _ := s.o.Users.CountUsers(); n == 0 {
					http.Redirect(w, r, "/setup", http.StatusSeeOther)
					return
				}
				http.Redirect(w, r, "/login?next="+urlEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			if !sess.Role.AtLeast(role) {
				s.fail(w, r, sess, Errorf(EFORBIDDEN, "this needs the %s role; you are %s", role, sess.Role))
				return
			}
		}
		if method == http.MethodPost {
			if err := s.checkCSRF(r, sess); err != nil {
				s.fail(w, r, sess, err)
				return
			}
		}
		if err := h(w, r, sess); err != nil {
			s.fail(w, r, sess, err)
		}
	})
}

// Routes lists every route the UI serves.
func (s *Server) Routes() []Route {
	out := append([]Route(nil), s.routes...)
	sort.Slice(out, func(i, j int) bool { return out[i].Pattern+out[i].Method < out[j].Pattern+out[j].Method })
	return out
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func (s *Server) render(w http.ResponseWriter, r *http.Request, sess *Session, title string, body templ.Component) error {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	return page(s.layoutData(r, sess, title), body).Render(r.Context(), w)
}

// LayoutData is what the page shell needs.
type LayoutData struct {
	Title string
	Site  string
	User  string
	Role  Role
	CSRF  string
	Path  string
}

func (s *Server) layoutData(r *http.Request, sess *Session, title string) LayoutData {
	d := LayoutData{Title: title, Site: s.siteName(), Path: r.URL.Path}
	if sess != nil {
		d.User, d.Role, d.CSRF = sess.User, sess.Role, sess.CSRF
	}
	return d
}

func (s *Server) siteName() string {
	if s.o.Site == nil {
		return ""
	}
	return s.o.Site.SiteName()
}

func cacheFor(d time.Duration, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", fmt.Sprintf("public, max-age=%d", int(d.Seconds())))
		h.ServeHTTP(w, r)
	})
}

func urlEscape(s string) string {
	return strings.NewReplacer("%", "%25", "&", "%26", "?", "%3F", "#", "%23", " ", "%20").Replace(s)
}
