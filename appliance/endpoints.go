package appliance

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	phwire "outpost/appliance/phonehome/wire"
	"outpost/appliance/scheduler"
	"outpost/checks"
)

// statusMux serves /healthz and /metrics on the status port. They carry
// no secrets and no controls, so they need no login.
func (a *Appliance) statusMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", a.healthz)
	mux.HandleFunc("GET /metrics", a.metrics)
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

// metrics writes the Prometheus text exposition format by hand: a handful
// of series does not justify the client library's weight on the box.
func (a *Appliance) metrics(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	var b strings.Builder
	sc := a.sched.Stats()
	ss := a.store.Stats()

	b.WriteString("# HELP outpost_build_info Build information.\n# TYPE outpost_build_info gauge\n")
	fmt.Fprintf(&b, "outpost_build_info{version=%q,commit=%q} 1\n", Version, Commit)
	b.WriteString("# HELP outpost_checks_configured Checks in the running config.\n# TYPE outpost_checks_configured gauge\n")
	fmt.Fprintf(&b, "outpost_checks_configured %d\n", sc.Jobs)

	var kinds []string
	a.counters.Range(func(k, _ any) bool { kinds = append(kinds, k.(string)); return true })
	sort.Strings(kinds)
	b.WriteString("# HELP outpost_checks_run_total Check runs by kind.\n# TYPE outpost_checks_run_total counter\n")
	for _, k := range kinds {
		v, _ := a.counters.Load(k)
		fmt.Fprintf(&b, "outpost_checks_run_total{kind=%q} %d\n", k, v.(*kindCounters).runs.Load())
	}
	b.WriteString("# HELP outpost_check_failures_total Check runs whose status was not ok, by kind.\n# TYPE outpost_check_failures_total counter\n")
	for _, k := range kinds {
		v, _ := a.counters.Load(k)
		fmt.Fprintf(&b, "outpost_check_failures_total{kind=%q} %d\n", k, v.(*kindCounters).failures.Load())
	}
	b.WriteString("# HELP outpost_checks_skipped_total Runs skipped because the previous run of the same check was still going.\n# TYPE outpost_checks_skipped_total counter\n")
	fmt.Fprintf(&b, "outpost_checks_skipped_total %d\n", sc.Skipped)
	b.WriteString("# HELP outpost_checks_stale_total Planned runs dropped because they waited past the check's next slot (workers busy).\n# TYPE outpost_checks_stale_total counter\n")
	fmt.Fprintf(&b, "outpost_checks_stale_total %d\n", sc.Stale)
	b.WriteString("# HELP outpost_checks_behind Checks whose last planned run was dropped: they miss their schedule.\n# TYPE outpost_checks_behind gauge\n")
	fmt.Fprintf(&b, "outpost_checks_behind %d\n", sc.Behind)
	b.WriteString("# HELP outpost_checks_in_flight Checks running now.\n# TYPE outpost_checks_in_flight gauge\n")
	fmt.Fprintf(&b, "outpost_checks_in_flight %d\n", sc.InFlight)

	b.WriteString("# HELP outpost_scheduler_lateness_seconds Actual minus planned start of check runs.\n# TYPE outpost_scheduler_lateness_seconds histogram\n")
	cum, sum, n := sc.Lateness.Snapshot()
	for i, bound := range scheduler.Bounds {
		fmt.Fprintf(&b, "outpost_scheduler_lateness_seconds_bucket{le=\"%g\"} %d\n", bound.Seconds(), cum[i])
	}
	fmt.Fprintf(&b, "outpost_scheduler_lateness_seconds_bucket{le=\"+Inf\"} %d\n", cum[len(cum)-1])
	fmt.Fprintf(&b, "outpost_scheduler_lateness_seconds_sum %g\noutpost_scheduler_lateness_seconds_count %d\n", sum.Seconds(), n)

	b.WriteString("# HELP outpost_store_commits_total bbolt commits.\n# TYPE outpost_store_commits_total counter\n")
	fmt.Fprintf(&b, "outpost_store_commits_total %d\n", ss.Commits)
	b.WriteString("# HELP outpost_store_results_written_total Results committed to the store.\n# TYPE outpost_store_results_written_total counter\n")
	fmt.Fprintf(&b, "outpost_store_results_written_total %d\n", ss.ResultsWritten)
	b.WriteString("# HELP outpost_store_pending_results Results waiting for the next commit.\n# TYPE outpost_store_pending_results gauge\n")
	fmt.Fprintf(&b, "outpost_store_pending_results %d\n", ss.Pending)
	b.WriteString("# HELP outpost_store_dropped_results_total Results not kept because commits failed until the pending bound was reached.\n# TYPE outpost_store_dropped_results_total counter\n")
	fmt.Fprintf(&b, "outpost_store_dropped_results_total %d\n", ss.Dropped)
	b.WriteString("# HELP outpost_store_full Whether the last commit failed because the disk is full.\n# TYPE outpost_store_full gauge\n")
	fmt.Fprintf(&b, "outpost_store_full %d\n", map[bool]int{true: 1}[ss.Full])
	b.WriteString("# HELP outpost_store_events_dropped_total Events (traps) not kept by the store's bounds.\n# TYPE outpost_store_events_dropped_total counter\n")
	fmt.Fprintf(&b, "outpost_store_events_dropped_total %d\n", a.store.EventsDropped())
	b.WriteString("# HELP outpost_store_size_bytes Size of outpost.db.\n# TYPE outpost_store_size_bytes gauge\n")
	fmt.Fprintf(&b, "outpost_store_size_bytes %d\n", ss.FileSize)

	b.WriteString("# HELP outpost_clock_synchronized Whether the box's clock is synchronised (1), not (0), or nothing here can tell (-1); from its clock check.\n# TYPE outpost_clock_synchronized gauge\n")
	sync := map[string]int{checks.ClockWordSynced: 1, checks.ClockWordUnsynced: 0, checks.ClockWordUnknown: -1}[a.ClockState().Sync]
	fmt.Fprintf(&b, "outpost_clock_synchronized %d\n", sync)
	b.WriteString("# HELP outpost_clock_time_seconds The box's wall clock, Unix seconds: compare with the scraper's time to see how far off it is.\n# TYPE outpost_clock_time_seconds gauge\n")
	fmt.Fprintf(&b, "outpost_clock_time_seconds %.3f\n", float64(a.o.Clock.Now().UnixMilli())/1000)

	if tr := a.trapReceiver(); tr != nil {
		ts := tr.Stats()
		b.WriteString("# HELP outpost_traps_packets_total Datagrams the SNMP trap receiver read.\n# TYPE outpost_traps_packets_total counter\n")
		fmt.Fprintf(&b, "outpost_traps_packets_total %d\n", ts.Packets)
		b.WriteString("# HELP outpost_traps_accepted_total Traps and informs turned into events.\n# TYPE outpost_traps_accepted_total counter\n")
		fmt.Fprintf(&b, "outpost_traps_accepted_total %d\n", ts.Accepted)
		b.WriteString("# HELP outpost_traps_truncated_total Accepted traps whose variables were cut or left out.\n# TYPE outpost_traps_truncated_total counter\n")
		fmt.Fprintf(&b, "outpost_traps_truncated_total %d\n", ts.Truncated)
		b.WriteString("# HELP outpost_traps_dropped_total Packets the trap receiver dropped, by reason.\n# TYPE outpost_traps_dropped_total counter\n")
		reasons := make([]string, 0, len(ts.Dropped))
		for r := range ts.Dropped {
			reasons = append(reasons, r)
		}
		sort.Strings(reasons)
		for _, reason := range reasons {
			fmt.Fprintf(&b, "outpost_traps_dropped_total{reason=%q} %d\n", reason, ts.Dropped[reason])
		}
		b.WriteString("# HELP outpost_traps_reports_total SNMPv3 reports (discovery, time window) sent, or not sent for the reply rate.\n# TYPE outpost_traps_reports_total counter\n")
		fmt.Fprintf(&b, "outpost_traps_reports_total{result=\"sent\"} %d\noutpost_traps_reports_total{result=\"rate_limited\"} %d\n", ts.Reports, ts.ReportsLimited)
		b.WriteString("# HELP outpost_traps_inform_responses_total Informs acknowledged.\n# TYPE outpost_traps_inform_responses_total counter\n")
		fmt.Fprintf(&b, "outpost_traps_inform_responses_total %d\n", ts.InformResponses)
	}

	b.WriteString("# HELP outpost_check_status Latest status per check (0 ok, 1 warning, 2 critical, 3 unknown).\n# TYPE outpost_check_status gauge\n")
	cfg := a.Config()
	for _, c := range cfg.Checks {
		if r, ok := a.store.Latest(c.ID); ok {
			fmt.Fprintf(&b, "outpost_check_status{check=%q,kind=%q,device=%q} %d\n", c.ID, c.Kind, c.Labels.Device, r.Status)
		}
	}
	w.Write([]byte(b.String()))
}

// controlMux is the API on the control socket, for the CLI. Feature
// packages add their routes through ControlRoutes.
func (a *Appliance) controlMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, a.Health()) })
	mux.HandleFunc("GET /checks", a.apiChecks)
	mux.HandleFunc("POST /checks/{id}/run", a.apiRunNow)
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
