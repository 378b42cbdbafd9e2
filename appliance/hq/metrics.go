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

// sample is one fleet series' value: its metric's name and its label
// values in the order of the metric's description.
type sample struct {
	desc   *prometheus.Desc
	name   string
	labels []string // names and values, alternating
	value  float64
	kind   prometheus.ValueType
}

// fleetSamples is the fleet as the store knows it now, for /metrics and
// for remote write.
func (s *Server) fleetSamples() ([]sample, error) {
	boxes, err := s.Boxes()
	if err != nil {
		return nil, err
	}
	alerts, err := s.ListAlerts()
	if err != nil {
		return nil, err
	}
	var out []sample
	add := func(d *prometheus.Desc, name string, v float64, labels ...string) {
		out = append(out, sample{desc: d, name: name, labels: labels, value: v, kind: prometheus.GaugeValue})
	}
	now := s.clock.Now()
	silent := 0
	for _, b := range boxes {
		v := 1.0
		if !b.LastSeen.IsZero() && b.Silent(now) {
			v, silent = 0, silent+1
		}
		add(descBoxUp, "outpost_box_up", v, "box", b.ID, "site", b.Site)
		for _, st := range []struct {
			status string
			n      int
		}{{"ok", b.Health.OK}, {"warning", b.Health.Warning}, {"critical", b.Health.Critical}, {"unknown", b.Health.Unknown}, {"pending", b.Health.Pending}} {
			add(descChecks, "outpost_box_checks", float64(st.n), "box", b.ID, "site", b.Site, "status", st.status)
		}
		add(descOpen, "outpost_box_open_incidents", float64(b.Open), "box", b.ID, "site", b.Site)
		if !b.LastSeen.IsZero() {
			add(descSeen, "outpost_box_last_seen_timestamp_seconds", float64(b.LastSeen.UnixNano())/1e9, "box", b.ID, "site", b.Site)
		}
		add(descLost, "outpost_box_summaries_lost", float64(b.Lost), "box", b.ID, "site", b.Site)
		out[len(out)-1].kind = prometheus.CounterValue
		add(descBehind, "outpost_box_checks_behind", float64(b.Behind), "box", b.ID, "site", b.Site)
	}
	add(descBoxes, "outpost_hq_boxes", float64(len(boxes)))
	add(descSilent, "outpost_hq_boxes_silent", float64(silent))
	open := map[string]int{}
	for _, a := range alerts {
		if a.Open() {
			open[a.Kind]++
		}
	}
	for _, kind := range []string{AlertSilent, AlertLost, AlertHealth, AlertUndelivered} {
		add(descAlerts, "outpost_hq_alerts_open", float64(open[kind]), "kind", kind)
	}
	return out, nil
}

// fleetCollector reads the store at each scrape.
type fleetCollector struct{ s *Server }

func (c fleetCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descBoxes, descSilent, descStoreUp, descAlerts, descBoxUp, descChecks, descOpen, descSeen, descLost, descBehind} {
		ch <- d
	}
}

func (c fleetCollector) Collect(ch chan<- prometheus.Metric) {
	samples, err := c.s.fleetSamples()
	up := 1.0
	if err != nil {
		up = 0
		c.s.log.Error("hq: /metrics: reading the store", "err", err)
	}
	ch <- prometheus.MustNewConstMetric(descStoreUp, prometheus.GaugeValue, up, c.s.db.Name())
	for _, m := range samples {
		var values []string
		for i := 1; i < len(m.labels); i += 2 {
			values = append(values, m.labels[i])
		}
		ch <- prometheus.MustNewConstMetric(m.desc, m.kind, m.value, values...)
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
