package hq

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// hq's /metrics (`hq run --metrics-listen`): its own health (what this
// instance ingested, how long it took, whether it leads the watcher,
// whether the store answers) and the fleet as the store knows it, one
// series per box (up, checks by status, open incidents, last seen, lost
// summaries) and the open alerts by kind, for the MSP's Prometheus.

// metrics are the counters an instance keeps of its own work.
type metrics struct {
	summaries *prometheus.CounterVec
	ingest    prometheus.Histogram
	leader    prometheus.Gauge
}

func newMetrics() *metrics {
	return &metrics{
		summaries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "outpost_hq_summaries_total",
			Help: "Summaries this instance answered, by outcome: stored, duplicate (a retry of one stored), conflict (refused), refused (bad request, unknown box, busy)."}, []string{"outcome"}),
		ingest: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "outpost_hq_ingest_seconds",
			Help: "Time to answer a summary request, body read included.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{Name: "outpost_hq_watcher_leader", Help: "1 while this instance runs the watcher (silent boxes, alerts)."}),
	}
}

var (
	descBoxes   = prometheus.NewDesc("outpost_hq_boxes", "Registered boxes.", nil, nil)
	descSilent  = prometheus.NewDesc("outpost_hq_boxes_silent", "Boxes heard from once and silent for three of their intervals since.", nil, nil)
	descStoreUp = prometheus.NewDesc("outpost_hq_store_up", "1 when the store answered this scrape.", []string{"store"}, nil)
	descAlerts  = prometheus.NewDesc("outpost_hq_alerts_open", "Open alerts about boxes, by kind.", []string{"kind"}, nil)
	descBoxUp   = prometheus.NewDesc("outpost_box_up", "1 while the box phones home, 0 once silent for three intervals.", []string{"box", "site"}, nil)
	descChecks  = prometheus.NewDesc("outpost_box_checks", "The box's checks by status, from its newest summary.", []string{"box", "site", "status"}, nil)
	descOpen    = prometheus.NewDesc("outpost_box_open_incidents", "The box's open incidents, from its newest summary.", []string{"box", "site"}, nil)
	descSeen    = prometheus.NewDesc("outpost_box_last_seen_timestamp_seconds", "When the box was last heard from (hq's clock).", []string{"box", "site"}, nil)
	descLost    = prometheus.NewDesc("outpost_box_summaries_lost", "Summaries the box dropped to its outbox quota, ever.", []string{"box", "site"}, nil)
	descBehind  = prometheus.NewDesc("outpost_box_checks_behind", "The box's checks missing their schedule.", []string{"box", "site"}, nil)
)

// fleetCollector reads the store at each scrape.
type fleetCollector struct{ s *Server }

func (c fleetCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descBoxes, descSilent, descStoreUp, descAlerts, descBoxUp, descChecks, descOpen, descSeen, descLost, descBehind} {
		ch <- d
	}
}

func (c fleetCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	boxes, err := s.Boxes()
	alerts, aerr := s.ListAlerts()
	up := 1.0
	if err != nil || aerr != nil {
		up = 0
		s.log.Error("hq: /metrics: reading the store", "err", err, "alerts_err", aerr)
	}
	ch <- prometheus.MustNewConstMetric(descStoreUp, prometheus.GaugeValue, up, s.db.Name())
	if up == 0 {
		return
	}
	now := s.clock.Now()
	silent := 0
	for _, b := range boxes {
		site := b.Site
		v := 1.0
		if !b.LastSeen.IsZero() && b.Silent(now) {
			v, silent = 0, silent+1
		}
		ch <- prometheus.MustNewConstMetric(descBoxUp, prometheus.GaugeValue, v, b.ID, site)
		for status, n := range map[string]int{"ok": b.Health.OK, "warning": b.Health.Warning, "critical": b.Health.Critical, "unknown": b.Health.Unknown, "pending": b.Health.Pending} {
			ch <- prometheus.MustNewConstMetric(descChecks, prometheus.GaugeValue, float64(n), b.ID, site, status)
		}
		ch <- prometheus.MustNewConstMetric(descOpen, prometheus.GaugeValue, float64(b.Open), b.ID, site)
		if !b.LastSeen.IsZero() {
			ch <- prometheus.MustNewConstMetric(descSeen, prometheus.GaugeValue, float64(b.LastSeen.UnixNano())/1e9, b.ID, site)
		}
		ch <- prometheus.MustNewConstMetric(descLost, prometheus.CounterValue, float64(b.Lost), b.ID, site)
		ch <- prometheus.MustNewConstMetric(descBehind, prometheus.GaugeValue, float64(b.Behind), b.ID, site)
	}
	ch <- prometheus.MustNewConstMetric(descBoxes, prometheus.GaugeValue, float64(len(boxes)))
	ch <- prometheus.MustNewConstMetric(descSilent, prometheus.GaugeValue, float64(silent))
	open := map[string]int{AlertSilent: 0, AlertLost: 0, AlertHealth: 0, AlertUndelivered: 0}
	for _, a := range alerts {
		if a.Open() {
			open[a.Kind]++
		}
	}
	for kind, n := range open {
		ch <- prometheus.MustNewConstMetric(descAlerts, prometheus.GaugeValue, float64(n), kind)
	}
}

// MetricsHandler serves /metrics.
func (s *Server) MetricsHandler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(s.metrics.summaries, s.metrics.ingest, s.metrics.leader, fleetCollector{s},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError, Timeout: 30 * time.Second}))
	return mux
}
