package report

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"outpost/checks"
	"outpost/checks/forecast"
	"outpost/checks/incident"
)

// Config is the `report:` section: the uptime targets and the forecast
// horizon the report judges against.
type Config struct {
	// Target is the uptime % every check, device and group is held to
	// (default 99.9).
	Target float64 `yaml:"target"`
	// Groups overrides Target per device group.
	Groups map[string]float64 `yaml:"groups"`
	// Horizon is how far ahead capacity forecasts are flagged (default
	// 14d, as the forecast check's).
	Horizon time.Duration `yaml:"horizon"`
}

// Section reads the report: section back from a parsed config.
var Section = checks.RegisterSection("report", check)

func check(c *Config, _ checks.Site) error {
	if c.Target == 0 {
		c.Target = 99.9
	}
	if c.Horizon == 0 {
		c.Horizon = checks.DefaultForecastHorizon
	}
	if c.Target <= 0 || c.Target > 100 {
		return &checks.FieldError{Field: "target", Msg: fmt.Sprintf("%g is not a percentage above 0 and at most 100", c.Target)}
	}
	for g, t := range c.Groups {
		if t <= 0 || t > 100 {
			return &checks.FieldError{Field: "groups." + g, Msg: fmt.Sprintf("%g is not a percentage above 0 and at most 100", t)}
		}
	}
	return nil
}

// TargetOf is the uptime target of a group ("" for none).
func (c *Config) TargetOf(group string) float64 {
	if t, ok := c.Groups[group]; ok {
		return t
	}
	return c.Target
}

// Source is what a report reads (the store, adapted by the wiring).
type Source interface {
	// Changes returns a check's status changes up to to, the last one
	// before from included (it gives the state at from). Errors are
	// the store's.
	Changes(check string, from, to time.Time) ([]Change, error)
	// Incidents returns the incidents opened in [from, to). Errors are
	// the store's.
	Incidents(from, to time.Time) ([]incident.Incident, error)
	checks.SeriesReader
}

// Options say what to report on.
type Options struct {
	Site string
	// From and To bound the period; Now (the caller's clock) ends a
	// period still running.
	From, To, Now time.Time
	// Label names the period ("2026-11").
	Label  string
	Checks []checks.Spec
	Maint  []Window
	Config Config
}

// MonthOf parses "2026-11" as that month in loc: [first day, next first day).
func MonthOf(s string, loc *time.Location) (from, to time.Time, err error) {
	t, err := time.ParseInLocation("2006-01", s, loc)
	if err != nil {
		return from, to, fmt.Errorf("%q is not a month like 2026-11", s)
	}
	return t, t.AddDate(0, 1, 0), nil
}

// Row is one line of the uptime table.
type Row struct {
	Scope   string  `json:"scope"` // check, device, group, site
	Name    string  `json:"name"`
	Detail  string  `json:"detail,omitempty"` // a check's kind and target, a device's checks
	Group   string  `json:"group,omitempty"`
	Target  float64 `json:"target"`
	Uptime  Uptime  `json:"uptime"`
	Met     bool    `json:"met"`
	Members int     `json:"members,omitempty"`
}

// Response is time to acknowledge and to resolve for one severity.
type Response struct {
	Severity checks.Severity `json:"severity"`
	Count    int             `json:"count"`
	Ack      Stats           `json:"ack"`
	Resolve  Stats           `json:"resolve"`
}

// Healing counts how the period's incidents ended.
type Healing struct {
	Total int `json:"total"`
	// SelfHealed: one of Outpost's remediations fixed it.
	SelfHealed int `json:"self_healed"`
	// Recovered: it came back by itself, nobody was needed.
	Recovered int `json:"recovered"`
	// Technician: escalated to a person, or resolved by one.
	Technician int `json:"technician"`
	Open       int `json:"open"`
	// Maintenance: opened in a maintenance window (nobody was woken;
	// left out of the response times).
	Maintenance int `json:"maintenance"`
}

// IncidentRow is one incident of the period with its timeline.
type IncidentRow struct {
	incident.Incident
	Duration time.Duration `json:"duration_ns"`
	Ended    string        `json:"ended"` // self-healed, recovered, technician, open
}

// MaintRow is one window occurrence in the period.
type MaintRow struct {
	Name     string        `json:"name"`
	Scope    string        `json:"scope"`
	From     time.Time     `json:"from"`
	To       time.Time     `json:"to"`
	Duration time.Duration `json:"duration_ns"`
}

// Report is a site's figures for a period.
type Report struct {
	Site      string                  `json:"site"`
	Period    string                  `json:"period"`
	From      time.Time               `json:"from"`
	To        time.Time               `json:"to"`
	Generated time.Time               `json:"generated"`
	Partial   bool                    `json:"partial,omitempty"` // the period is still running
	Target    float64                 `json:"target"`
	Horizon   time.Duration           `json:"horizon_ns"`
	SiteRow   Row                     `json:"site_uptime"`
	Groups    []Row                   `json:"groups"`
	Devices   []Row                   `json:"devices"`
	Checks    []Row                   `json:"checks"`
	Maint     []MaintRow              `json:"maintenance"`
	Incidents []IncidentRow           `json:"incidents"`
	Response  []Response              `json:"response"`
	Healing   Healing                 `json:"healing"`
	Forecasts []checks.SeriesForecast `json:"forecasts"`
	// Daily is the site's uptime % per day of the period, for the graph.
	Daily []float64 `json:"daily"`
}

// Build computes the report.
func Build(src Source, o Options) (*Report, error) {
	cfg := o.Config
	if cfg.Target == 0 {
		cfg.Target = 99.9
	}
	if cfg.Horizon == 0 {
		cfg.Horizon = checks.DefaultForecastHorizon
	}
	end := o.To
	if o.Now.Before(end) {
		end = o.Now
	}
	if end.Before(o.From) {
		end = o.From
	}
	r := &Report{Site: o.Site, Period: o.Label, From: o.From, To: o.To, Generated: o.Now, Partial: end.Before(o.To), Target: cfg.Target, Horizon: cfg.Horizon}
	type member struct {
		tl    timeline
		group string
	}
	devices := map[string][]member{}
	var order []string
	var dayTLs []timeline
	for _, sp := range o.Checks {
		if sp.Kind == "forecast" {
			continue // a forecast is about the future, not an outage
		}
		chs, err := src.Changes(sp.ID, o.From, end)
		if err != nil {
			return nil, fmt.Errorf("status changes of %s: %w", sp.ID, err)
		}
		ws := covering(o.Maint, sp.ID, sp.Labels.Device, sp.Labels.Group)
		tl := changesTimeline(chs, o.From, end, windowSpans(ws, o.From, end))
		u := tl.uptime(o.From, end)
		tg := cfg.TargetOf(sp.Labels.Group)
		detail := sp.Kind
		if sp.Target != "" {
			detail += " " + sp.Target
		}
		r.Checks = append(r.Checks, Row{Scope: "check", Name: sp.ID, Detail: detail, Group: sp.Labels.Group, Target: tg, Uptime: u, Met: !u.HasData || u.Percent >= tg})
		// A check without a device stands for itself among the devices.
		dev := sp.Labels.Device
		if dev == "" {
			dev = sp.ID
		}
		if _, ok := devices[dev]; !ok {
			order = append(order, dev)
		}
		devices[dev] = append(devices[dev], member{tl, sp.Labels.Group})
		dayTLs = append(dayTLs, tl)
	}
	groups := map[string][]Row{}
	var all []Row
	for _, dev := range order {
		ms := devices[dev]
		tls := make([]timeline, len(ms))
		for i, m := range ms {
			tls[i] = m.tl
		}
		g := ms[0].group
		u := union(tls).uptime(o.From, end)
		tg := cfg.TargetOf(g)
		row := Row{Scope: "device", Name: dev, Group: g, Target: tg, Uptime: u, Met: !u.HasData || u.Percent >= tg, Members: len(ms)}
		r.Devices = append(r.Devices, row)
		groups[g] = append(groups[g], row)
		all = append(all, row)
	}
	for g, rows := range groups {
		name := g
		if name == "" {
			name = "(no group)"
		}
		row := meanRow("group", name, cfg.TargetOf(g), rows)
		row.Group = g
		r.Groups = append(r.Groups, row)
	}
	sort.Slice(r.Groups, func(i, j int) bool { return r.Groups[i].Name < r.Groups[j].Name })
	r.SiteRow = meanRow("site", o.Site, cfg.Target, all)
	r.Daily = daily(dayTLs, o.From, end)
	for _, w := range o.Maint {
		for _, x := range w.occurrences(o.From, o.To) {
			r.Maint = append(r.Maint, MaintRow{Name: w.Name, Scope: scopeOf(w), From: x.from, To: x.to, Duration: x.to.Sub(x.from)})
		}
	}
	sort.Slice(r.Maint, func(i, j int) bool { return r.Maint[i].From.Before(r.Maint[j].From) })
	incs, err := src.Incidents(o.From, o.To)
	if err != nil {
		return nil, fmt.Errorf("incidents: %w", err)
	}
	r.Incidents, r.Response, r.Healing = incidentFigures(incs, o.Now)
	for _, sp := range o.Checks {
		s, ok := checks.SeriesOf(sp)
		if !ok {
			continue
		}
		f, err := checks.ForecastSeries(src, s, o.Now, 30*forecast.Day, 3)
		if err != nil {
			return nil, err
		}
		r.Forecasts = append(r.Forecasts, f)
	}
	return r, nil
}

func scopeOf(w Window) string {
	switch {
	case w.Check != "":
		return "check " + w.Check
	case w.Device != "":
		return "device " + w.Device
	case w.Group != "":
		return "group " + w.Group
	}
	return "whole site"
}

// meanRow is the mean of rows' uptime % (the members that measured
// anything), with their times summed.
func meanRow(scope, name string, target float64, rows []Row) Row {
	row := Row{Scope: scope, Name: name, Target: target, Members: len(rows), Met: true}
	sum, n := 0.0, 0
	for _, x := range rows {
		row.Uptime.Period = max(row.Uptime.Period, x.Uptime.Period)
		row.Uptime.Measured += x.Uptime.Measured
		row.Uptime.Down += x.Uptime.Down
		row.Uptime.Degraded += x.Uptime.Degraded
		row.Uptime.Maintenance += x.Uptime.Maintenance
		row.Uptime.Outages += x.Uptime.Outages
		if x.Uptime.HasData {
			sum += x.Uptime.Percent
			n++
		}
	}
	row.Uptime.Percent = 100
	if n > 0 {
		row.Uptime.Percent, row.Uptime.HasData = sum/float64(n), true
	}
	row.Met = !row.Uptime.HasData || row.Uptime.Percent >= target
	return row
}

// daily is the mean check uptime per day of [from, end).
func daily(tls []timeline, from, end time.Time) []float64 {
	var out []float64
	for d := from; d.Before(end); d = d.AddDate(0, 0, 1) {
		de := d.AddDate(0, 0, 1)
		if de.After(end) {
			de = end
		}
		sum, n := 0.0, 0
		for _, tl := range tls {
			m := tl.measured.clip(d, de).total()
			if m == 0 {
				continue
			}
			sum += 100 * float64(m-tl.down.clip(d, de).total()) / float64(m)
			n++
		}
		v := 100.0
		if n > 0 {
			v = sum / float64(n)
		}
		out = append(out, v)
	}
	return out
}

// incidentFigures orders the incidents and computes response times per
// severity and how they ended.
func incidentFigures(incs []incident.Incident, now time.Time) ([]IncidentRow, []Response, Healing) {
	sort.Slice(incs, func(i, j int) bool { return incs[i].Opened.Before(incs[j].Opened) })
	var rows []IncidentRow
	var h Healing
	acks := map[checks.Severity][]time.Duration{}
	ress := map[checks.Severity][]time.Duration{}
	counts := map[checks.Severity]int{}
	for _, in := range incs {
		row := IncidentRow{Incident: in}
		endAt := now
		if in.Resolved != nil {
			endAt = *in.Resolved
		}
		row.Duration = max(endAt.Sub(in.Opened), 0)
		h.Total++
		switch {
		case in.IsOpen():
			row.Ended = "open"
			h.Open++
		case in.Resolution == incident.SelfHealed:
			row.Ended = "self-healed"
			h.SelfHealed++
		case in.Escalated || in.Resolution == incident.ByTechnician:
			row.Ended = "technician"
			h.Technician++
		default:
			row.Ended = "recovered"
			h.Recovered++
		}
		rows = append(rows, row)
		if in.InMaintenance {
			h.Maintenance++
			continue
		}
		counts[in.Severity]++
		if in.Acked != nil {
			acks[in.Severity] = append(acks[in.Severity], max(in.Acked.Sub(in.Opened), 0))
		}
		if in.Resolved != nil {
			ress[in.Severity] = append(ress[in.Severity], max(in.Resolved.Sub(in.Opened), 0))
		}
	}
	var resp []Response
	for sev, n := range counts {
		resp = append(resp, Response{Severity: sev, Count: n, Ack: StatsOf(acks[sev]), Resolve: StatsOf(ress[sev])})
	}
	sort.Slice(resp, func(i, j int) bool { return resp[i].Severity.String() < resp[j].Severity.String() })
	return rows, resp, h
}

// Percent prints an uptime the way the report does: never rounded up
// to 100 when anything was down.
func Percent(u Uptime) string {
	if !u.HasData {
		return "no data"
	}
	s := fmt.Sprintf("%.3f", u.Percent)
	if u.Down > 0 && strings.HasPrefix(s, "100") {
		s = "99.999"
	}
	return s + " %"
}
