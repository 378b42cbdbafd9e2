// Package summary builds the phone-home summary of a site: health
// counts, capacity warnings, open and newly closed incidents, the SLA
// figures over the last 30 days, the inventory's changes since the last
// summary, and the box's own health. It reads the daemon through the
// narrow readers in Builder, so it is tested without one; the daemon
// (appliance) hands them over and phonehome sends what Build returns.
package summary

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"outpost/appliance/config"
	"outpost/appliance/phonehome/wire"
	"outpost/checks"
	agentwire "outpost/checks/agent/wire"
	"outpost/checks/clock"
	"outpost/checks/incident"
)

// SLAWindow is the window the summary's SLA figures cover.
const SLAWindow = 30 * 24 * time.Hour

// maxIncidents bounds the incidents a summary reads (newest first).
const maxIncidents = 5000

// Results are the checks' latest results (the store).
type Results interface {
	// Latest is a check's newest result; ok is false before it first ran.
	Latest(check string) (checks.Result, bool)
}

// Incidents are the incident records (the incident engine).
type Incidents interface {
	// List returns incidents newest first (open ones only if openOnly),
	// at most limit; an error means the records could not be read.
	List(openOnly bool, limit int) ([]incident.Incident, error)
}

// Facts are the box's own figures when a summary is built.
type Facts struct {
	StoreBytes  int64
	OutboxDepth int
	LatenessP99 time.Duration
	Uptime      time.Duration
	// Behind counts the checks missing their schedule (the scheduler's
	// Behind, as /healthz reports it).
	Behind int
	// Clock is what the box's clock check last said of its clock.
	Clock wire.Clock
	// LastBundle is the last provisioning bundle seen (nil when none
	// was).
	LastBundle *Bundle
	// LastFirmware is the last verified firmware notice (nil when none).
	LastFirmware *wire.Event
	// NotifyFailing are the notification channels whose recent attempts
	// failed.
	NotifyFailing []wire.ChannelFailure
}

// Bundle is what became of a provisioning bundle, as the summary tells
// it (from the provisioner's receipt).
type Bundle struct {
	Time time.Time
	// Result is "applied" or "refused"; Reasons say why it was refused.
	Result        string
	BundleVersion uint64
	Source        string
	Reasons       []string
}

// Previous is what the outbox recorded of the summary built before.
type Previous struct {
	// Built is when it was built (RFC 3339); empty before the first.
	Built string
	// Inventory is the inventory it reported (device -> fingerprint).
	Inventory map[string]string
}

// Builder builds summaries from what it reads. Every field must be set.
type Builder struct {
	// Box identifies the box; Build fills in its site from the config.
	Box wire.Box
	// Config is the config in force.
	Config func() *config.Config
	// Results and Incidents are read for health, capacity, incidents and
	// the SLA.
	Results   Results
	Incidents Incidents
	// Backups, when set, reads the backup jobs' figures over [from, to]
	// (the SLA window); an error means their records could not be read.
	Backups func(from, to time.Time) ([]wire.Backup, error)
	// Inventory is an agent's latest inventory; ok is false when none
	// was collected.
	Inventory func(agent string) (inv agentwire.Inventory, ok bool)
	// Discovered reads the discovery changes recorded after a time,
	// oldest first, at most n (nil: the box keeps no inventory).
	Discovered func(after time.Time, n int) ([]wire.DiscoveryChange, error)
	// Facts reads the box's own figures.
	Facts func() Facts
	// Forecasts are the capacity forecasts and the horizon they are
	// judged against (nil: none, as in `outpost once`).
	Forecasts func() ([]checks.SeriesForecast, time.Duration)
	Clock     clock.Clock
}

// maxDiscoveredScan is how many discovery changes a summary reads at
// most (the store keeps 10,000).
const maxDiscoveredScan = 10_000

// Build reports the site as it is now: summary seq, built for reason,
// after the summary prev (its inventory fingerprints and build time);
// full lists every device. It returns the inventory fingerprints
// to record for the next summary; an error means the incidents could not
// be read. Schema, sequence, time, reason, interval and loss are the
// sender's to fill in.
func (b *Builder) Build(reason string, seq uint64, prev Previous, full bool) (wire.Summary, map[string]string, error) {
	now := b.Clock.Now().UTC()
	cfg := b.Config()
	box := b.Box
	box.Site = cfg.Site
	s := wire.Summary{Box: box, OpenIncidents: []wire.Incident{}, ClosedIncidents: []wire.Incident{}, Capacity: []wire.Capacity{}}
	devices := b.health(cfg, &s)
	if b.Forecasts != nil {
		fs, horizon := b.Forecasts()
		s.Capacity = capacity(s.Capacity, fs, horizon, b.Results)
	}
	var inv map[string]string
	s.Inventory, inv = inventory(devices, prev.Inventory, full)

	list, err := b.Incidents.List(false, maxIncidents)
	if err != nil {
		return s, nil, fmt.Errorf("summary %d: reading incidents: %w", seq, err)
	}
	built, _ := time.Parse(time.RFC3339Nano, prev.Built)
	s.OpenIncidents, s.ClosedIncidents = incidents(list, built, now)
	if b.Discovered != nil {
		// Only changes: those after the previous summary (all the
		// box keeps, for the first one). Read one more than fits to
		// know whether some were left out.
		ds, err := b.Discovered(built, maxDiscoveredScan)
		if err != nil {
			return s, nil, fmt.Errorf("summary %d: reading the inventory's changes: %w", seq, err)
		}
		if n := len(ds) - wire.MaxDiscovered; n > 0 {
			s.Inventory.DiscoveredOmitted, ds = n, ds[n:]
		}
		s.Inventory.Discovered = ds
	}
	s.SLA = SLA(list, cfg.Checks, now)
	s.BoxHealth = boxHealth(b.Facts())
	if b.Backups != nil {
		if s.Backups, err = b.Backups(now.Add(-SLAWindow), now); err != nil {
			return s, nil, fmt.Errorf("summary %d: reading backup jobs: %w", seq, err)
		}
	}
	return s, inv, nil
}

// health counts the checks by status and lists capacity warnings into
// s, and returns the devices with their check counts and the facts
// their agents report.
func (b *Builder) health(cfg *config.Config, s *wire.Summary) map[string]*wire.Device {
	devices := map[string]*wire.Device{}
	for _, d := range cfg.Devices {
		devices[d.Name] = &wire.Device{Name: d.Name, Class: d.Class}
	}
	for _, c := range cfg.Checks {
		s.Health.Checks++
		if name := c.Labels.Device; name != "" { // a check of no device (the box's own clock) adds none
			dev := devices[name]
			if dev == nil {
				dev = &wire.Device{Name: name}
				devices[name] = dev
			}
			dev.Checks++
		}
		r, ok := b.Results.Latest(c.ID)
		if !ok {
			s.Health.Pending++
			continue
		}
		switch r.Status {
		case checks.OK:
			s.Health.OK++
		case checks.Warning:
			s.Health.Warning++
		case checks.Critical:
			s.Health.Critical++
		default:
			s.Health.Unknown++
		}
		if (r.Status == checks.Warning || r.Status == checks.Critical) && isCapacityKind(c.Kind) {
			s.Capacity = append(s.Capacity, wire.Capacity{Check: c.ID, Device: c.Labels.Device, Status: r.Status.String(), Value: r.Value, Detail: r.Detail})
		}
	}
	for _, ag := range cfg.Agents {
		name := ag.Device
		if name == "" {
			name = ag.Name
		}
		if w, ok := b.Inventory(ag.Name); ok && devices[name] != nil {
			devices[name].Facts = map[string]string{"os": strings.TrimSpace(w.OS.Name + " " + w.OS.Version + " " + w.OS.Build), "cpu": w.CPU,
				"ram": checks.Bytes(w.RAM).String(), "serial": w.Serial, "apps": fmt.Sprint(len(w.Apps))}
		}
	}
	return devices
}

// inventory compares the devices with the fingerprints the last summary
// recorded (prev): new, changed and gone devices, every device when
// full. It returns the fingerprints to record now.
func inventory(devices map[string]*wire.Device, prev map[string]string, full bool) (wire.Inventory, map[string]string) {
	out := wire.Inventory{New: []wire.Device{}, Gone: []string{}, Changed: []wire.Device{}}
	inv := map[string]string{}
	names := make([]string, 0, len(devices))
	for n := range devices {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		d := *devices[n]
		b, _ := json.Marshal(d)
		sum := sha256.Sum256(b)
		inv[n] = hex.EncodeToString(sum[:8])
		switch old, ok := prev[n]; {
		case !ok:
			out.New = append(out.New, d)
		case old != inv[n]:
			out.Changed = append(out.Changed, d)
		}
		if full {
			out.Full = append(out.Full, d)
		}
	}
	for n := range prev {
		if _, ok := inv[n]; !ok {
			out.Gone = append(out.Gone, n)
		}
	}
	sort.Strings(out.Gone)
	return out, inv
}

// incidents are the open incidents and those resolved after built, the
// time of the previous summary.
func incidents(list []incident.Incident, built, now time.Time) (open, closed []wire.Incident) {
	open, closed = []wire.Incident{}, []wire.Incident{}
	if built.After(now) {
		// The clock stepped back since the last summary (a wrong future
		// date corrected): incidents resolved since carry times before
		// it. Report the last day's closures again rather than none;
		// hq recognises a repeated incident by its id.
		built = now.Add(-24 * time.Hour)
	}
	for _, inc := range list {
		if inc.Resolved == nil {
			open = append(open, wireIncident(inc))
		} else if inc.Resolved.After(built) {
			closed = append(closed, wireIncident(inc))
		}
	}
	return open, closed
}

// SLA is the client's service level over the SLAWindow before now: the
// uptime (check-time without an open incident), and the mean times to
// acknowledge and to resolve over the incidents acknowledged and
// resolved. The box's own (builtin) checks count in none of them.
func SLA(list []incident.Incident, cfgChecks []config.Check, now time.Time) wire.SLA {
	from := now.Add(-SLAWindow)
	builtin, siteChecks := map[string]bool{}, 0
	for _, c := range cfgChecks {
		if c.Builtin {
			builtin[c.ID] = true
		} else {
			siteChecks++
		}
	}
	sla := wire.SLA{From: from, To: now, UptimePercent: 100}
	var down, ackSum, resSum time.Duration
	for _, inc := range list {
		end := now
		if inc.Resolved != nil {
			end = *inc.Resolved
		}
		if end.Before(from) || builtin[inc.Check] {
			continue
		}
		sla.Incidents++
		down += end.Sub(maxTime(inc.Opened, from))
		if inc.Acked != nil {
			ackSum += inc.Acked.Sub(inc.Opened)
			sla.Acknowledged++
		}
		if inc.Resolved != nil {
			resSum += inc.Resolved.Sub(inc.Opened)
			sla.Resolved++
		}
	}
	if siteChecks > 0 {
		sla.UptimePercent = 100 * (1 - down.Seconds()/(float64(siteChecks)*SLAWindow.Seconds()))
	}
	if sla.Acknowledged > 0 {
		sla.MeanTimeToAck = (ackSum / time.Duration(sla.Acknowledged)).Seconds()
	}
	if sla.Resolved > 0 {
		sla.MeanTimeToResolve = (resSum / time.Duration(sla.Resolved)).Seconds()
	}
	return sla
}

// boxHealth is the box's own figures as the summary carries them.
func boxHealth(f Facts) wire.BoxHealth {
	clk := f.Clock
	h := wire.BoxHealth{StoreBytes: f.StoreBytes, OutboxDepth: f.OutboxDepth, LatenessP99Ms: float64(f.LatenessP99) / 1e6,
		UptimeSeconds: int64(f.Uptime / time.Second), ChecksBehind: f.Behind, Clock: &clk, LastFirmware: f.LastFirmware, NotifyFailing: f.NotifyFailing}
	if r := f.LastBundle; r != nil {
		h.LastUSB = &wire.Event{Time: r.Time, Result: r.Result,
			Detail: fmt.Sprintf("bundle v%d from %s %s", r.BundleVersion, r.Source, strings.Join(r.Reasons, "; "))}
	}
	return h
}

// wireIncident is the incident as the protocol carries it: the one
// conversion from the incident model to wire.Incident, which keeps its
// own smaller shape because the MSP side reads it and must not change
// with the box.
func wireIncident(inc incident.Incident) wire.Incident {
	out := wire.Incident{ID: inc.ID, Check: inc.Check, Device: inc.Device, Severity: string(inc.Severity), State: string(inc.State), Summary: inc.Summary,
		Opened: inc.Opened, Acked: inc.Acked, AckedBy: inc.AckedBy, Resolved: inc.Resolved, Resolution: inc.Resolution, Timeline: []wire.TimelineEntry{}}
	for _, e := range inc.Timeline {
		out.Timeline = append(out.Timeline, wire.TimelineEntry{Time: e.Time, Kind: string(e.Kind), Text: e.Text})
	}
	return out
}

// maxCapacity bounds the capacity entries a summary carries.
const maxCapacity = 500

// capacity adds the forecasts to the capacity warnings: each warning
// gets its series' forecast, and every series alarming within horizon
// (a threshold past or forecast to be crossed, or fast growth) is listed
// too, the next to fill first, at most maxCapacity in all.
func capacity(warn []wire.Capacity, fs []checks.SeriesForecast, horizon time.Duration, res Results) []wire.Capacity {
	at := map[string]int{}
	for i, c := range warn {
		at[c.Check] = i
	}
	for _, f := range fs {
		i, ok := at[f.Series.Check]
		if !ok {
			if !f.Alarming(horizon) || len(warn) >= maxCapacity {
				continue
			}
			c := wire.Capacity{Check: f.Series.Check, Device: f.Series.Device, Status: "unknown"}
			if r, ok := res.Latest(f.Series.Check); ok {
				c.Status, c.Value, c.Detail = r.Status.String(), r.Value, r.Detail
			}
			warn = append(warn, c)
			i = len(warn) - 1
			at[f.Series.Check] = i
		}
		warn[i].Forecast = wireForecast(f, horizon)
	}
	return warn
}

// wireForecast is a forecast as the protocol carries it (nil while the
// series is learning).
func wireForecast(f checks.SeriesForecast, horizon time.Duration) *wire.Forecast {
	if f.Forecast == nil {
		return nil
	}
	tr := f.Forecast.Trend
	out := &wire.Forecast{What: f.Series.What, Below: f.Series.Limits.Below, Method: tr.Method, Level: tr.Level, PerDay: tr.PerDay, Text: f.Sentence(horizon)}
	if c := f.Next(); c != nil {
		at := c.At.UTC()
		out.Crossing, out.Threshold, out.At = c.Name, c.Threshold, &at
		out.Days, out.DaysLo = c.In.Hours()/24, c.InLo.Hours()/24
		if c.Bounded {
			out.DaysHi = c.InHi.Hours() / 24
		}
	}
	if c := f.Past(); c != nil {
		out.Past = c.Name
	}
	if g := f.Growth; g != nil && g.Alarm {
		out.Growing, out.GrowthPerDay, out.BaselinePerDay = true, g.Recent, g.Baseline
	}
	return out
}

// isCapacityKind reports whether a check kind measures something
// filling up (disk, memory, storage).
func isCapacityKind(kind string) bool {
	return kind == "disk" || kind == "memory" || strings.Contains(kind, "storage") || strings.HasSuffix(kind, "_disk") || strings.HasSuffix(kind, "_memory")
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
