package appliance

import (
	"net/http"
	"sort"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"outpost/appliance/scheduler"
	"outpost/checks"
)

// The status endpoint's /metrics is the Prometheus exposition of the
// daemon, made with client_golang: the daemon's own counters (read at
// scrape time from the scheduler, the store, the trap receiver and the
// clock check, so nothing is counted twice), one series per check
// (status, latency and value, labelled as blackbox_exporter users
// expect), and the Go runtime and process collectors (memory, open
// files, goroutines).

// metricsHandler serves /metrics.
func (a *Appliance) metricsHandler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(boxCollector{a}, syslogCollector{a},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slogPrinter{a}, ErrorHandling: promhttp.ContinueOnError})
}

// slogPrinter hands promhttp's errors to the daemon's log.
type slogPrinter struct{ a *Appliance }

func (p slogPrinter) Println(v ...any) { p.a.log.Error("metrics", "err", v) }

var checkLabels = []string{"check", "kind", "device", "group"}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

var (
	mBuild      = desc("outpost_build_info", "Build information.", "version", "commit")
	mConfigured = desc("outpost_checks_configured", "Checks in the running config.")
	mRuns       = desc("outpost_checks_run_total", "Check runs by kind.", "kind")
	mFailures   = desc("outpost_check_failures_total", "Check runs whose status was not ok, by kind.", "kind")
	mSkipped    = desc("outpost_checks_skipped_total", "Runs skipped because the previous run of the same check was still going.")
	mStale      = desc("outpost_checks_stale_total", "Planned runs dropped because they waited past the check's next slot (workers busy).")
	mBehind     = desc("outpost_checks_behind", "Checks whose last planned run was dropped: they miss their schedule.")
	mInFlight   = desc("outpost_checks_in_flight", "Checks running now.")
	mLateness   = desc("outpost_scheduler_lateness_seconds", "Actual minus planned start of check runs.")

	mCommits  = desc("outpost_store_commits_total", "bbolt commits.")
	mWritten  = desc("outpost_store_results_written_total", "Results committed to the store.")
	mPending  = desc("outpost_store_pending_results", "Results waiting for the next commit.")
	mDropped  = desc("outpost_store_dropped_results_total", "Results not kept because commits failed until the pending bound was reached.")
	mFull     = desc("outpost_store_full", "Whether the last commit failed because the disk is full.")
	mEvDrop   = desc("outpost_store_events_dropped_total", "Events (traps) not kept by the store's bounds.")
	mSize     = desc("outpost_store_size_bytes", "Size of outpost.db.")
	mSynced   = desc("outpost_clock_synchronized", "Whether the box's clock is synchronised (1), not (0), or nothing here can tell (-1); from its clock check.")
	mClock    = desc("outpost_clock_time_seconds", "The box's wall clock, Unix seconds: compare with the scraper's time to see how far off it is.")
	mTrapPkts = desc("outpost_traps_packets_total", "Datagrams the SNMP trap receiver read.")
	mTrapOK   = desc("outpost_traps_accepted_total", "Traps and informs turned into events.")
	mTrapCut  = desc("outpost_traps_truncated_total", "Accepted traps whose variables were cut or left out.")
	mTrapDrop = desc("outpost_traps_dropped_total", "Packets the trap receiver dropped, by reason.", "reason")
	mTrapRep  = desc("outpost_traps_reports_total", "SNMPv3 reports (discovery, time window) sent, or not sent for the reply rate.", "result")
	mTrapInf  = desc("outpost_traps_inform_responses_total", "Informs acknowledged.")

	mStatus  = desc("outpost_check_status", "Latest status per check (0 ok, 1 warning, 2 critical, 3 unknown).", checkLabels...)
	mUp      = desc("outpost_check_up", "Whether the check's latest result is ok (1) or not (0), like blackbox_exporter's probe_success.", checkLabels...)
	mLatency = desc("outpost_check_latency_seconds", "How long the check's latest run took to answer.", checkLabels...)
	mValue   = desc("outpost_check_value", "The check kind's main number in its latest result (round trip ms, % used, days left, ...), when it has one.", checkLabels...)
	mLast    = desc("outpost_check_last_run_timestamp_seconds", "When the check's latest result started, Unix seconds.", checkLabels...)
)

// boxCollector reads the daemon's state at scrape time.
type boxCollector struct{ a *Appliance }

func (c boxCollector) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(c, ch) }

func (c boxCollector) Collect(ch chan<- prometheus.Metric) {
	a := c.a
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	sc := a.sched.Stats()
	ss := a.store.Stats()
	gauge(mBuild, 1, Version, Commit)
	gauge(mConfigured, float64(sc.Jobs))

	var kinds []string
	a.counters.Range(func(k, _ any) bool { kinds = append(kinds, k.(string)); return true })
	sort.Strings(kinds)
	for _, k := range kinds {
		v, _ := a.counters.Load(k)
		kc := v.(*kindCounters)
		counter(mRuns, float64(kc.runs.Load()), k)
		counter(mFailures, float64(kc.failures.Load()), k)
	}
	counter(mSkipped, float64(sc.Skipped))
	counter(mStale, float64(sc.Stale))
	gauge(mBehind, float64(sc.Behind))
	gauge(mInFlight, float64(sc.InFlight))
	cum, sum, n := sc.Lateness.Snapshot()
	buckets := make(map[float64]uint64, len(scheduler.Bounds))
	for i, bound := range scheduler.Bounds {
		buckets[bound.Seconds()] = cum[i]
	}
	ch <- prometheus.MustNewConstHistogram(mLateness, n, sum.Seconds(), buckets)

	counter(mCommits, float64(ss.Commits))
	counter(mWritten, float64(ss.ResultsWritten))
	gauge(mPending, float64(ss.Pending))
	counter(mDropped, float64(ss.Dropped))
	gauge(mFull, map[bool]float64{true: 1}[ss.Full])
	counter(mEvDrop, float64(a.store.EventsDropped()))
	gauge(mSize, float64(ss.FileSize))
	gauge(mSynced, map[string]float64{checks.ClockWordSynced: 1, checks.ClockWordUnsynced: 0, checks.ClockWordUnknown: -1}[a.ClockState().Sync])
	gauge(mClock, float64(a.o.Clock.Now().UnixMilli())/1000)

	if tr := a.trapReceiver(); tr != nil {
		ts := tr.Stats()
		counter(mTrapPkts, float64(ts.Packets))
		counter(mTrapOK, float64(ts.Accepted))
		counter(mTrapCut, float64(ts.Truncated))
		for reason, v := range ts.Dropped {
			counter(mTrapDrop, float64(v), reason)
		}
		counter(mTrapRep, float64(ts.Reports), "sent")
		counter(mTrapRep, float64(ts.ReportsLimited), "rate_limited")
		counter(mTrapInf, float64(ts.InformResponses))
	}

	for _, sp := range a.Config().Specs() {
		r, ok := a.store.Latest(sp.ID)
		if !ok {
			continue
		}
		l := []string{sp.ID, sp.Kind, sp.Labels.Device, sp.Labels.Group}
		gauge(mStatus, float64(r.Status), l...)
		gauge(mUp, map[bool]float64{true: 1}[r.Status == checks.OK], l...)
		gauge(mLatency, r.Latency.Seconds(), l...)
		gauge(mLast, float64(r.Time.UnixMilli())/1000, l...)
		if r.HasValue {
			gauge(mValue, r.Value, l...)
		}
	}
}
