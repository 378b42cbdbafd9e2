// Package ui is Outpost's local web interface: server-rendered templ pages
// that work without JavaScript, fast on a phone on the site Wi-Fi. It
// reads and acts through the narrow interfaces declared here (Backend,
// Users); it imports neither the store nor other features.
package ui

import (
	"context"
	"embed"
	"errors"
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

// Backend is what the UI reads and asks of the daemon.
type Backend interface {
	SiteName() string
	// CheckStates returns every check with its latest result.
	CheckStates() []CheckState
	// History returns a check's raw results in [from, to].
	History(id string, from, to time.Time) ([]checks.Result, error)
	// Changes returns a check's status changes in [from, to].
	Changes(id string, from, to time.Time) ([]Change, error)
	// Rollups returns aggregated points for long ranges; step is 5m or 1h.
	Rollups(id string, step time.Duration, from, to time.Time) ([]Point, error)
	// RunNow runs a check at once.
	RunNow(ctx context.Context, id string) (checks.Result, error)
	// About returns the box facts for the settings page.
	About() About
	// Incidents lists incidents newest first (open ones only if open).
	Incidents(open bool, limit int) ([]Incident, error)
	// Incident returns one incident; ErrNotFound-like errors become 404.
	Incident(id uint64) (Incident, error)
	// Act acknowledges, notes or resolves an incident as user.
	Act(id uint64, verb, user, note string) error
	// Remediations lists a check's remediations, in order.
	Remediations(check string) []string
	// Heal runs remediation index (0-based) of a check as user and says
	// what happened.
	Heal(ctx context.Context, check string, index int, user string) (string, error)
	// Kinds lists the check kinds this build knows.
	Kinds() []string
	// CheckForm returns a configured check for editing.
	CheckForm(id string) (CheckForm, bool)
	// SaveCheck replaces check orig (adds one when orig is "") and
	// applies the config as a new version. Validation problems come back
	// as a *FormError.
	SaveCheck(orig string, f CheckForm, user string) error
	// DeleteCheck removes a check from the config.
	DeleteCheck(id, user string) error
	// ConfigYAML is the config in force.
	ConfigYAML() []byte
	// Notifications describes channels, policies, on-call and recent
	// deliveries.
	Notifications() NotifyView
	// SendTest sends a test message through a channel.
	SendTest(ctx context.Context, channel string) (string, error)
	// Section returns a top-level config section as YAML text; ok is
	// false for a section the UI may not edit.
	Section(name string) (text string, ok bool)
	// SaveSection replaces a section (validation problems as *FormError).
	SaveSection(name, text, user string) error
	// Agents returns the Outpost agents that serve a device (by agent
	// or device name), with their latest inventory.
	Agents(device string) []AgentView
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
	Channels    []NamedKind
	Policies    []PolicyView
	OnCall      []NamedKind // rotation name, who now
	Maintenance []string
	Log         []LogLine
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

// CheckForm is the add/edit check form.
type CheckForm struct {
	ID, Kind, Target, Interval, Timeout, Device, Group, Severity, Options string
}

// FormError lists validation problems, each "field: what is wrong", worded
// as the config file's errors are.
type FormError struct{ Problems []string }

func (e *FormError) Error() string { return strings.Join(e.Problems, "; ") }

// Incident is an incident as the UI shows it.
type Incident struct {
	ID                                               uint64
	Check, Device, Severity, State, Summary, AckedBy string
	Status                                           checks.Status
	Flapping, InMaintenance, Escalated, Suspended    bool
	Opened                                           time.Time
	Acked, Resolved                                  *time.Time
	Resolution                                       string
	Children                                         []string
	Timeline                                         []TimelineEntry
}

// TimelineEntry is one line of an incident's timeline.
type TimelineEntry struct {
	Time                   time.Time
	Kind, By, Text, Output string
	OK                     *bool
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
}

// ProvisioningView is the provisioning state on the settings page.
type ProvisioningView struct {
	// PinnedKey is the pinned MSP key's id ("" before the first bundle).
	PinnedKey string
	PinnedAt  time.Time
	Version   uint64
	Site      string
	AppliedAt time.Time
	// Last is the last bundle seen: its result, reasons and source.
	LastResult, LastSource string
	LastVersion            uint64
	LastTime               time.Time
	LastReasons            []string
}

// Options configure the UI server.
type Options struct {
	Backend Backend
	Users   Users
	Clock   clock.Clock
	Log     *slog.Logger
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
				s.fail(w, r, sess, &Error{Code: http.StatusForbidden, Msg: fmt.Sprintf("this needs the %s role; you are %s", role, sess.Role)})
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

// Error is an error meant for the person at the browser: a status code
// and a message that is safe to show.
type Error struct {
	Code int
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

func (s *Server) fail(w http.ResponseWriter, r *http.Request, sess *Session, err error) {
	var ue *Error
	if !errors.As(err, &ue) {
		s.o.Log.Error("ui request failed", "path", r.URL.Path, "err", err)
		ue = &Error{Code: http.StatusInternalServerError, Msg: "internal error; the box's log has the details"}
	}
	w.WriteHeader(ue.Code)
	s.render(w, r, sess, "Error", errorPage(ue.Code, ue.Msg))
}

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
	d := LayoutData{Title: title, Site: s.o.Backend.SiteName(), Path: r.URL.Path}
	if sess != nil {
		d.User, d.Role, d.CSRF = sess.User, sess.Role, sess.CSRF
	}
	return d
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
