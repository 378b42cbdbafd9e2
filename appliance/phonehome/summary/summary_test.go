package summary_test

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"outpost/appliance/config"
	"outpost/appliance/phonehome/summary"
	"outpost/appliance/phonehome/wire"
	"outpost/checks"
	agentwire "outpost/checks/agent/wire"
	"outpost/checks/clock"
	"outpost/checks/forecast"
	"outpost/checks/incident"
)

var now = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

type results map[string]checks.Result

func (r results) Latest(id string) (checks.Result, bool) { v, ok := r[id]; return v, ok }

type incidents struct {
	list []incident.Incident
	err  error
}

func (f incidents) List(bool, int) ([]incident.Incident, error) { return f.list, f.err }

func at(t time.Time) *time.Time { return &t }

// inc is an incident of check opened at opened, acknowledged and
// resolved when those are not zero.
func inc(id uint64, check string, opened, acked, resolved time.Time) incident.Incident {
	i := incident.Incident{ID: id, Check: check, State: incident.Open, Opened: opened,
		Timeline: []incident.Event{{Time: opened, Kind: incident.Detected, Text: "down"}}}
	if !acked.IsZero() {
		i.Acked, i.AckedBy, i.State = at(acked), "alice", incident.Acknowledged
	}
	if !resolved.IsZero() {
		i.Resolved, i.Resolution, i.State = at(resolved), incident.ByTechnician, incident.Resolved
	}
	return i
}

func siteChecks() []config.Check {
	return []config.Check{
		{ID: "nas-disk", Kind: "disk", Labels: checks.Labels{Device: "nas"}},
		{ID: "nas-smb", Kind: "tcp", Labels: checks.Labels{Device: "nas"}},
		{ID: config.BuiltinClockCheck, Kind: "clock", Builtin: true},
	}
}

// TestSLA: the uptime, the incidents counted and the mean times over the
// 30-day window, the box's own checks left out.
func TestSLA(t *testing.T) {
	from := now.Add(-summary.SLAWindow)
	list := []incident.Incident{
		// Resolved before the window: not counted.
		inc(1, "nas-smb", now.Add(-40*day), time.Time{}, now.Add(-31*day)),
		// Opened before the window, resolved two hours into it: two hours
		// down; its whole duration counts for the mean time to resolve.
		inc(2, "nas-smb", now.Add(-31*day), now.Add(-31*day+30*time.Minute), from.Add(2*time.Hour)),
		// Open for an hour, not acknowledged: down until now.
		inc(3, "nas-disk", now.Add(-time.Hour), time.Time{}, time.Time{}),
		// The box's own clock: counted nowhere.
		inc(4, config.BuiltinClockCheck, now.Add(-2*time.Hour), now.Add(-2*time.Hour+time.Minute), now.Add(-time.Hour)),
		// Acknowledged after 10 minutes, resolved after an hour.
		inc(5, "nas-disk", now.Add(-10*time.Hour), now.Add(-10*time.Hour+10*time.Minute), now.Add(-9*time.Hour)),
	}
	got := summary.SLA(list, siteChecks(), now)
	// Four hours down over 30 days of two site checks.
	uptime := 100 * (1 - (4*time.Hour).Seconds()/(2*summary.SLAWindow.Seconds()))
	want := wire.SLA{From: from, To: now, Incidents: 3, Acknowledged: 2, Resolved: 2,
		MeanTimeToAck:     (20 * time.Minute).Seconds(),   // 30 and 10 minutes
		MeanTimeToResolve: (27 * time.Hour / 2).Seconds()} // 26 hours and 1 hour
	if math.Abs(got.UptimePercent-uptime) > 1e-9 {
		t.Errorf("uptime %v, want %v", got.UptimePercent, uptime)
	}
	got.UptimePercent = 0
	if got != want {
		t.Errorf("SLA\n got %+v\nwant %+v", got, want)
	}

	t.Run("no incidents", func(t *testing.T) {
		if got := summary.SLA(nil, siteChecks(), now); got != (wire.SLA{From: from, To: now, UptimePercent: 100}) {
			t.Errorf("%+v", got)
		}
	})
	t.Run("no site checks", func(t *testing.T) {
		only := siteChecks()[2:]
		got := summary.SLA([]incident.Incident{inc(1, config.BuiltinClockCheck, now.Add(-time.Hour), time.Time{}, time.Time{})}, only, now)
		if got.UptimePercent != 100 || got.Incidents != 0 {
			t.Errorf("%+v", got)
		}
	})
	t.Run("down the whole window", func(t *testing.T) {
		got := summary.SLA([]incident.Incident{inc(1, "nas-smb", now.Add(-60*day), time.Time{}, time.Time{})}, siteChecks(), now)
		if math.Abs(got.UptimePercent-50) > 1e-9 || got.Incidents != 1 || got.Resolved != 0 || got.MeanTimeToResolve != 0 {
			t.Errorf("one of two checks down for 30 days: %+v", got)
		}
	})
}

func builder(cfg *config.Config, res results, incs incidents, facts summary.Facts) *summary.Builder {
	return &summary.Builder{
		Box:       wire.Box{ID: "ob-0123456789abcdef", Version: "1.2.3", PublicKey: "ed25519:AAAA", UICertSHA256: "ff"},
		Config:    func() *config.Config { return cfg },
		Results:   res,
		Incidents: incs,
		Inventory: func(agent string) (agentwire.Inventory, bool) {
			if agent != "nas-agent" {
				return agentwire.Inventory{}, false
			}
			return agentwire.Inventory{OS: agentwire.OSInfo{Name: "Debian", Version: "12"}, CPU: "Atom", RAM: 4 << 30, Serial: "S1",
				Apps: []agentwire.App{{Name: "samba"}, {Name: "nfs"}}}, true
		},
		Facts: func() summary.Facts { return facts },
		Clock: clock.NewFake(now),
	}
}

// TestBuild: health and capacity from the latest results, incidents open
// and closed since the last summary, the inventory's changes and the
// box's own figures, without a daemon.
func TestBuild(t *testing.T) {
	cfg := &config.Config{Site: "Acme",
		Devices: []config.Device{{Name: "nas", Class: "server"}, {Name: "core", Class: "switch"}},
		Checks:  append(siteChecks(), config.Check{ID: "core-ping", Kind: "ping", Labels: checks.Labels{Device: "core"}}),
		Agents:  []config.Agent{{Name: "nas-agent", Device: "nas"}}}
	res := results{
		"nas-disk":  {Status: checks.Warning, Value: 91.5, Detail: "/ 91.5% used"},
		"nas-smb":   {Status: checks.Critical, Detail: "refused"},
		"core-ping": {Status: checks.OK},
	}
	lastSummary := now.Add(-time.Hour)
	incs := incidents{list: []incident.Incident{
		inc(3, "nas-smb", now.Add(-5*time.Minute), time.Time{}, time.Time{}),
		inc(2, "nas-disk", now.Add(-2*time.Hour), time.Time{}, now.Add(-30*time.Minute)), // closed since
		inc(1, "nas-disk", now.Add(-5*time.Hour), time.Time{}, now.Add(-4*time.Hour)),    // reported before
	}}
	receipt := &summary.Bundle{Time: now.Add(-day), Result: "refused", BundleVersion: 7, Source: "stick", Reasons: []string{"expired", "replayed"}}
	fw := &wire.Event{Time: now, Result: "available", Detail: "version 1.5"}
	facts := summary.Facts{StoreBytes: 1 << 20, OutboxDepth: 3, LatenessP99: 1500 * time.Microsecond, Uptime: 90*time.Second + 500*time.Millisecond,
		Behind: 2, Clock: wire.Clock{Sync: "synchronised"}, LastBundle: receipt, LastFirmware: fw}
	prev := summary.Previous{Built: lastSummary.Format(time.RFC3339Nano), Inventory: map[string]string{"printer": "00"}}
	b := builder(cfg, res, incs, facts)

	s, inv, err := b.Build("interval", 9, prev, true)
	if err != nil {
		t.Fatal(err)
	}
	if s.Box.Site != "Acme" || s.Box.ID != "ob-0123456789abcdef" || s.Box.UICertSHA256 != "ff" {
		t.Errorf("box: %+v", s.Box)
	}
	if want := (wire.Health{Checks: 4, OK: 1, Warning: 1, Critical: 1, Pending: 1}); s.Health != want {
		t.Errorf("health %+v, want %+v", s.Health, want)
	}
	if len(s.Capacity) != 1 || s.Capacity[0] != (wire.Capacity{Check: "nas-disk", Device: "nas", Status: "warning", Value: 91.5, Detail: "/ 91.5% used"}) {
		t.Errorf("capacity: %+v", s.Capacity)
	}
	if len(s.OpenIncidents) != 1 || s.OpenIncidents[0].ID != 3 || len(s.OpenIncidents[0].Timeline) != 1 ||
		len(s.ClosedIncidents) != 1 || s.ClosedIncidents[0].ID != 2 || s.ClosedIncidents[0].Resolution != incident.ByTechnician {
		t.Errorf("incidents: open %+v closed %+v", s.OpenIncidents, s.ClosedIncidents)
	}
	if s.SLA.Incidents != 3 || s.SLA.To != now {
		t.Errorf("SLA: %+v", s.SLA)
	}
	in := s.Inventory
	if len(in.New) != 2 || in.New[0].Name != "core" || in.New[1].Name != "nas" || in.New[1].Checks != 2 ||
		len(in.Gone) != 1 || in.Gone[0] != "printer" || len(in.Changed) != 0 || len(in.Full) != 2 || len(inv) != 2 {
		t.Errorf("inventory: %+v (recorded %v)", in, inv)
	}
	if f := in.New[1].Facts; f["os"] != "Debian 12" || f["apps"] != "2" || f["serial"] != "S1" || f["ram"] == "" {
		t.Errorf("agent facts: %v", f)
	}
	h := s.BoxHealth
	if h.StoreBytes != 1<<20 || h.OutboxDepth != 3 || h.LatenessP99Ms != 1.5 || h.UptimeSeconds != 90 || h.ChecksBehind != 2 || h.Clock == nil || h.Clock.Sync != "synchronised" ||
		h.LastFirmware != fw || h.LastUSB == nil || h.LastUSB.Detail != "bundle v7 from stick expired; replayed" || h.LastUSB.Result != "refused" {
		t.Errorf("box health: %+v (last usb %+v)", h, h.LastUSB)
	}

	t.Run("next summary", func(t *testing.T) {
		// The NAS gains a check: changed; nothing new, nothing closed again.
		cfg.Checks = append(cfg.Checks, config.Check{ID: "nas-ping", Kind: "ping", Labels: checks.Labels{Device: "nas"}})
		next := summary.Previous{Built: now.Format(time.RFC3339Nano), Inventory: inv}
		s, _, err := b.Build("interval", 10, next, false)
		if err != nil {
			t.Fatal(err)
		}
		if in := s.Inventory; len(in.New) != 0 || len(in.Gone) != 0 || len(in.Changed) != 1 || in.Changed[0].Name != "nas" || in.Full != nil {
			t.Errorf("inventory: %+v", in)
		}
		if len(s.ClosedIncidents) != 0 {
			t.Errorf("closed again: %+v", s.ClosedIncidents)
		}
	})
	t.Run("clock stepped back", func(t *testing.T) {
		// The last summary is dated a year ahead (a wrong clock since
		// corrected): the last day's closures are reported again.
		ahead := summary.Previous{Built: now.Add(365 * day).Format(time.RFC3339Nano)}
		s, _, _ := b.Build("interval", 11, ahead, false)
		if len(s.ClosedIncidents) != 2 {
			t.Errorf("closed after a step back: %+v", s.ClosedIncidents)
		}
	})
	t.Run("incidents unreadable", func(t *testing.T) {
		b := builder(cfg, res, incidents{err: errors.New("store closed")}, facts)
		if _, _, err := b.Build("interval", 12, prev, false); err == nil || !strings.Contains(err.Error(), "store closed") {
			t.Errorf("err = %v", err)
		}
	})
}

// fitted is a forecast of a series at level now moving perDay, with
// warning and critical thresholds.
func fitted(t *testing.T, s checks.Series, level, perDay float64) checks.SeriesForecast {
	t.Helper()
	var bs []forecast.Bucket
	for h := -10 * 24; h <= 0; h++ {
		v := level + perDay*float64(h)/24
		bs = append(bs, forecast.Bucket{Start: now.Add(time.Duration(h) * time.Hour), Mean: v, Min: v, Max: v, Count: 12})
	}
	tr, err := forecast.Fit(bs, forecast.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	fc := forecast.Predict(tr, s.Limits)
	return checks.SeriesForecast{Series: s, Forecast: &fc}
}

// TestCapacityCarriesForecasts: the capacity warning gets its forecast;
// an ok series forecast to fill within the horizon is listed with its
// crossing; a steady one is not.
func TestCapacityCarriesForecasts(t *testing.T) {
	cfg := &config.Config{Site: "Acme", Checks: siteChecks()}
	res := results{"nas-disk": {Status: checks.Warning, Value: 91.5, Detail: "/ 91.5% used"}, "nas-smb": {Status: checks.OK}}
	b := builder(cfg, res, incidents{}, summary.Facts{})
	w, c := 80.0, 90.0
	lim := forecast.Limits{Warning: &w, Critical: &c}
	b.Forecasts = func() ([]checks.SeriesForecast, time.Duration) {
		return []checks.SeriesForecast{
			fitted(t, checks.Series{Check: "nas-disk", Device: "nas", What: "used %", Limits: lim}, 85, 0.5),  // critical 90 in 10 days
			fitted(t, checks.Series{Check: "exch-logs", Device: "exch01", What: "value", Limits: lim}, 70, 2), // warning 80 in 5 days
			fitted(t, checks.Series{Check: "steady", Device: "nas", What: "used %", Limits: lim}, 40, 0),
		}, 14 * day
	}
	s, _, err := b.Build("interval", 1, summary.Previous{}, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Capacity) != 2 {
		t.Fatalf("capacity: %+v", s.Capacity)
	}
	disk, logs := s.Capacity[0], s.Capacity[1]
	if disk.Check != "nas-disk" || disk.Status != "warning" || disk.Forecast == nil || disk.Forecast.Crossing != "critical" || math.Abs(disk.Forecast.Days-10) > 0.01 || disk.Forecast.Past != "warning" {
		t.Errorf("the disk's forecast: %+v %+v", disk, disk.Forecast)
	}
	if f := logs.Forecast; logs.Check != "exch-logs" || logs.Device != "exch01" || logs.Status != "unknown" || f == nil || f.Crossing != "warning" || f.Threshold != 80 ||
		math.Abs(f.Days-5) > 0.01 || f.At == nil || !f.At.Equal(now.Add(5*day)) || math.Abs(f.PerDay-2) > 1e-9 || f.Text != "exch-logs on exch01: value reaches warning 80 in 5 days" {
		t.Errorf("the log folder's forecast: %+v %+v", logs, f)
	}
}
