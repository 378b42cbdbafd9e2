package ui

import (
	"fmt"
	"math"
	"net/http"
	"regexp"
	"time"
)

func init() { pages = append(pages, (*Server).reportPages) }

// ReportsBackend is what the monthly report pages read.
type ReportsBackend interface {
	// ReportMonths lists the months there is a report of, newest first
	// ("2026-11"), the current one (running) included; errors are
	// internal.
	ReportMonths() ([]string, error)
	// Report is a month's report laid out for the page. A month with no
	// report is ENOTFOUND.
	Report(month string) (ReportView, error)
	// ReportFile is a month's report as a file: format "pdf" or "json".
	// A month with no report is ENOTFOUND.
	ReportFile(month, format string) ([]byte, error)
}

// ReportView is one month's report: what its PDF says, as a page.
type ReportView struct {
	Site, Month, PeriodLine string
	Partial                 bool
	Generated               time.Time
	// Daily is the site's uptime % per day from From; Target its target.
	Daily  []float64
	Target float64
	From   time.Time
	Parts  []ReportPart
	// Months are the other months offered.
	Months []string
}

// ReportPart is one section of the report: lines, label-value pairs, a
// table, incidents with their timelines.
type ReportPart struct {
	Heading   string
	Lines     []string
	KV        [][2]string
	Head      []string
	Rows      [][]ReportCell
	Incidents []ReportIncident
	// Bars are days to the nearest threshold per series; HorizonDays
	// the forecast horizon (drawn as a line).
	Bars        []ReportBar
	HorizonDays float64
}

// ReportBar is one series' days to its nearest threshold (Soon: within
// the horizon).
type ReportBar struct {
	Name string
	Days float64
	Soon bool
}

// BarChart is a horizontal bar chart: a label, a bar and its figure per
// row, and a vertical rule (the horizon).
type BarChart struct {
	W, H   float64
	Rows   []BarRow
	RuleX  float64
	Labels []Label
}

// BarRow is one row of a BarChart.
type BarRow struct {
	Bar
	Name, Figure Label
}

// daysChart draws days to the nearest threshold against the horizon.
func daysChart(bars []ReportBar, horizon float64) BarChart {
	c := BarChart{W: 960, H: float64(len(bars))*22 + 26}
	maxd := horizon * 2
	for _, b := range bars {
		maxd = math.Max(maxd, b.Days)
	}
	left, right := 330.0, c.W-60
	x := func(d float64) float64 { return left + (right-left)*d/maxd }
	for i, b := range bars {
		y := float64(i)*22 + 4
		c.Rows = append(c.Rows, BarRow{
			Bar:    Bar{X: left, Y: y, W: math.Max(x(b.Days)-left, 1), H: 14, Bad: b.Soon},
			Name:   Label{X: left - 8, Y: y + 12, Text: b.Name, Anchor: "end"},
			Figure: Label{X: x(b.Days) + 6, Y: y + 12, Text: fmt.Sprintf("%.0f d", b.Days), Anchor: "start"},
		})
	}
	c.RuleX = x(horizon)
	c.Labels = append(c.Labels, Label{X: c.RuleX, Y: c.H - 4, Text: fmt.Sprintf("%s-day horizon", fmtNum(horizon)), Anchor: "middle"})
	return c
}

// ReportCell is a table cell; Bad ones (below target, failed) show red.
type ReportCell struct {
	Text string
	Bad  bool
}

// ReportIncident is an incident with its timeline (time, what, text).
type ReportIncident struct {
	Title, Summary, More string
	Timeline             [][3]string
}

// ReportsView is the list of months.
type ReportsView struct {
	Site   string
	Months []string
}

var monthRE = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}$`)

func (s *Server) reportPages() {
	b := s.o.Reports
	if b == nil {
		return
	}
	month := func(r *http.Request) (string, error) {
		m := r.PathValue("month")
		if !monthRE.MatchString(m) {
			return "", Errorf(ENOTFOUND, "no report for %q: months read like 2026-11", m)
		}
		return m, nil
	}
	s.handle("GET", "/reports", RoleViewer, func(w http.ResponseWriter, r *http.Request, sess *Session) error {
		ms, err := b.ReportMonths()
		if err != nil {
			return err
		}
		return s.render(w, r, sess, "Reports", reportsView(ReportsView{Site: s.siteName(), Months: ms}))
	})
	s.handle("GET", "/reports/{month}", RoleViewer, func(w http.ResponseWriter, r *http.Request, sess *Session) error {
		m, err := month(r)
		if err != nil {
			return err
		}
		v, err := b.Report(m)
		if err != nil {
			return err
		}
		if v.Months, err = b.ReportMonths(); err != nil {
			return err
		}
		return s.render(w, r, sess, "Report "+m, reportView(v))
	})
	for _, f := range []struct{ format, ctype string }{{"pdf", "application/pdf"}, {"json", "application/json"}} {
		s.handle("GET", "/reports/{month}/report."+f.format, RoleViewer, func(w http.ResponseWriter, r *http.Request, sess *Session) error {
			m, err := month(r)
			if err != nil {
				return err
			}
			body, err := b.ReportFile(m, f.format)
			if err != nil {
				return err
			}
			w.Header().Set("Content-Type", f.ctype)
			w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="outpost-report-%s.%s"`, m, f.format))
			w.Header().Set("Cache-Control", "private, no-store")
			_, err = w.Write(body)
			return err
		})
	}
}

// Bar is one bar of a bar chart.
type Bar struct {
	X, Y, W, H float64
	Bad        bool
}

// DailyChart is the site's uptime per day as bars, the target a line.
type DailyChart struct {
	W, H    float64
	Bars    []Bar
	TargetY float64
	Labels  []Label
}

// dailyChart draws days (uptime %) against target, as the PDF does:
// the y axis from just below the lowest day (or the target) to 100 %.
func dailyChart(days []float64, target float64, from time.Time) DailyChart {
	c := DailyChart{W: 960, H: 200}
	if len(days) == 0 {
		return c
	}
	lo := 100.0
	for _, v := range days {
		lo = math.Min(lo, v)
	}
	lo = math.Max(math.Min(math.Floor(math.Min(lo, target)-0.5), 99), 0)
	left, right, top, bottom := 60.0, c.W-4, 8.0, c.H-22
	y := func(v float64) float64 { return bottom - (bottom-top)*(v-lo)/(100-lo) }
	bw := (right - left) / float64(len(days))
	for i, v := range days {
		c.Bars = append(c.Bars, Bar{X: left + float64(i)*bw + 1, Y: y(v), W: math.Max(bw-2, 1), H: bottom - y(v), Bad: v < target})
		if i%5 == 0 {
			c.Labels = append(c.Labels, Label{X: left + float64(i)*bw, Y: c.H - 6, Text: from.AddDate(0, 0, i).Format("Jan 2"), Anchor: "start"})
		}
	}
	c.TargetY = y(target)
	for _, v := range []float64{lo, (lo + 100) / 2, 100} {
		c.Labels = append(c.Labels, Label{X: left - 6, Y: y(v) + 4, Text: fmtNum(v) + " %", Anchor: "end"})
	}
	return c
}
