package report

import (
	"fmt"
	"strings"

	"outpost/checks/forecast"
)

// Part is one part of the report laid out for a page (the UI's HTML
// report): what the PDF prints, as text. A cell starting with "!" is a
// figure below its target or otherwise bad (shown in red).
type Part struct {
	Heading   string
	Lines     []string
	KV        [][2]string
	Head      []string
	Rows      [][]string
	Incidents []IncidentBlock
	// Bars are days to the nearest threshold per series (Soon: within
	// the horizon, HorizonDays), as the PDF's chart draws them.
	Bars        []DayBar
	HorizonDays float64
}

// DayBar is one series' days to its nearest threshold.
type DayBar struct {
	Name string
	Days float64
	Soon bool
}

// IncidentBlock is one incident with its timeline (time, what, text).
type IncidentBlock struct {
	Title, Summary string
	Timeline       [][3]string
	More           string
}

// Parts lays r out in the PDF's order, with its words and figures.
func Parts(r *Report) []Part {
	var out []Part
	met := "met"
	if !r.SiteRow.Met {
		met = "missed"
	}
	below, soon := 0, 0
	for _, x := range r.Devices {
		if !x.Met {
			below++
		}
	}
	for _, f := range r.Forecasts {
		if f.Forecast != nil && f.Forecast.Soonest(r.Horizon) != nil {
			soon++
		}
	}
	out = append(out, Part{Heading: "Summary", KV: [][2]string{
		{"Site uptime", fmt.Sprintf("%s (target %s %%: %s)", Percent(r.SiteRow.Uptime), trimPct(r.Target), met)},
		{"Devices", fmt.Sprintf("%d, %d below target", len(r.Devices), below)},
		{"Checks", fmt.Sprint(len(r.Checks))},
		{"Incidents", fmt.Sprintf("%d: %d self-healed, %d recovered by themselves, %d needed a technician, %d open", r.Healing.Total, r.Healing.SelfHealed, r.Healing.Recovered, r.Healing.Technician, r.Healing.Open)},
		{"Maintenance", fmt.Sprintf("%d window occurrence(s), %s in all (left out of uptime)", len(r.Maint), fmtDur(sumMaint(r.Maint)))},
		{"Capacity", fmt.Sprintf("%d of %d series forecast to cross a threshold within %s", soon, len(r.Forecasts), fmtDur(r.Horizon))},
	}})
	out = append(out, uptimeSection("Uptime by group", "Group", append([]Row{r.SiteRow}, r.Groups...)))
	out = append(out, uptimeSection("Uptime by device", "Device", r.Devices))
	if len(r.Maint) > 0 {
		s := Part{Heading: "Maintenance windows (left out of uptime)", Head: []string{"Window", "Scope", "From", "To", "Length"}}
		for _, m := range r.Maint {
			s.Rows = append(s.Rows, []string{m.Name, m.Scope, m.From.Format("2006-01-02 15:04"), m.To.Format("2006-01-02 15:04"), fmtDur(m.Duration)})
		}
		out = append(out, s)
	}
	resp := Part{Heading: "Response times (incidents outside maintenance)", Head: []string{"Severity", "Incidents", "Ack mean", "Ack median", "Ack p90", "Resolve mean", "Resolve median", "Resolve p90"}}
	for _, x := range r.Response {
		resp.Rows = append(resp.Rows, []string{string(x.Severity), fmt.Sprint(x.Count), st(x.Ack, x.Ack.Mean), st(x.Ack, x.Ack.Median), st(x.Ack, x.Ack.P90), st(x.Resolve, x.Resolve.Mean), st(x.Resolve, x.Resolve.Median), st(x.Resolve, x.Resolve.P90)})
	}
	if len(resp.Rows) == 0 {
		resp.Lines = []string{"No incident outside maintenance in the period."}
	}
	out = append(out, resp)
	h := r.Healing
	out = append(out, Part{Heading: "Self-healing", KV: [][2]string{
		{"Self-healed", fmt.Sprintf("%d of %d (%s)", h.SelfHealed, h.Total, share(h.SelfHealed, h.Total))},
		{"Recovered by themselves", fmt.Sprint(h.Recovered)},
		{"Needed a technician", fmt.Sprintf("%d (%s)", h.Technician, share(h.Technician, h.Total))},
		{"Still open", fmt.Sprint(h.Open)},
		{"Opened in maintenance", fmt.Sprint(h.Maintenance)},
	}})
	out = append(out, Part{Heading: "Notifications", KV: notifyKV(r.Notifications)})
	bk := Part{Heading: "Backups"}
	if len(r.Backups) == 0 {
		bk.Lines = []string{"No backup job reports to this box."}
	} else {
		bk.Head = []string{"Job", "Schedule", "Runs", "Good", "Failed", "Last good run", "Longest", "Now"}
		for _, b := range r.Backups {
			bk.Rows = append(bk.Rows, backupCells(b))
		}
	}
	out = append(out, bk)
	fc := Part{Heading: "Capacity forecasts"}
	if len(r.Forecasts) == 0 {
		fc.Lines = []string{"No series with thresholds."}
	} else {
		fc.Lines = []string{fmt.Sprintf("Trend: robust (Theil-Sen) over up to 30 days of hourly rollups since the last reset; flagged when a threshold is forecast within %s with a significant trend.", fmtDur(r.Horizon))}
		fc.Head = []string{"Series", "Now", "Trend/day", "Forecast"}
		for _, f := range r.Forecasts {
			now, slope, say := "", "", f.Sentence(r.Horizon)
			if _, rest, ok := strings.Cut(say, ": "); ok {
				say = rest
			}
			if x := f.Forecast; x != nil {
				now, slope = fmt.Sprintf("%.1f", x.Trend.Last), fmt.Sprintf("%+.2f", x.Trend.PerDay)
				if x.Soonest(r.Horizon) != nil {
					say = "!" + say
				}
			}
			fc.Rows = append(fc.Rows, []string{f.Series.Name(), now, slope, say})
			if x := f.Forecast; x != nil && len(fc.Bars) < 20 {
				if c := x.Soonest(r.Horizon); c != nil {
					fc.Bars = append(fc.Bars, DayBar{f.Series.Name(), c.In.Hours() / 24, true})
				} else if c := nearest(x); c != nil && c.In < 365*forecast.Day {
					fc.Bars = append(fc.Bars, DayBar{f.Series.Name(), c.In.Hours() / 24, false})
				}
			}
		}
		fc.HorizonDays = r.Horizon.Hours() / 24
	}
	out = append(out, fc)
	inv := Part{Heading: "Inventory changes"}
	if len(r.Inventory) == 0 {
		inv.Lines = []string{"No change of the discovered inventory in the period."}
	} else {
		inv.Head = []string{"When", "Change", "Address", "Detail"}
		for _, c := range r.Inventory {
			inv.Rows = append(inv.Rows, []string{c.Time.Format("2006-01-02 15:04"), c.Kind, c.IP, c.Detail})
		}
		if r.InventoryMore {
			inv.Lines = []string{fmt.Sprintf("Only the first %d changes are listed.", len(r.Inventory))}
		}
	}
	out = append(out, inv)
	out = append(out, uptimeSection("Uptime by check", "Check", r.Checks))
	incs := Part{Heading: "Incidents"}
	if len(r.Incidents) == 0 {
		incs.Lines = []string{"No incidents in the period."}
	}
	for _, in := range r.Incidents {
		b := IncidentBlock{Title: fmt.Sprintf("#%d %s (%s): %s, %s, lasted %s", in.ID, in.Check, in.Severity, in.Ended, in.Opened.Format("2006-01-02 15:04"), fmtDur(in.Duration)), Summary: in.Summary}
		for i, ev := range in.Timeline {
			if i == maxTimeline {
				b.More = fmt.Sprintf("... %d more entries (outpost incident show %d)", len(in.Timeline)-maxTimeline, in.ID)
				break
			}
			what := string(ev.Kind)
			if ev.By != "" {
				what += " by " + ev.By
			}
			b.Timeline = append(b.Timeline, [3]string{ev.Time.Format("01-02 15:04:05"), what, ev.Text})
		}
		incs.Incidents = append(incs.Incidents, b)
	}
	out = append(out, incs)
	return out
}

func uptimeSection(heading, what string, rows []Row) Part {
	s := Part{Heading: heading, Head: []string{what, "Uptime", "Target", "Down", "Outages", "Degraded", "Maintenance"}}
	for _, x := range rows {
		name := x.Name
		if x.Scope == "site" {
			name = "Site " + x.Name
		}
		up := Percent(x.Uptime)
		if !x.Met {
			up = "!" + up
		}
		s.Rows = append(s.Rows, []string{name, up, trimPct(x.Target), fmtDur(x.Uptime.Down), fmt.Sprint(x.Uptime.Outages), fmtDur(x.Uptime.Degraded), fmtDur(x.Uptime.Maintenance)})
	}
	return s
}

// PeriodLine says the period as the report's header does.
func PeriodLine(r *Report) string {
	period := fmt.Sprintf("%s to %s", r.From.Format("2006-01-02 15:04 MST"), r.To.Format("2006-01-02 15:04 MST"))
	if r.Partial {
		period += fmt.Sprintf(" (running: figures up to %s)", r.Generated.Format("2006-01-02 15:04 MST"))
	}
	return period
}

// notifyKV is the notifications sent, in all and per channel.
func notifyKV(ns []NotifyRow) [][2]string {
	sent, failed := 0, 0
	var per []string
	for _, n := range ns {
		sent += n.Sent
		failed += n.Failed
		x := fmt.Sprintf("%s %d", n.Channel, n.Sent)
		if n.Failed > 0 {
			x += fmt.Sprintf(" (%d failed)", n.Failed)
		}
		per = append(per, x)
	}
	kv := [][2]string{{"Sent", fmt.Sprint(sent)}, {"Failed (given up)", fmt.Sprint(failed)}}
	if len(per) > 0 {
		kv = append(kv, [2]string{"By channel", strings.Join(per, ", ")})
	}
	return kv
}
