package report

import (
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"codeberg.org/go-pdf/fpdf"

	"outpost/checks/forecast"
)

// maxTimeline bounds the timeline entries printed per incident (the
// JSON has them all).
const maxTimeline = 8

// WritePDF renders r as an A4 PDF: summary with the daily uptime graph,
// the uptime tables against their targets, maintenance, response times,
// healing, incidents with their timelines, and capacity forecasts.
func WritePDF(w io.Writer, r *Report) error {
	p := fpdf.New("P", "mm", "A4", "")
	p.SetCreationDate(r.Generated)
	p.SetModificationDate(r.Generated)
	p.SetTitle(fmt.Sprintf("Outpost report %s %s", r.Site, r.Period), true)
	p.SetAutoPageBreak(true, 15)
	tr := p.UnicodeTranslatorFromDescriptor("")
	p.SetFooterFunc(func() {
		p.SetY(-12)
		p.SetFont("Helvetica", "", 7)
		p.SetTextColor(120, 120, 120)
		p.CellFormat(0, 5, tr(fmt.Sprintf("Outpost · site %s · %s · generated %s · page %d", r.Site, r.Period, r.Generated.UTC().Format("2006-01-02 15:04 UTC"), p.PageNo())), "", 0, "C", false, 0, "")
		p.SetTextColor(0, 0, 0)
	})
	p.AddPage()
	d := doc{p: p, tr: tr}

	p.SetFont("Helvetica", "B", 16)
	p.CellFormat(0, 9, tr(fmt.Sprintf("Monthly report: %s, %s", r.Site, r.Period)), "", 1, "L", false, 0, "")
	p.SetFont("Helvetica", "", 9)
	period := fmt.Sprintf("%s to %s", r.From.Format("2006-01-02 15:04 MST"), r.To.Format("2006-01-02 15:04 MST"))
	if r.Partial {
		period += fmt.Sprintf(" (running: figures up to %s)", r.Generated.Format("2006-01-02 15:04 MST"))
	}
	p.CellFormat(0, 5, tr(period), "", 1, "L", false, 0, "")
	p.Ln(2)

	d.heading("Summary")
	met := "met"
	if !r.SiteRow.Met {
		met = "missed"
	}
	below := 0
	for _, x := range r.Devices {
		if !x.Met {
			below++
		}
	}
	soon := 0
	for _, f := range r.Forecasts {
		if f.Forecast != nil && f.Forecast.Soonest(r.Horizon) != nil {
			soon++
		}
	}
	d.kv("Site uptime", fmt.Sprintf("%s (target %s %%: %s)", Percent(r.SiteRow.Uptime), trimPct(r.Target), met))
	d.kv("Devices", fmt.Sprintf("%d, %d below target", len(r.Devices), below))
	d.kv("Checks", fmt.Sprintf("%d", len(r.Checks)))
	d.kv("Incidents", fmt.Sprintf("%d: %d self-healed, %d recovered by themselves, %d needed a technician, %d open", r.Healing.Total, r.Healing.SelfHealed, r.Healing.Recovered, r.Healing.Technician, r.Healing.Open))
	d.kv("Maintenance", fmt.Sprintf("%d window occurrence(s), %s in all (left out of uptime)", len(r.Maint), fmtDur(sumMaint(r.Maint))))
	d.kv("Capacity", fmt.Sprintf("%d of %d series forecast to cross a threshold within %s", soon, len(r.Forecasts), fmtDur(r.Horizon)))
	p.Ln(2)
	if len(r.Daily) > 0 {
		d.dailyGraph(r.Daily, r.Target, r.From)
	}

	d.heading("Uptime by group")
	d.uptimeTable(append([]Row{r.SiteRow}, r.Groups...), "Group")
	d.heading("Uptime by device")
	d.uptimeTable(r.Devices, "Device")

	if len(r.Maint) > 0 {
		d.heading("Maintenance windows (left out of uptime)")
		d.table([]string{"Window", "Scope", "From", "To", "Length"}, []float64{45, 40, 38, 38, 29}, func(row func(...string)) {
			for _, m := range r.Maint {
				row(m.Name, m.Scope, m.From.Format("2006-01-02 15:04"), m.To.Format("2006-01-02 15:04"), fmtDur(m.Duration))
			}
		})
	}

	d.heading("Response times (incidents outside maintenance)")
	d.table([]string{"Severity", "Incidents", "Ack mean", "Ack median", "Ack p90", "Resolve mean", "Resolve median", "Resolve p90"}, []float64{22, 18, 22, 22, 22, 28, 28, 28}, func(row func(...string)) {
		for _, x := range r.Response {
			row(string(x.Severity), fmt.Sprint(x.Count), st(x.Ack, x.Ack.Mean), st(x.Ack, x.Ack.Median), st(x.Ack, x.Ack.P90), st(x.Resolve, x.Resolve.Mean), st(x.Resolve, x.Resolve.Median), st(x.Resolve, x.Resolve.P90))
		}
	})
	d.heading("Self-healing")
	h := r.Healing
	d.kv("Self-healed", fmt.Sprintf("%d of %d (%s)", h.SelfHealed, h.Total, share(h.SelfHealed, h.Total)))
	d.kv("Recovered by themselves", fmt.Sprintf("%d", h.Recovered))
	d.kv("Needed a technician", fmt.Sprintf("%d (%s)", h.Technician, share(h.Technician, h.Total)))
	d.kv("Still open", fmt.Sprintf("%d", h.Open))
	d.kv("Opened in maintenance", fmt.Sprintf("%d", h.Maintenance))

	d.heading("Notifications")
	for _, kv := range notifyKV(r.Notifications) {
		d.kv(kv[0], kv[1])
	}

	d.heading("Backups")
	if len(r.Backups) == 0 {
		d.line("No backup job reports to this box.")
	} else {
		d.table([]string{"Job", "Schedule", "Runs", "Good", "Failed", "Last good run", "Longest", "Now"}, []float64{36, 36, 14, 14, 14, 32, 20, 24}, func(row func(...string)) {
			for _, b := range r.Backups {
				cells := backupCells(b)
				row(cells...)
			}
		})
	}

	d.heading("Capacity forecasts")
	d.forecasts(r)

	d.heading("Inventory changes")
	if len(r.Inventory) == 0 {
		d.line("No change of the discovered inventory in the period.")
	} else {
		d.table([]string{"When", "Change", "Address", "Detail"}, []float64{30, 24, 28, 108}, func(row func(...string)) {
			for _, c := range r.Inventory {
				row(c.Time.Format("2006-01-02 15:04"), c.Kind, c.IP, c.Detail)
			}
		})
		if r.InventoryMore {
			d.line(fmt.Sprintf("Only the first %d changes are listed.", len(r.Inventory)))
		}
	}

	d.heading("Uptime by check")
	d.uptimeTable(r.Checks, "Check")

	d.heading("Incidents")
	if len(r.Incidents) == 0 {
		d.line("No incidents in the period.")
	}
	for _, in := range r.Incidents {
		d.incident(in)
	}
	return p.Output(w)
}

type doc struct {
	p  *fpdf.Fpdf
	tr func(string) string
}

func (d doc) heading(s string) {
	if d.p.GetY() > 245 { // a heading and its table's first rows stay together
		d.p.AddPage()
	}
	d.p.Ln(2)
	d.p.SetFont("Helvetica", "B", 12)
	d.p.CellFormat(0, 7, d.tr(s), "B", 1, "L", false, 0, "")
	d.p.Ln(1)
}

func (d doc) kv(k, v string) {
	d.p.SetFont("Helvetica", "B", 9)
	d.p.CellFormat(45, 5, d.tr(k), "", 0, "L", false, 0, "")
	d.p.SetFont("Helvetica", "", 9)
	d.p.MultiCell(0, 5, d.tr(v), "", "L", false)
}

func (d doc) line(s string) {
	d.p.SetFont("Helvetica", "", 9)
	d.p.MultiCell(0, 5, d.tr(s), "", "L", false)
}

// table prints a header and rows, repeating the header on a new page.
func (d doc) table(head []string, widths []float64, rows func(row func(...string))) {
	p := d.p
	header := func() {
		p.SetFont("Helvetica", "B", 8)
		p.SetFillColor(230, 233, 238)
		for i, h := range head {
			p.CellFormat(widths[i], 5, d.tr(h), "1", 0, "L", true, 0, "")
		}
		p.Ln(-1)
		p.SetFont("Helvetica", "", 8)
	}
	header()
	rows(func(cells ...string) {
		if p.GetY() > 275 {
			p.AddPage()
			header()
		}
		bad := false
		for i, c := range cells {
			if strings.HasPrefix(c, "!") {
				c, bad = c[1:], true
			}
			if bad {
				p.SetTextColor(180, 20, 20)
			}
			p.CellFormat(widths[i], 4.5, d.tr(fit(p, c, widths[i])), "1", 0, "L", false, 0, "")
			p.SetTextColor(0, 0, 0)
			bad = false
		}
		p.Ln(-1)
	})
}

func fit(p *fpdf.Fpdf, s string, w float64) string {
	for len(s) > 3 && p.GetStringWidth(s) > w-2 {
		s = s[:len(s)-4] + "..."
	}
	return s
}

func (d doc) uptimeTable(rows []Row, what string) {
	d.table([]string{what, "Uptime", "Target", "Down", "Outages", "Degraded", "Maintenance"}, []float64{58, 22, 16, 26, 16, 26, 26}, func(row func(...string)) {
		for _, x := range rows {
			name := x.Name
			if x.Scope == "site" {
				name = "Site " + x.Name
			}
			up := Percent(x.Uptime)
			if !x.Met {
				up = "!" + up
			}
			row(name, up, trimPct(x.Target), fmtDur(x.Uptime.Down), fmt.Sprint(x.Uptime.Outages), fmtDur(x.Uptime.Degraded), fmtDur(x.Uptime.Maintenance))
		}
	})
}

// dailyGraph draws the site's uptime per day as bars, the target as a line.
func (d doc) dailyGraph(days []float64, target float64, from time.Time) {
	p := d.p
	x0, y0, w, h := 25.0, p.GetY()+2, 170.0, 35.0
	lo := 100.0
	for _, v := range days {
		lo = min(lo, v)
	}
	lo = math.Min(math.Floor(min(lo, target)-0.5), 99)
	lo = math.Max(lo, 0)
	y := func(v float64) float64 { return y0 + h - h*(v-lo)/(100-lo) }
	p.SetFont("Helvetica", "", 7)
	p.SetDrawColor(160, 160, 160)
	p.Rect(x0, y0, w, h, "D")
	for _, v := range []float64{lo, (lo + 100) / 2, 100} {
		p.SetXY(x0-18, y(v)-2)
		p.CellFormat(17, 4, fmt.Sprintf("%.1f %%", v), "", 0, "R", false, 0, "")
	}
	bw := w / float64(len(days))
	for i, v := range days {
		if v < target {
			p.SetFillColor(200, 60, 60)
		} else {
			p.SetFillColor(70, 140, 90)
		}
		p.Rect(x0+float64(i)*bw+0.3, y(v), bw-0.6, y0+h-y(v), "F")
		if i%5 == 0 {
			p.SetXY(x0+float64(i)*bw, y0+h+0.5)
			p.CellFormat(bw*3, 3, from.AddDate(0, 0, i).Format("Jan 2"), "", 0, "L", false, 0, "")
		}
	}
	p.SetDrawColor(40, 80, 200)
	p.SetLineWidth(0.4)
	p.Line(x0, y(target), x0+w, y(target))
	p.SetLineWidth(0.2)
	p.SetDrawColor(0, 0, 0)
	p.SetXY(x0, y0+h+4)
	p.CellFormat(w, 4, d.tr(fmt.Sprintf("Site uptime per day (bars; red below target), target %s %% (blue line)", trimPct(target))), "", 1, "C", false, 0, "")
	p.Ln(2)
}

// forecasts lists every series' forecast and draws the time left to
// the nearest threshold of those that have one.
func (d doc) forecasts(r *Report) {
	if len(r.Forecasts) == 0 {
		d.line("No series with thresholds.")
		return
	}
	p := d.p
	method := forecast.MethodSeasonal
	d.line(fmt.Sprintf("Trend: %s over up to 30 days of hourly rollups since the last reset; flagged when a threshold is forecast within %s with a significant trend.", method, fmtDur(r.Horizon)))
	type bar struct {
		name string
		days float64
		soon bool
	}
	var bars []bar
	d.table([]string{"Series", "Now", "Trend/day", "Forecast"}, []float64{50, 16, 20, 104}, func(row func(...string)) {
		for _, f := range r.Forecasts {
			now, slope, say := "", "", f.Sentence(r.Horizon)
			if _, rest, ok := strings.Cut(say, ": "); ok {
				say = rest
			}
			if fc := f.Forecast; fc != nil {
				now, slope = fmt.Sprintf("%.1f", fc.Trend.Last), fmt.Sprintf("%+.2f", fc.Trend.PerDay)
				if c := fc.Soonest(r.Horizon); c != nil {
					say = "!" + say
					bars = append(bars, bar{f.Series.Name(), c.In.Hours() / 24, true})
				} else if c := nearest(fc); c != nil && c.In < 365*forecast.Day {
					bars = append(bars, bar{f.Series.Name(), c.In.Hours() / 24, false})
				}
			}
			row(f.Series.Name(), now, slope, say)
		}
	})
	if len(bars) == 0 {
		return
	}
	if len(bars) > 20 {
		bars = bars[:20]
	}
	p.Ln(2)
	if p.GetY()+float64(len(bars))*5+10 > 280 {
		p.AddPage()
	}
	maxd := r.Horizon.Hours() / 24 * 2
	for _, b := range bars {
		maxd = math.Max(maxd, b.days)
	}
	x0, w := 70.0, 110.0
	p.SetFont("Helvetica", "", 7)
	for _, b := range bars {
		y := p.GetY()
		p.SetXY(10, y)
		p.CellFormat(58, 4, d.tr(fit(p, b.name, 58)), "", 0, "R", false, 0, "")
		if b.soon {
			p.SetFillColor(220, 140, 40)
		} else {
			p.SetFillColor(120, 150, 200)
		}
		p.Rect(x0, y+0.5, math.Max(w*b.days/maxd, 0.5), 3, "F")
		p.SetXY(x0+w*b.days/maxd+1, y)
		p.CellFormat(20, 4, fmt.Sprintf("%.0f d", b.days), "", 1, "L", false, 0, "")
	}
	hx := x0 + w*(r.Horizon.Hours()/24)/maxd
	p.SetDrawColor(200, 40, 40)
	p.Line(hx, p.GetY()-float64(len(bars))*4, hx, p.GetY())
	p.SetDrawColor(0, 0, 0)
	p.CellFormat(0, 4, d.tr(fmt.Sprintf("Days to the nearest threshold (red line: the %s horizon)", fmtDur(r.Horizon))), "", 1, "C", false, 0, "")
}

func nearest(fc *forecast.Forecast) *forecast.Crossing {
	var c *forecast.Crossing
	for _, x := range []*forecast.Crossing{fc.Warning, fc.Critical} {
		if x != nil && !x.Past && !x.Never && (c == nil || x.In < c.In) {
			c = x
		}
	}
	return c
}

func (d doc) incident(in IncidentRow) {
	p := d.p
	if p.GetY() > 255 {
		p.AddPage()
	}
	p.SetFont("Helvetica", "B", 9)
	p.MultiCell(0, 5, d.tr(fmt.Sprintf("#%d %s (%s): %s, %s, lasted %s", in.ID, in.Check, in.Severity, in.Ended, in.Opened.Format("2006-01-02 15:04"), fmtDur(in.Duration))), "", "L", false)
	p.SetFont("Helvetica", "", 8)
	if in.Summary != "" {
		p.MultiCell(0, 4, d.tr(in.Summary), "", "L", false)
	}
	for i, ev := range in.Timeline {
		if i == maxTimeline {
			p.CellFormat(0, 4, fmt.Sprintf("    ... %d more entries (outpost incident show %d)", len(in.Timeline)-maxTimeline, in.ID), "", 1, "L", false, 0, "")
			break
		}
		by := ""
		if ev.By != "" {
			by = " by " + ev.By
		}
		p.CellFormat(8, 4, "", "", 0, "L", false, 0, "")
		p.CellFormat(28, 4, ev.Time.Format("01-02 15:04:05"), "", 0, "L", false, 0, "")
		p.CellFormat(42, 4, d.tr(fit(p, string(ev.Kind)+by, 42)), "", 0, "L", false, 0, "")
		p.MultiCell(0, 4, d.tr(fit(p, ev.Text, 300)), "", "L", false)
	}
	p.Ln(1.5)
}

// backupCells is a backup job's row as the PDF and the page print it
// ("!" marks a figure to show in red).
func backupCells(b BackupRow) []string {
	last := "none"
	if !b.LastSuccess.IsZero() {
		last = b.LastSuccess.Format("2006-01-02 15:04")
	}
	if b.LastSuccess.IsZero() && b.Runs > 0 {
		last = "!" + last
	}
	failed := fmt.Sprint(b.Failed)
	if b.Failed > 0 {
		failed = "!" + failed
	}
	now := b.Status
	if now != "ok" {
		now = "!" + now
	}
	return []string{b.Check, b.Schedule, fmt.Sprint(b.Runs), fmt.Sprint(b.OK), failed, last, fmtDur(b.Longest), now}
}

func st(s Stats, d time.Duration) string {
	if s.N == 0 {
		return "-"
	}
	return fmtDur(d)
}

func share(n, of int) string {
	if of == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f %%", 100*float64(n)/float64(of))
}

func sumMaint(ms []MaintRow) time.Duration {
	var d time.Duration
	for _, m := range ms {
		d += m.Duration
	}
	return d
}

func trimPct(v float64) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.3f", v), "0"), ".")
}

// fmtDur prints a duration briefly: 3d 4h, 2h 05m, 4m 10s, 30s.
func fmtDur(d time.Duration) string {
	switch {
	case d <= 0:
		return "0"
	case d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	case d >= 24*time.Hour:
		return fmt.Sprintf("%dd %dh", d/(24*time.Hour), d%(24*time.Hour)/time.Hour)
	case d >= time.Hour:
		return fmt.Sprintf("%dh %02dm", d/time.Hour, d%time.Hour/time.Minute)
	case d >= time.Minute:
		return fmt.Sprintf("%dm %02ds", d/time.Minute, d%time.Minute/time.Second)
	}
	return fmt.Sprintf("%ds", int(math.Round(d.Seconds())))
}
