package appliance

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"outpost/appliance/config"
	"outpost/checks"
	"outpost/checks/syslog"
	"outpost/store"
)

// The syslog receiver and the logs API (docs/logs.md): lines the
// receiver keeps go to the store's events, which log_match checks and
// `outpost logs` read back.

// logsWiring is the running syslog receiver, if any, and the config it
// was last given.
type logsWiring struct {
	mu      sync.Mutex
	recv    *syslog.Receiver
	listens [3]string // udp, tcp, tls it was started with
	cfg     *config.Config
	// moved tells runSyslog that the addresses changed.
	moved chan struct{}
}

// wireLogs hands the store to every check as its event reader and adds
// the logs API to the control socket. New calls it before the first
// config is applied.
func (a *Appliance) wireLogs() {
	a.deps.Events, a.deps.Keeper = a.store, a.store
	a.routes = append(a.routes, a.logRoutes)
}

// syslogFollowEvery is how often the syslog wiring looks for a new
// config in force (a reload, a UI edit, a bundle).
const syslogFollowEvery = time.Second

// syslogServices are the syslog receiver, started and moved with the
// config in force (runSyslog), and the loop that gives it, and the
// store's log bounds, each new config.
func (a *Appliance) syslogServices() []service {
	a.logs.moved = make(chan struct{}, 1)
	return []service{{name: "syslog receiver", run: a.runSyslog}, {name: "syslog config", run: loop(a.followSyslogConfig)}}
}

// runSyslog runs the receiver the config in force asks for and moves it
// when syslog.udp, tcp or tls changes: the old sockets close, the new
// ones bind. Addresses that cannot be bound are logged and the receiver
// stays off until the next change; monitoring goes on.
func (a *Appliance) runSyslog(ctx context.Context) error {
	return runReceiver(ctx, a.logs.moved, func() func(context.Context) error {
		if r := a.startSyslog(); r != nil {
			return r.Run
		}
		return nil
	}, func() {
		a.logs.mu.Lock()
		a.logs.recv = nil
		a.logs.mu.Unlock()
	})
}

// startSyslog makes the receiver for the config in force (nil: none
// configured, or it could not bind).
func (a *Appliance) startSyslog() *syslog.Receiver {
	cfg := a.Config()
	sc := syslog.ConfigOf(cfg)
	a.applyLogBounds(sc)
	a.logs.mu.Lock()
	defer a.logs.mu.Unlock()
	a.logs.cfg = cfg
	a.logs.listens = [3]string{sc.UDP, sc.TCP, sc.TLS}
	if !sc.Enabled() {
		return nil
	}
	pol := syslog.PolicyFor(sc, cfg.Devices)
	for _, w := range pol.Warnings() {
		a.log.Warn("syslog: " + w)
	}
	r, err := syslog.New(syslog.Options{UDP: sc.UDP, TCP: sc.TCP, TLS: sc.TLS, Policy: pol, OnEvent: a.store.AppendEvent, Clock: a.o.Clock,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{a.cert}, MinVersion: tls.VersionTLS12},
		Logf:      func(format string, args ...any) { a.log.Warn(fmt.Sprintf(format, args...)) }})
	if err != nil {
		a.log.Error("syslog receiver not started", "err", err)
		return nil
	}
	a.logs.recv = r
	udp, tcp, tl := r.Addrs()
	a.log.Info("syslog receiver listening", "udp", addrString(udp), "tcp", addrString(tcp), "tls", addrString(tl), "tls_fingerprint", a.certFP)
	return r
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// followSyslogConfig gives the receiver and the store each new config's
// devices, sources, limits and log bounds; new addresses move it
// (runSyslog).
func (a *Appliance) followSyslogConfig(ctx context.Context) {
	t := a.o.Clock.NewTimer(syslogFollowEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
		t.Reset(syslogFollowEvery)
		cfg := a.Config()
		a.logs.mu.Lock()
		if cfg == a.logs.cfg {
			a.logs.mu.Unlock()
			continue
		}
		a.logs.cfg = cfg
		r, listens := a.logs.recv, a.logs.listens
		a.logs.mu.Unlock()
		sc := syslog.ConfigOf(cfg)
		a.applyLogBounds(sc)
		if now := [3]string{sc.UDP, sc.TCP, sc.TLS}; now != listens {
			a.log.Info("syslog receiver moving", "from", strings.Join(listens[:], " "), "to", strings.Join(now[:], " "))
			select {
			case a.logs.moved <- struct{}{}:
			default:
			}
			continue
		}
		if r != nil {
			pol := syslog.PolicyFor(sc, cfg.Devices)
			for _, w := range pol.Warnings() {
				a.log.Warn("syslog: " + w)
			}
			r.SetPolicy(pol)
		}
	}
}

func (a *Appliance) applyLogBounds(sc *syslog.Config) {
	rt := sc.Retention
	if err := a.store.SetLogBounds(store.LogBounds{MaxAge: rt.MaxAge, DeviceBytes: int64(rt.PerDevice), TotalBytes: int64(rt.Total), Devices: rt.Devices}); err != nil {
		a.log.Error("syslog retention not applied to the store", "err", err)
	}
}

func (a *Appliance) syslogReceiver() *syslog.Receiver {
	a.logs.mu.Lock()
	defer a.logs.mu.Unlock()
	return a.logs.recv
}

// Bounds of one logs query: what it returns, and what it reads before
// it answers with what it found (partial).
const (
	logsDefaultLimit = 100
	logsMaxLimit     = 10_000
	logsMaxScan      = 1_000_000
	logsMaxGrep      = 1024
)

// LogsAnswer is what GET /logs answers: the events found, oldest first.
type LogsAnswer struct {
	Events []checks.Event `json:"events"`
	// Scanned counts the events read; More says older matches may
	// exist beyond the limit; Partial that the scan stopped at
	// logsMaxScan events, so older matches were not looked for.
	Scanned int  `json:"scanned"`
	More    bool `json:"more"`
	Partial bool `json:"partial"`
}

// LogsStats is what GET /logs/stats answers.
type LogsStats struct {
	// Receiver is nil when no receiver runs.
	Receiver *syslog.Stats `json:"receiver,omitempty"`
	// Journal is nil when the box's journal is not followed.
	Journal *syslog.JournalStats `json:"journal,omitempty"`
	Store   store.LogUsage       `json:"store"`
	Dropped uint64               `json:"store_dropped"`
}

func (a *Appliance) logRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /logs", a.apiLogs)
	mux.HandleFunc("GET /logs/stats", func(w http.ResponseWriter, r *http.Request) {
		var st LogsStats
		if rc := a.syslogReceiver(); rc != nil {
			s := rc.Stats()
			st.Receiver = &s
		}
		if j := a.journalFollower(); j != nil {
			s := j.Stats()
			st.Journal = &s
		}
		var err error
		if st.Store, err = a.store.LogUsage(); err != nil {
			writeError(w, http.StatusInternalServerError, err)
			return
		}
		st.Dropped = a.store.EventsDropped()
		writeJSON(w, http.StatusOK, st)
	})
}

// logSearch is one search of the stored events: the devices (none:
// all), the least severity (0 emerg ... 7 debug), a regex over
// checks.EventText, the source ("" any), the time range, and a page: at
// most Limit events older than or at Before, the first Skip of those at
// exactly Before's millisecond left out (they were on the page before).
type logSearch struct {
	Devices  []string
	Severity int
	Grep     *regexp.Regexp
	Source   string
	From, To time.Time
	Skip     int
	Limit    int
}

// searchLogs reads the store newest first and stops at s.Limit matches
// or logsMaxScan events read, so that no search holds more than a page
// in memory. The events come newest first.
func (a *Appliance) searchLogs(ctx context.Context, s logSearch) (LogsAnswer, error) {
	q := checks.EventQuery{Newest: true, Source: s.Source, Devices: s.Devices, From: s.From, To: s.To}
	var ans LogsAnswer
	skip, at := s.Skip, s.To.UnixMilli()
	err := a.store.ScanEvents(q, func(e checks.Event) bool {
		ans.Scanned++
		if ans.Scanned >= logsMaxScan {
			ans.Partial = true
			return false
		}
		if ans.Scanned%4096 == 0 && ctx.Err() != nil {
			return false
		}
		if checks.EventSeverity(e) > s.Severity || (s.Grep != nil && !s.Grep.MatchString(checks.EventText(e))) {
			return true
		}
		if skip > 0 && e.Time.UnixMilli() == at {
			skip--
			return true
		}
		if len(ans.Events) == s.Limit {
			ans.More = true
			return false
		}
		ans.Events = append(ans.Events, e)
		return true
	})
	if ans.Events == nil {
		ans.Events = []checks.Event{}
	}
	return ans, err
}

// parseLogSearch reads a search's parameters (the control socket's
// query, the UI's form): device=D (repeated or comma-separated),
// severity=S (at least), grep=RE, since=DUR (default 24h),
// source=syslog|trap|any, limit=N; before=UNIX-MS and skip=N page back.
// Errors name the parameter and what it should be.
func parseLogSearch(v url.Values, now time.Time) (logSearch, error) {
	s := logSearch{Severity: 7, Limit: logsDefaultLimit}
	for _, d := range v["device"] {
		for _, one := range strings.Split(d, ",") {
			if one = strings.TrimSpace(one); one != "" && !slices.Contains(s.Devices, one) {
				s.Devices = append(s.Devices, one)
			}
		}
	}
	switch src := v.Get("source"); src {
	case "", "any":
	case checks.SourceSyslog, checks.SourceTrap, checks.SourceEventLog, checks.SourceJournal:
		s.Source = src
	default:
		return s, fmt.Errorf("source %q is not syslog, trap, eventlog, journal or any", src)
	}
	if sev := v.Get("severity"); sev != "" {
		var err error
		if s.Severity, err = checks.ParseSyslogSeverity(sev); err != nil {
			return s, err
		}
	}
	if g := v.Get("grep"); g != "" {
		if len(g) > logsMaxGrep {
			return s, fmt.Errorf("grep is %d bytes; at most %d", len(g), logsMaxGrep)
		}
		var err error
		if s.Grep, err = regexp.Compile(g); err != nil {
			return s, fmt.Errorf("grep %q is not a regular expression (RE2 syntax): %v", g, err)
		}
	}
	since := 24 * time.Hour
	if str := v.Get("since"); str != "" {
		d, err := config.ParseDuration(str)
		if err != nil || d <= 0 {
			return s, fmt.Errorf("since %q is not a duration (e.g. 30m, 2h, 7d)", str)
		}
		since = d
	}
	if str := v.Get("limit"); str != "" {
		n, err := strconv.Atoi(str)
		if err != nil || n < 1 || n > logsMaxLimit {
			return s, fmt.Errorf("limit %q is not 1 to %d", str, logsMaxLimit)
		}
		s.Limit = n
	}
	s.From, s.To = now.Add(-since), now
	if str := v.Get("before"); str != "" {
		ms, err := strconv.ParseInt(str, 10, 64)
		if err != nil || ms <= 0 {
			return s, fmt.Errorf("before %q is not a time in Unix milliseconds", str)
		}
		if b := time.UnixMilli(ms); b.Before(s.To) {
			s.To = b
		}
	}
	if str := v.Get("skip"); str != "" {
		n, err := strconv.Atoi(str)
		if err != nil || n < 0 || n > logsMaxLimit {
			return s, fmt.Errorf("skip %q is not 0 to %d", str, logsMaxLimit)
		}
		s.Skip = n
	}
	return s, nil
}

// apiLogs searches the stored events (parseLogSearch says how) and
// answers them oldest first.
func (a *Appliance) apiLogs(w http.ResponseWriter, r *http.Request) {
	s, err := parseLogSearch(r.URL.Query(), a.o.Clock.Now())
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	ans, err := a.searchLogs(r.Context(), s)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	slices.Reverse(ans.Events)
	writeJSON(w, http.StatusOK, ans)
}

var (
	mSyslogDgrams = desc("outpost_syslog_datagrams_total", "UDP datagrams the syslog receiver read.")
	mSyslogConns  = desc("outpost_syslog_connections_total", "TCP and TLS connections the syslog receiver accepted.")
	mSyslogOpen   = desc("outpost_syslog_connections_open", "TCP and TLS connections held now.")
	mSyslogLines  = desc("outpost_syslog_lines_total", "Syslog lines read.")
	mSyslogOK     = desc("outpost_syslog_accepted_total", "Syslog lines kept as events.")
	mSyslogCut    = desc("outpost_syslog_truncated_total", "Kept lines cut to 8192 bytes.")
	mSyslogRaw    = desc("outpost_syslog_raw_total", "Kept lines in no syslog format (kept as text).")
	mSyslogDrop   = desc("outpost_syslog_dropped_total", "Lines and connections the syslog receiver dropped, by reason.", "reason")
	mSyslogKept   = desc("outpost_store_log_lines", "Syslog lines the store keeps.")
	mSyslogBytes  = desc("outpost_store_log_bytes", "Bytes of syslog lines the store keeps (within syslog.retention).")
	mSyslogGone   = desc("outpost_store_log_removed_total", "Syslog lines the store removed, by bound: size (per device, in all, devices) or age.", "bound")
	mJournalRuns  = desc("outpost_journal_runs_total", "journalctl runs reading the box's journal (syslog.journal).")
	mJournalFail  = desc("outpost_journal_failed_total", "journalctl runs that failed to start or exited with an error.")
	mJournalLines = desc("outpost_journal_entries_total", "Lines of journalctl output read.")
	mJournalKept  = desc("outpost_journal_kept_total", "Journal entries kept as events.")
	mJournalDrop  = desc("outpost_journal_dropped_total", "Journal entries dropped, by reason.", "reason")
)

// syslogCollector is the syslog receiver's counters and what the store
// keeps of lines, for /metrics (metricsHandler registers it).
type syslogCollector struct{ a *Appliance }

func (c syslogCollector) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(c, ch) }

func (c syslogCollector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	if r := c.a.syslogReceiver(); r != nil {
		s := r.Stats()
		counter(mSyslogDgrams, float64(s.Datagrams))
		counter(mSyslogConns, float64(s.Connections))
		gauge(mSyslogOpen, float64(s.Open))
		counter(mSyslogLines, float64(s.Lines))
		counter(mSyslogOK, float64(s.Accepted))
		counter(mSyslogCut, float64(s.Truncated))
		counter(mSyslogRaw, float64(s.Raw))
		for reason, v := range s.Dropped {
			counter(mSyslogDrop, float64(v), reason)
		}
	}
	if j := c.a.journalFollower(); j != nil {
		s := j.Stats()
		counter(mJournalRuns, float64(s.Runs))
		counter(mJournalFail, float64(s.Failed))
		counter(mJournalLines, float64(s.Entries))
		counter(mJournalKept, float64(s.Kept))
		for _, reason := range []string{syslog.JournalTooLong, syslog.JournalGarbage, syslog.JournalEmpty} {
			counter(mJournalDrop, float64(s.Dropped[reason]), reason)
		}
	}
	if u, err := c.a.store.LogUsage(); err == nil {
		gauge(mSyslogKept, float64(u.Lines))
		gauge(mSyslogBytes, float64(u.Bytes))
		counter(mSyslogGone, float64(u.Evicted), "size")
		counter(mSyslogGone, float64(u.Expired), "age")
	}
}
