package ui

import (
	"net/http"
	"sort"
	"strings"
	"time"

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
}

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
		rng := Ranges[0]
		for _, x := range Ranges {
			if x.Name == r.URL.Query().Get("range") {
				rng = x
			}
		}
		v := DeviceView{Name: name, Worst: "ok", Range: rng.Name}
		for _, x := range Ranges {
			v.Ranges = append(v.Ranges, x.Name)
		}
		from := now.Add(-rng.Span)
		for _, c := range b.CheckStates() {
			row := rowOf(c, now)
			if row.Device != name {
				continue
			}
			if rankOf(row.Status) > rankOf(v.Worst) {
				v.Worst = row.Status
			}
			pts, err := points(b, c.ID, rng, from, now)
			if err != nil {
				return err
			}
			v.Checks = append(v.Checks, DeviceCheck{CheckRow: row, Graph: BuildGraph(pts, from, now, 300, 48, false)})
		}
		if len(v.Checks) == 0 {
			return Errorf(ENOTFOUND, "no checks on device %s", name)
		}
		sort.SliceStable(v.Checks, func(i, j int) bool { return rankOf(v.Checks[i].Status) > rankOf(v.Checks[j].Status) })
		incs, err := b.Incidents(false, 500)
		if err != nil {
			return err
		}
		for _, inc := range incs {
			if inc.Device == name && len(v.Incidents) < 20 {
				v.Incidents = append(v.Incidents, rowOfIncident(inc, now))
			}
		}
		v.Agents = b.Agents(name)
		return s.render(w, r, sess, name, deviceView(v))
	})
}

// points returns a check's history for a range: raw results for a day,
// rollups beyond.
func points(b historyReader, id string, rng Range, from, to time.Time) ([]Point, error) {
	if rng.Step > 0 {
		return b.Rollups(id, rng.Step, from, to)
	}
	raw, err := b.History(id, from, to)
	if err != nil {
		return nil, err
	}
	pts := make([]Point, len(raw))
	for i, res := range raw {
		pts[i] = Point{Time: res.Time, Value: res.Value, HasValue: res.HasValue, Latency: res.Latency, Count: 1}
		if res.Status.String() != "ok" {
			pts[i].Failures = 1
		}
	}
	return pts, nil
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
