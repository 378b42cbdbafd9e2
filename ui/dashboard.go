package ui

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"outpost/checks"
	"outpost/checks/incident"
)

func init() { pages = append(pages, (*Server).dashboardPage) }

// DashboardBackend is what the dashboard reads.
type DashboardBackend interface {
	// CheckStates returns every check with its latest result.
	CheckStates() []CheckState
	// Incidents lists incidents newest first (open ones only if open), at
	// most limit; errors are internal.
	Incidents(open bool, limit int) ([]incident.Incident, error)
	// historyReader gives the failing checks their sparklines.
	historyReader
	glanceReader
	// PhoneHome says whether summaries reach the MSP.
	PhoneHome() PhoneHomeView
}

// ScheduleBackend is what a dashboard backend may also tell: the
// scheduler's health. A backend without it shows no schedule warning.
type ScheduleBackend interface {
	// ChecksBehind is how many checks miss their schedule: their last
	// planned run was dropped while the workers were busy.
	ChecksBehind() int
}

// DashboardView is the site at a glance.
type DashboardView struct {
	Now      time.Time
	Counts   []StatusCount
	Failing  []CheckRow
	Devices  []DeviceRow
	Capacity []CheckRow
	Total    int
	// Open incidents first on the page; Healed are the recently
	// self-healed ones.
	Open   []IncidentRow
	Healed []IncidentRow
	// Clock is the box's own clock, from its clock check (nil when the
	// config has none).
	Clock *ClockRow
	// Glances are the printers' and UPSes' levels.
	Glances []Glance
	// Phone is phone home's state (Enabled false: not configured).
	Phone PhoneHomeView
	// SparkRange names the failing checks' sparkline span.
	SparkRange string
	// Behind is how many checks miss their schedule.
	Behind int
	// Forecasts are the next series to fill, soonest first; Horizon is
	// how far ahead they alarm.
	Forecasts []ForecastView
	Horizon   time.Duration
}

// ClockRow says whether the box's clock can be trusted.
type ClockRow struct {
	Check  string
	Sync   string // checks.ClockWord*
	Status string
	Detail string
}

// StatusCount is how many checks have one status.
type StatusCount struct {
	Status string
	N      int
}

// CheckRow is a check in a table.
type CheckRow struct {
	ID, Kind, Target, Device, Group, Severity string
	Status                                    string
	Detail                                    string
	Since                                     time.Time
	Age                                       string
	// Spark is the check's sparkline (dashboard and device pages).
	Spark Graph
}

// DeviceRow summarises one device's checks.
type DeviceRow struct {
	Name            string
	Worst           string
	Checks, Failing int
}

// maxDashSparks is how many failing checks get a sparkline on the
// dashboard (each reads its raw results of the last hours).
const maxDashSparks = 20

func (s *Server) dashboardPage() {
	b := s.o.Dashboard
	if b == nil {
		return
	}
	s.handle("GET", "/{$}", RoleViewer, func(w http.ResponseWriter, r *http.Request, sess *Session) error {
		now := s.o.Clock.Now()
		v := BuildDashboard(b.CheckStates(), now)
		recent, err := b.Incidents(false, 100)
		if err != nil {
			return err
		}
		for _, inc := range recent {
			switch {
			case inc.IsOpen():
				v.Open = append(v.Open, rowOfIncident(inc, now))
			case inc.SelfHealed() && inc.Resolved != nil && now.Sub(*inc.Resolved) < 24*time.Hour && len(v.Healed) < 10:
				v.Healed = append(v.Healed, rowOfIncident(inc, now))
			}
		}
		// The failing checks' last hours, as on their device's page: 6 h,
		// or the last hour on install day.
		var raws [][]checks.Result
		var oldest time.Time
		for i := 0; i < len(v.Failing) && i < maxDashSparks; i++ {
			raw, err := b.History(v.Failing[i].ID, now.Add(-6*time.Hour), now)
			if err != nil {
				return err
			}
			raws = append(raws, raw)
			if len(raw) > 0 && (oldest.IsZero() || raw[0].Time.Before(oldest)) {
				oldest = raw[0].Time
			}
		}
		rng := autoRange(oldest, now, 6*time.Hour)
		v.SparkRange = rng.Name
		for i, raw := range raws {
			c := &v.Failing[i]
			c.Spark = BuildGraph(rawPoints(raw, now.Add(-rng.Span)), now.Add(-rng.Span), now, 120, 28, false, UnitOf(c.Kind))
		}
		ctx, cancel := context.WithTimeout(r.Context(), glanceTimeout)
		defer cancel()
		v.Glances = b.Glances(ctx, "")
		v.Phone = b.PhoneHome()
		if sb, ok := b.(ScheduleBackend); ok {
			v.Behind = sb.ChecksBehind()
		}
		fs, horizon := forecastsOf(b)
		v.Forecasts, v.Horizon = nextToFill(fs), horizon
		sort.SliceStable(v.Open, func(i, j int) bool {
			a, b := v.Open[i], v.Open[j]
			if (a.State == incident.Open) != (b.State == incident.Open) {
				return a.State == incident.Open // unacknowledged first
			}
			if c := a.Severity.Compare(b.Severity); c != 0 {
				return c > 0
			}
			return a.Opened.Before(b.Opened)
		})
		return s.render(w, r, sess, "Dashboard", dashboardView(v))
	})
}

// BuildDashboard turns check states into the dashboard's view model:
// counts, failing checks worst and oldest first, devices with their worst
// status, and capacity warnings (disk, memory, storage kinds).
func BuildDashboard(states []CheckState, now time.Time) DashboardView {
	v := DashboardView{Now: now, Total: len(states)}
	counts := map[string]int{}
	devices := map[string]*DeviceRow{}
	for _, c := range states {
		row := rowOf(c, now)
		if c.Kind == "clock" && v.Clock == nil {
			v.Clock = &ClockRow{Check: c.ID, Sync: checks.ClockWordUnknown, Status: row.Status, Detail: row.Detail}
			if c.Latest != nil {
				v.Clock.Sync = checks.ClockSync(*c.Latest)
			}
		}
		counts[row.Status]++
		d := devices[row.Device]
		if d == nil {
			d = &DeviceRow{Name: row.Device, Worst: "ok"}
			devices[row.Device] = d
		}
		d.Checks++
		if row.Status != "ok" && row.Status != "pending" {
			d.Failing++
			v.Failing = append(v.Failing, row)
			if rankOf(row.Status) > rankOf(d.Worst) {
				d.Worst = row.Status
			}
		}
		if row.Status == "warning" || row.Status == "critical" {
			if isCapacity(c.Kind) {
				v.Capacity = append(v.Capacity, row)
			}
		}
	}
	for _, st := range []string{"critical", "warning", "unknown", "ok", "pending"} {
		if counts[st] > 0 || st != "pending" {
			v.Counts = append(v.Counts, StatusCount{Status: st, N: counts[st]})
		}
	}
	sort.SliceStable(v.Failing, func(i, j int) bool {
		a, b := v.Failing[i], v.Failing[j]
		if rankOf(a.Status) != rankOf(b.Status) {
			return rankOf(a.Status) > rankOf(b.Status)
		}
		return a.Since.Before(b.Since)
	})
	for _, d := range devices {
		if d.Failing > 0 {
			v.Devices = append(v.Devices, *d)
		}
	}
	sort.Slice(v.Devices, func(i, j int) bool {
		if rankOf(v.Devices[i].Worst) != rankOf(v.Devices[j].Worst) {
			return rankOf(v.Devices[i].Worst) > rankOf(v.Devices[j].Worst)
		}
		return v.Devices[i].Name < v.Devices[j].Name
	})
	return v
}

func rowOf(c CheckState, now time.Time) CheckRow {
	row := CheckRow{ID: c.ID, Kind: c.Kind, Target: c.Target, Device: c.Labels.Device, Group: c.Labels.Group, Severity: string(c.Labels.Severity), Status: "pending", Detail: "not run yet", Since: c.Since}
	if row.Device == "" {
		row.Device = "(none)"
	}
	if c.Latest != nil {
		row.Status, row.Detail = c.Latest.Status.String(), c.Latest.Detail
	}
	if !c.Since.IsZero() {
		row.Age = Age(now.Sub(c.Since))
	}
	return row
}

func isCapacity(kind string) bool {
	return kind == "disk" || kind == "memory" || strings.Contains(kind, "storage") || strings.HasSuffix(kind, "_disk")
}

// rankOf ranks the status names pages show ("pending" included) by
// checks.RankOf, the one status ranking.
func rankOf(status string) int { return checks.RankOf(status) }

// Age prints a duration the way a technician says it: 3m, 2h 5m, 4d 3h.
func Age(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "<1m"
	case d < time.Hour:
		return fmt.Sprintf("%dm", d/time.Minute)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh %dm", d/time.Hour, (d%time.Hour)/time.Minute)
	}
	return fmt.Sprintf("%dd %dh", d/(24*time.Hour), (d%(24*time.Hour))/time.Hour)
}

// behindLine is the dashboard's warning about checks missing their
// schedule.
func behindLine(n int) string {
	if n == 1 {
		return "1 check is missing its schedule (workers busy with hanging targets)"
	}
	return fmt.Sprintf("%d checks are missing their schedule (workers busy with hanging targets)", n)
}

// phoneWord is phone home's state in a word for the dashboard.
func phoneWord(p PhoneHomeView) string {
	switch p.State() {
	case "failing":
		return "failing"
	case "waiting":
		return "nothing delivered yet"
	}
	return "delivering"
}

// phoneLine says when the MSP last got a summary and what waits.
func phoneLine(p PhoneHomeView, now time.Time) string {
	var parts []string
	if p.LastSuccess.IsZero() {
		parts = append(parts, "no summary delivered yet")
	} else {
		parts = append(parts, "last delivered "+Age(now.Sub(p.LastSuccess))+" ago")
	}
	if p.Queued > 0 {
		parts = append(parts, fmt.Sprintf("%d queued", p.Queued))
	}
	switch {
	case p.NotRunning != "":
		parts = append(parts, "not running: "+p.NotRunning)
	case p.Failing():
		parts = append(parts, p.LastError)
	}
	return strings.Join(parts, "; ")
}
