package appliance

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	phwire "outpost/appliance/phonehome/wire"
	"outpost/checks"
)

// statusMux serves /healthz and /metrics on the status port. They carry
// no secrets and no controls, so they need no login.
func (a *Appliance) statusMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", a.healthz)
	mux.Handle("GET /metrics", a.metricsHandler())
	return mux
}

// Health is the daemon's own health, as /healthz and the control API
// report it.
type Health struct {
	OK            bool          `json:"ok"`
	Problems      []string      `json:"problems,omitempty"`
	Version       string        `json:"version"`
	Uptime        time.Duration `json:"uptime_ns"`
	Checks        int           `json:"checks"`
	LastCommit    time.Time     `json:"last_commit"`
	PendingWrites int           `json:"pending_writes"`
	LatenessP99   time.Duration `json:"lateness_p99_ns"`
	// Clock is the box's own clock: whether anything says it is
	// synchronised (docs/time.md).
	Clock phwire.Clock `json:"clock"`
	// Behind is how many checks miss their schedule: their last planned
	// run was dropped because the workers were busy (hanging targets);
	// Warnings say so, and what else is degraded without being down.
	Behind   int      `json:"checks_behind"`
	Warnings []string `json:"warnings,omitempty"`
}

// Health reports whether the scheduler runs and the store keeps up.
func (a *Appliance) Health() Health {
	ss := a.store.Stats()
	sc := a.sched.Stats()
	h := Health{OK: true, Version: Version, Checks: sc.Jobs, LastCommit: ss.LastCommit, PendingWrites: ss.Pending, LatenessP99: sc.Lateness.Quantile(0.99),
		Uptime: a.uptime(), Clock: a.ClockState(), Behind: sc.Behind}
	if !a.running.Load() {
		h.OK = false
		h.Problems = append(h.Problems, "daemon not running")
	}
	// Results waiting longer than a few flush intervals mean the disk
	// is stuck or failing.
	if ss.Pending > 0 && !ss.LastCommit.IsZero() && ss.SinceCommit > 30*time.Second {
		h.OK = false
		h.Problems = append(h.Problems, fmt.Sprintf("store has not committed for %s with %d results pending", ss.SinceCommit.Round(time.Second), ss.Pending))
	}
	if ss.LastError != "" {
		h.OK = false
		what := "store cannot commit"
		if ss.Full {
			what = "store full"
		}
		h.Problems = append(h.Problems, fmt.Sprintf("%s: %s (%d results kept in memory, %d dropped)", what, ss.LastError, ss.Pending, ss.Dropped))
	}
	if sc.Behind > 0 {
		h.Warnings = append(h.Warnings, fmt.Sprintf("%d checks missing their schedule (runs dropped while the workers were busy: %d so far)", sc.Behind, sc.Stale))
	}
	if h.Clock.Sync == checks.ClockWordUnsynced {
		h.Warnings = append(h.Warnings, "clock not synchronised: "+h.Clock.Detail)
	}
	return h
}

func (a *Appliance) healthz(w http.ResponseWriter, r *http.Request) {
	h := a.Health()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if !h.OK {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "unhealthy: %s\n", strings.Join(h.Problems, "; "))
		return
	}
	fmt.Fprintf(w, "ok\nversion %s\nchecks %d\nuptime %s\nclock %s\n", h.Version, h.Checks, h.Uptime.Round(time.Second), h.Clock.Sync)
	for _, warn := range h.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
}

// controlMux is the API on the control socket, for the CLI. Feature
// packages add their routes through ControlRoutes.
func (a *Appliance) controlMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, a.Health()) })
	mux.HandleFunc("GET /checks", a.apiChecks)
	mux.HandleFunc("POST /checks/{id}/run", a.apiRunNow)
	mux.HandleFunc("GET /backups", a.apiBackups)
	mux.HandleFunc("POST /reload", func(w http.ResponseWriter, r *http.Request) {
		if err := a.Reload(); err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"result": "reloaded"})
	})
	a.mu.RLock()
	for _, f := range a.routes {
		f(mux)
	}
	a.mu.RUnlock()
	return mux
}

// ControlRoutes lets a feature add routes to the control API; call before
// Run.
func (a *Appliance) ControlRoutes(f func(*http.ServeMux)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.routes = append(a.routes, f)
}

// CheckState is one check's latest state, for the CLI and the UI.
type CheckState struct {
	ID       string         `json:"id"`
	Kind     string         `json:"kind"`
	Target   string         `json:"target"`
	Labels   checks.Labels  `json:"labels"`
	Interval time.Duration  `json:"interval_ns"`
	Latest   *checks.Result `json:"latest,omitempty"`
	Since    time.Time      `json:"since,omitempty"`
}

// Checks returns every configured check with its latest result.
func (a *Appliance) Checks() []CheckState {
	cfg := a.Config()
	out := make([]CheckState, 0, len(cfg.Checks))
	for _, c := range cfg.Checks {
		cs := CheckState{ID: c.ID, Kind: c.Kind, Target: c.Target, Labels: c.Labels, Interval: c.Interval}
		if r, ok := a.store.Latest(c.ID); ok {
			cs.Latest = &r
		}
		if ch, ok, _ := a.store.LastChange(c.ID); ok {
			cs.Since = ch.Time
		}
		out = append(out, cs)
	}
	return out
}

func (a *Appliance) apiChecks(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, a.Checks())
}

func (a *Appliance) apiRunNow(w http.ResponseWriter, r *http.Request) {
	res, err := a.sched.RunNow(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, http.StatusNotFound, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, map[string]string{"error": err.Error()})
}
