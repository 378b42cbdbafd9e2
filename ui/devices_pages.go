package ui

import (
	"context"
	"net/http"
	"sort"
	"strings"
	"time"

	"outpost/checks"
	"outpost/checks/incident"
)

func init() { pages = append(pages, (*Server).devicePages) }

// DevicesBackend is what the device list and a device's page read.
type DevicesBackend interface {
	// CheckStates returns every check with its latest result.
	CheckStates() []CheckState
	historyReader
	// Incidents lists incidents newest first (open ones only if open), at
	// most limit; errors are internal.
	Incidents(open bool, limit int) ([]incident.Incident, error)
	// Agents returns the Outpost agents that serve a device (by agent
	// or device name), with their latest inventory.
	Agents(device string) []AgentView
	glanceReader
	// Device returns a configured device's facts: the site config's, and
	// what it says over SNMP (read again when they are old, within ctx's
	// deadline). ok is false for a device only named by check labels.
	Device(ctx context.Context, name string) (d DeviceInfo, ok bool)
}

// DevicesView is the device list.
type DevicesView struct {
	Q, Status string
	Rows      []DeviceRow
	Statuses  []string
}

// DeviceView is one device's page.
type DeviceView struct {
	Name      string
	Worst     string
	Range     string
	Ranges    []string
	Checks    []DeviceCheck
	Incidents []IncidentRow
	Agents    []AgentView
	// Logs is the device's log search (nil when the box keeps no logs).
	Logs *DeviceLogs
	// Info is nil for a device not in the site config's devices:.
	Info    *DeviceInfo
	Glances []Glance
	// Forecasts are the device's series with a forecast, each with a
	// graph of its last 30 days and its trend.
	Forecasts []DeviceForecast
}

// DeviceForecast is a forecast on the device page, with its graph.
type DeviceForecast struct {
	ForecastView
	Graph Graph
}

// forecastRange is the history a device page's forecast graphs show
// (hourly rollups, as the forecasts read).
var forecastRange = Range{"30d", 30 * 24 * time.Hour, time.Hour}

// stamp formats a time for fact tables; the zero time is "never".
func stamp(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.Local().Format("2006-01-02 15:04 MST")
}

// DeviceCheck is a check on the device page, with its graph.
type DeviceCheck struct {
	CheckRow
	Graph Graph
}

func (s *Server) devicePages() {
	b := s.o.Devices
	if b == nil {
		return
	}
	s.handle("GET", "/devices", RoleViewer, func(w http.ResponseWriter, r *http.Request, sess *Session) error {
		q := r.URL.Query()
		v := DevicesView{Q: q.Get("q"), Status: q.Get("status"), Statuses: []string{"critical", "warning", "unknown", "ok", "pending"}}
		ql := strings.ToLower(strings.TrimSpace(v.Q))
		for _, d := range Devices(b.CheckStates()) {
			if v.Status != "" && d.Worst != v.Status {
				continue
			}
			if ql != "" && !strings.Contains(strings.ToLower(d.Name), ql) {
				continue
			}
			v.Rows = append(v.Rows, d)
		}
		return s.render(w, r, sess, "Devices", devicesView(v))
	})
	s.handle("GET", "/devices/{name}", RoleViewer, func(w http.ResponseWriter, r *http.Request, sess *Session) error {
		name := r.PathValue("name")
		now := s.o.Clock.Now()
		rng, chosen := rangeNamed(r.URL.Query().Get("range"))
		var mine []CheckState
		for _, c := range b.CheckStates() {
			if rowOf(c, now).Device == name {
				mine = append(mine, c)
			}
		}
		if len(mine) == 0 {
			return Errorf(ENOTFOUND, "no checks on device %s", name)
		}
		// Sparklines show the last hours: 6 h, or the last hour while
		// the device's history is younger than that (install day).
		var raws [][]checks.Result
		if !chosen {
			var oldest time.Time
			for _, c := range mine {
				raw, err := b.History(c.ID, now.Add(-6*time.Hour), now)
				if err != nil {
					return err
				}
				raws = append(raws, raw)
				if len(raw) > 0 && (oldest.IsZero() || raw[0].Time.Before(oldest)) {
					oldest = raw[0].Time
				}
			}
			rng = autoRange(oldest, now, 6*time.Hour)
		}
		v := DeviceView{Name: name, Worst: "ok", Range: rng.Name}
		for _, x := range Ranges {
			v.Ranges = append(v.Ranges, x.Name)
		}
		from := now.Add(-rng.Span)
		for i, c := range mine {
			row := rowOf(c, now)
			if rankOf(row.Status) > rankOf(v.Worst) {
				v.Worst = row.Status
			}
			var pts []Point
			if raws != nil {
				pts = rawPoints(raws[i], from)
			} else {
				var err error
				if pts, err = points(b, c.ID, rng, from, now); err != nil {
					return err
				}
			}
			v.Checks = append(v.Checks, DeviceCheck{CheckRow: row, Graph: BuildGraph(pts, from, now, 160, 36, false, UnitOf(c.Kind))})
		}
		sort.SliceStable(v.Checks, func(i, j int) bool { return rankOf(v.Checks[i].Status) > rankOf(v.Checks[j].Status) })
		fs, _ := forecastsOf(b)
		for _, f := range fs {
			if f.Device != name || f.Trend == nil {
				continue
			}
			ffrom := now.Add(-forecastRange.Span)
			pts, err := points(b, f.Check, forecastRange, ffrom, now)
			if err != nil {
				return err
			}
			unit := Unit{}
			for _, c := range mine {
				if c.ID == f.Check {
					unit = UnitOf(c.Kind)
				}
			}
			v.Forecasts = append(v.Forecasts, DeviceForecast{ForecastView: f, Graph: BuildTrendGraph(pts, ffrom, now, 640, 180, unit, *f.Trend)})
		}
		incs, err := b.Incidents(false, 500)
		if err != nil {
			return err
		}
		for _, inc := range incs {
			if inc.Device == name && len(v.Incidents) < 20 {
				v.Incidents = append(v.Incidents, rowOfIncident(inc, now))
			}
		}
		ctx, cancel := context.WithTimeout(r.Context(), glanceTimeout)
		defer cancel()
		if info, ok := b.Device(ctx, name); ok {
			v.Info = &info
		}
		v.Glances = b.Glances(ctx, name)
		v.Agents = b.Agents(name)
		if v.Logs, err = s.deviceLogs(r.Context(), name, r.URL.Query()); err != nil {
			return err
		}
		return s.render(w, r, sess, name, deviceView(v))
	})
}

// points returns a check's history for a range: raw results up to a
// day; rollups beyond, continued by the raw results newer than the last
// rollup (rollups are made once a day, so a box installed today has a
// line in its 7-day graph too).
func points(b historyReader, id string, rng Range, from, to time.Time) ([]Point, error) {
	if rng.Step == 0 {
		raw, err := b.History(id, from, to)
		if err != nil {
			return nil, err
		}
		return rawPoints(raw, from), nil
	}
	pts, err := b.Rollups(id, rng.Step, from, to)
	if err != nil {
		return nil, err
	}
	cut := from
	if len(pts) > 0 {
		cut = pts[len(pts)-1].Time.Add(rng.Step)
	}
	if cut.Before(to) {
		raw, err := b.History(id, cut, to)
		if err != nil {
			return nil, err
		}
		pts = append(pts, rawPoints(raw, cut)...)
	}
	return pts, nil
}

// rawPoints turns raw results at or after from into graph points.
func rawPoints(raw []checks.Result, from time.Time) []Point {
	pts := make([]Point, 0, len(raw))
	for _, res := range raw {
		if res.Time.Before(from) {
			continue
		}
		p := Point{Time: res.Time, Value: res.Value, HasValue: res.HasValue, Latency: res.Latency, Count: 1}
		if res.Status != checks.OK {
			p.Failures = 1
		}
		pts = append(pts, p)
	}
	return pts
}

// Devices groups checks by their device label, worst first.
func Devices(states []CheckState) []DeviceRow {
	byName := map[string]*DeviceRow{}
	var order []string
	for _, c := range states {
		row := rowOf(c, time.Time{})
		d := byName[row.Device]
		if d == nil {
			d = &DeviceRow{Name: row.Device, Worst: "ok"}
			byName[row.Device] = d
			order = append(order, row.Device)
		}
		d.Checks++
		if row.Status != "ok" && row.Status != "pending" {
			d.Failing++
		}
		if rankOf(row.Status) > rankOf(d.Worst) {
			d.Worst = row.Status
		}
	}
	out := make([]DeviceRow, 0, len(order))
	for _, n := range order {
		out = append(out, *byName[n])
	}
	sort.SliceStable(out, func(i, j int) bool {
		if rankOf(out[i].Worst) != rankOf(out[j].Worst) {
			return rankOf(out[i].Worst) > rankOf(out[j].Worst)
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// dashIfEmpty shows "-" for a field with nothing to say.
func dashIfEmpty(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
