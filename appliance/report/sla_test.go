package report

import (
	"testing"
	"time"

	"outpost/checks"
	"outpost/checks/incident"
)

// A 30-day month far from today (November 2031, UTC).
var (
	mFrom = time.Date(2031, 11, 1, 0, 0, 0, 0, time.UTC)
	mTo   = time.Date(2031, 12, 1, 0, 0, 0, 0, time.UTC)
)

func at(day, h, m int) time.Time { return time.Date(2031, 11, day, h, m, 0, 0, time.UTC) }

func TestCheckUptimeHandComputed(t *testing.T) {
	// Up since October; down 2 h on the 3rd; warning 1 h on the 10th;
	// down 30 min on the 20th of which 20 min inside a maintenance window
	// (the 20th 01:00-03:00 covers the check); unknown for 1 h on the 25th.
	chs := []Change{
		{Time: time.Date(2031, 10, 5, 0, 0, 0, 0, time.UTC), To: checks.OK},
		{Time: at(3, 10, 0), To: checks.Critical},
		{Time: at(3, 12, 0), To: checks.OK},
		{Time: at(10, 8, 0), To: checks.Warning},
		{Time: at(10, 9, 0), To: checks.OK},
		{Time: at(20, 2, 50), To: checks.Critical},
		{Time: at(20, 3, 20), To: checks.OK},
		{Time: at(25, 0, 0), To: checks.Unknown},
		{Time: at(25, 1, 0), To: checks.OK},
	}
	maint := []Window{{Name: "patch", Check: "web", Start: at(20, 1, 0), End: at(20, 3, 0)}}
	u := CheckUptime(chs, mFrom, mTo, maint)
	month := 30 * 24 * time.Hour
	if u.Period != month || u.Maintenance != 2*time.Hour {
		t.Errorf("period %s, maintenance %s", u.Period, u.Maintenance)
	}
	// Measured: the month less 2 h of maintenance less 1 h unknown.
	if want := month - 3*time.Hour; u.Measured != want {
		t.Errorf("measured %s, want %s", u.Measured, want)
	}
	// Down: 2 h + the 20 min after the window (03:00-03:20).
	if want := 2*time.Hour + 20*time.Minute; u.Down != want {
		t.Errorf("down %s, want %s", u.Down, want)
	}
	// The 20th's outage began inside the window: not counted as one.
	if u.Degraded != time.Hour || u.Outages != 1 {
		t.Errorf("degraded %s, outages %d", u.Degraded, u.Outages)
	}
	want := 100 * float64(month-3*time.Hour-(2*time.Hour+20*time.Minute)) / float64(month-3*time.Hour)
	if u.Percent != want {
		t.Errorf("uptime %.6f %%, want %.6f %%", u.Percent, want)
	}
	// An outage that starts in a window is not counted as one.
	u = CheckUptime([]Change{{Time: at(1, 0, 0), To: checks.OK}, {Time: at(20, 1, 30), To: checks.Critical}, {Time: at(20, 2, 0), To: checks.OK}}, mFrom, mTo, maint)
	if u.Outages != 0 || u.Down != 0 || u.Percent != 100 {
		t.Errorf("outage inside maintenance: %+v", u)
	}
}

func TestCheckUptimeBeforeFirstResultIsNotMeasured(t *testing.T) {
	// First result on the 16th at 00:00, down 15 h later for 3 h.
	chs := []Change{{Time: at(16, 0, 0), To: checks.OK}, {Time: at(16, 15, 0), To: checks.Critical}, {Time: at(16, 18, 0), To: checks.OK}}
	u := CheckUptime(chs, mFrom, mTo, nil)
	if u.Measured != 15*24*time.Hour || u.Down != 3*time.Hour {
		t.Fatalf("%+v", u)
	}
	if want := 100 * (1 - 3.0/(15*24)); u.Percent != want {
		t.Errorf("uptime %g, want %g", u.Percent, want)
	}
	if u := CheckUptime(nil, mFrom, mTo, nil); u.HasData || u.Percent != 100 {
		t.Errorf("no data: %+v", u)
	}
}

func TestWeeklyWindowOccurrences(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("no tzdata:", err)
	}
	// Sundays 02:00 for 3 h in Berlin: November 2031 has 5 Sundays
	// (2, 9, 16, 23, 30), CET (UTC+1) all month.
	w := Window{Name: "patch night", Group: "servers", Weekly: &Weekly{Days: []time.Weekday{time.Sunday}, At: 2 * time.Hour, Duration: 3 * time.Hour, Location: berlin}}
	occ := w.occurrences(mFrom, mTo)
	if len(occ) != 5 || !occ[0].from.Equal(time.Date(2031, 11, 2, 1, 0, 0, 0, time.UTC)) || occ.total() != 15*time.Hour {
		t.Errorf("occurrences %v", occ)
	}
	// A window running over the month's start counts from the start.
	w2 := Window{Weekly: &Weekly{Days: []time.Weekday{time.Friday}, At: 22 * time.Hour, Duration: 6 * time.Hour, Location: time.UTC}}
	if occ := w2.occurrences(mFrom, at(2, 0, 0)); len(occ) != 1 || !occ[0].from.Equal(mFrom) || occ[0].to.Sub(occ[0].from) != 4*time.Hour {
		t.Errorf("occurrences over the start: %v", occ)
	}
}

func TestDeviceUnionOfOverlappingOutages(t *testing.T) {
	// Two checks of one device, down 10:00-12:00 and 11:00-13:00 on the
	// 5th: the device was down 3 h, not 4.
	a := changesTimeline([]Change{{Time: mFrom, To: checks.OK}, {Time: at(5, 10, 0), To: checks.Critical}, {Time: at(5, 12, 0), To: checks.OK}}, mFrom, mTo, nil)
	b := changesTimeline([]Change{{Time: mFrom, To: checks.OK}, {Time: at(5, 11, 0), To: checks.Critical}, {Time: at(5, 13, 0), To: checks.OK}}, mFrom, mTo, nil)
	u := union([]timeline{a, b}).uptime(mFrom, mTo)
	if u.Down != 3*time.Hour || u.Measured != 30*24*time.Hour || u.Outages != 2 {
		t.Errorf("%+v", u)
	}
}

func TestStatsOf(t *testing.T) {
	m := func(n int) time.Duration { return time.Duration(n) * time.Minute }
	s := StatsOf([]time.Duration{m(5), m(1), m(3), m(10), m(2), m(4), m(6), m(8), m(7), m(30)})
	// Sorted 1 2 3 4 5 6 7 8 10 30: mean 7.6, median 5.5, p90 (9th) 10.
	if s.N != 10 || s.Mean != m(76)/10 || s.Median != m(11)/2 || s.P90 != m(10) {
		t.Errorf("%+v", s)
	}
	if s := StatsOf(nil); s.N != 0 {
		t.Errorf("%+v", s)
	}
}

type memSource struct {
	changes map[string][]Change
	incs    []incident.Incident
}

func (m memSource) Changes(id string, from, to time.Time) ([]Change, error) {
	return m.changes[id], nil
}
func (m memSource) Incidents(from, to time.Time) ([]incident.Incident, error) {
	return m.incs, nil
}

func TestIncidentFigures(t *testing.T) {
	tp := func(t time.Time) *time.Time { return &t }
	incs := []incident.Incident{
		// critical, acked after 4 min, resolved by a technician after 1 h
		{ID: 1, Check: "web", Severity: checks.SeverityCritical, State: incident.Resolved, Opened: at(3, 10, 0), Acked: tp(at(3, 10, 4)), Resolved: tp(at(3, 11, 0)), Escalated: true, Resolution: incident.ByTechnician},
		// critical, self-healed after 30 s, never acked; overlaps #1
		{ID: 2, Check: "db", Severity: checks.SeverityCritical, State: incident.Resolved, Opened: at(3, 10, 30), Resolved: tp(at(3, 10, 30).Add(30 * time.Second)), Resolution: incident.SelfHealed},
		// critical, acked after 10 min, recovered by itself after 20 min
		{ID: 3, Check: "web", Severity: checks.SeverityCritical, State: incident.Resolved, Opened: at(12, 0, 0), Acked: tp(at(12, 0, 10)), Resolved: tp(at(12, 0, 20)), Resolution: incident.ResolvedByItself},
		// warning, still open
		{ID: 4, Check: "disk", Severity: checks.SeverityWarning, State: incident.Open, Opened: at(28, 9, 0)},
		// in maintenance: counted, but not in response times
		{ID: 5, Check: "web", Severity: checks.SeverityCritical, State: incident.Resolved, InMaintenance: true, Opened: at(20, 1, 0), Resolved: tp(at(20, 1, 40)), Resolution: incident.ResolvedByItself},
	}
	rows, resp, h := incidentFigures(incs, at(30, 0, 0))
	if h != (Healing{Total: 5, SelfHealed: 1, Recovered: 2, Technician: 1, Open: 1, Maintenance: 1}) {
		t.Errorf("healing %+v", h)
	}
	if len(rows) != 5 || rows[0].ID != 1 || rows[1].Ended != "self-healed" || rows[3].Duration != 40*time.Minute {
		t.Errorf("rows %+v", rows)
	}
	if len(resp) != 2 || resp[0].Severity != checks.SeverityCritical {
		t.Fatalf("response %+v", resp)
	}
	c := resp[0]
	// Acks: 4 and 10 min; resolves: 60 min, 30 s, 20 min.
	if c.Count != 3 || c.Ack.N != 2 || c.Ack.Mean != 7*time.Minute || c.Ack.Median != 7*time.Minute || c.Ack.P90 != 10*time.Minute {
		t.Errorf("critical ack %+v", c)
	}
	if c.Resolve.N != 3 || c.Resolve.Median != 20*time.Minute || c.Resolve.P90 != time.Hour || c.Resolve.Mean != (80*time.Minute+30*time.Second)/3 {
		t.Errorf("critical resolve %+v", c.Resolve)
	}
	if w := resp[1]; w.Count != 1 || w.Ack.N != 0 || w.Resolve.N != 0 {
		t.Errorf("warning %+v", w)
	}
}
