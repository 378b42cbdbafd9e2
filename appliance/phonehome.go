package appliance

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"outpost/appliance/config"
	"outpost/appliance/incidents"
	"outpost/appliance/phonehome"
	"outpost/checks"
	"outpost/store"
)

// slaWindow is the window the summary's SLA figures cover.
const slaWindow = 30 * 24 * time.Hour

// firmwareNote remembers the last verified firmware notice.
type firmwareNote struct {
	mu sync.Mutex
	ev *phonehome.Event
}

// startPhoneHome runs phone home while the config in force has a URL,
// and restarts it when the phonehome settings change (SIGHUP, a UI edit,
// a provisioning bundle from a stick or from a phone-home reply): a box
// provisioned by stick phones home without a restart. The outbox is in
// the store, so a restart loses nothing queued.
func (a *Appliance) startPhoneHome(ctx context.Context, bg *sync.WaitGroup) {
	changed := make(chan struct{}, 1)
	a.mu.Lock()
	a.phoneChanged = changed
	a.mu.Unlock()
	bg.Go(func() { a.supervisePhoneHome(ctx, changed) })
}

func (a *Appliance) supervisePhoneHome(ctx context.Context, changed <-chan struct{}) {
	var (
		running config.PhoneHome
		stop    context.CancelFunc
		done    chan struct{}
	)
	halt := func() {
		if stop != nil {
			stop()
			<-done
			stop = nil
		}
		a.mu.Lock()
		a.phone, a.phoneErr = nil, nil
		a.mu.Unlock()
	}
	start := func(cfg config.PhoneHome) {
		running = cfg
		if !cfg.Enabled() {
			return
		}
		p, err := a.newPhone(cfg)
		if err != nil {
			a.log.Error("phone home not started", "err", err)
			a.mu.Lock()
			a.phoneErr = err
			a.mu.Unlock()
			return
		}
		pctx, cancel := context.WithCancel(ctx)
		stop, done = cancel, make(chan struct{})
		a.mu.Lock()
		a.phone = p
		a.mu.Unlock()
		a.log.Info("phoning home", "url", cfg.URL, "interval", cfg.Interval, "box", a.id.ID())
		go func() { p.Run(pctx); close(done) }()
	}
	start(a.Config().PhoneHome)
	for {
		select {
		case <-ctx.Done():
			if stop != nil {
				<-done
			}
			return
		case <-changed:
			next := a.Config().PhoneHome
			// Unchanged and running (or off): nothing to do. A phone home
			// that failed to start (a CA file missing) is tried again.
			if next.Same(running) && (stop != nil || !next.Enabled()) {
				continue
			}
			a.log.Info("phone home settings changed", "url", next.URL, "was", running.URL)
			halt()
			start(next)
		}
	}
}

// phoneConfigChanged tells phone home that a new config is in force.
func (a *Appliance) phoneConfigChanged() {
	a.mu.RLock()
	ch := a.phoneChanged
	a.mu.RUnlock()
	if ch != nil {
		select {
		case ch <- struct{}{}:
		default: // one is pending; it reads the config in force
		}
	}
}

func (a *Appliance) newPhone(cfg config.PhoneHome) (*phonehome.Phone, error) {
	return phonehome.New(phonehome.Options{URL: cfg.URL, CAFile: cfg.CAFile, Interval: cfg.Interval, Quota: int64(cfg.Quota), BackoffMax: cfg.BackoffMax,
		Store: a.store, Signer: a.id, Bundles: a.prov, Build: a.buildSummary, Clock: a.o.Clock, Log: a.log,
		OnFirmware: func(n phonehome.FirmwareNotice) {
			a.log.Warn("firmware update available (notice signed by the MSP)", "version", n.Version, "url", n.URL, "sha256", n.SHA256)
			a.firmware.mu.Lock()
			a.firmware.ev = &phonehome.Event{Time: a.o.Clock.Now().UTC(), Result: "available", Detail: "version " + n.Version + " at " + n.URL}
			a.firmware.mu.Unlock()
		}})
}

// kickPhoneHome sends a summary at once after an important change.
func (a *Appliance) kickPhoneHome(reason string) {
	a.mu.RLock()
	p := a.phone
	a.mu.RUnlock()
	if p != nil {
		p.Kick(reason)
	}
}

// buildSummary reports the site as it is now.
func (a *Appliance) buildSummary(reason string, seq uint64, m store.PhoneMeta, full bool) (phonehome.Summary, map[string]string, error) {
	now := a.o.Clock.Now().UTC()
	cfg := a.Config()
	s := phonehome.Summary{Box: phonehome.Box{ID: a.id.ID(), Version: Version, PublicKey: a.id.PublicKeyString(), Site: cfg.Site, UICertSHA256: a.certFP},
		OpenIncidents: []phonehome.Incident{}, ClosedIncidents: []phonehome.Incident{}, Capacity: []phonehome.Capacity{}}
	devices := map[string]*phonehome.Device{}
	for _, d := range cfg.Devices {
		devices[d.Name] = &phonehome.Device{Name: d.Name, Class: d.Class}
	}
	for _, c := range cfg.Checks {
		s.Health.Checks++
		if name := c.Labels.Device; name != "" { // a check of no device (the box's own clock) adds none
			dev := devices[name]
			if dev == nil {
				dev = &phonehome.Device{Name: name}
				devices[name] = dev
			}
			dev.Checks++
		}
		r, ok := a.store.Latest(c.ID)
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
			s.Capacity = append(s.Capacity, phonehome.Capacity{Check: c.ID, Device: c.Labels.Device, Status: r.Status.String(), Value: r.Value, Detail: r.Detail})
		}
	}
	for _, ag := range cfg.Agents {
		name := ag.Device
		if name == "" {
			name = ag.Name
		}
		if w, ok := a.agentInventory(ag.Name); ok && devices[name] != nil {
			devices[name].Facts = map[string]string{"os": strings.TrimSpace(w.OS.Name + " " + w.OS.Version + " " + w.OS.Build), "cpu": w.CPU,
				"ram": checks.Bytes(w.RAM).String(), "serial": w.Serial, "apps": fmt.Sprint(len(w.Apps))}
		}
	}
	inv := map[string]string{}
	names := make([]string, 0, len(devices))
	for n := range devices {
		names = append(names, n)
	}
	sort.Strings(names)
	s.Inventory = phonehome.Inventory{New: []phonehome.Device{}, Gone: []string{}, Changed: []phonehome.Device{}}
	for _, n := range names {
		d := *devices[n]
		b, _ := json.Marshal(d)
		sum := sha256.Sum256(b)
		inv[n] = hex.EncodeToString(sum[:8])
		switch old, ok := m.Inventory[n]; {
		case !ok:
			s.Inventory.New = append(s.Inventory.New, d)
		case old != inv[n]:
			s.Inventory.Changed = append(s.Inventory.Changed, d)
		}
		if full {
			s.Inventory.Full = append(s.Inventory.Full, d)
		}
	}
	for n := range m.Inventory {
		if _, ok := inv[n]; !ok {
			s.Inventory.Gone = append(s.Inventory.Gone, n)
		}
	}
	sort.Strings(s.Inventory.Gone)

	built, _ := time.Parse(time.RFC3339Nano, m.Built)
	if built.After(now) {
		// The clock stepped back since the last summary (a wrong future
		// date corrected): incidents resolved since carry times before
		// it. Report the last day's closures again rather than none;
		// hq recognises a repeated incident by its id.
		built = now.Add(-24 * time.Hour)
	}
	list, err := a.inc.List(false, 5000)
	if err != nil {
		return s, nil, err
	}
	from := now.Add(-slaWindow)
	var down, ackSum, resSum time.Duration
	var acks, ress int
	// The SLA is the client's: the box's own checks (its clock) count in
	// neither the uptime nor the response times.
	builtin, siteChecks := map[string]bool{}, 0
	for _, c := range cfg.Checks {
		if c.Builtin {
			builtin[c.ID] = true
		} else {
			siteChecks++
		}
	}
	for _, inc := range list {
		if inc.Resolved == nil {
			s.OpenIncidents = append(s.OpenIncidents, summaryIncident(inc))
		} else if inc.Resolved.After(built) {
			s.ClosedIncidents = append(s.ClosedIncidents, summaryIncident(inc))
		}
		end := now
		if inc.Resolved != nil {
			end = *inc.Resolved
		}
		if end.Before(from) || builtin[inc.Check] {
			continue
		}
		s.SLA.Incidents++
		down += end.Sub(maxTime(inc.Opened, from))
		if inc.Acked != nil {
			ackSum += inc.Acked.Sub(inc.Opened)
			acks++
		}
		if inc.Resolved != nil {
			resSum += inc.Resolved.Sub(inc.Opened)
			ress++
		}
	}
	s.SLA.From, s.SLA.To, s.SLA.UptimePercent = from, now, 100
	if n := siteChecks; n > 0 {
		s.SLA.UptimePercent = 100 * (1 - down.Seconds()/(float64(n)*slaWindow.Seconds()))
	}
	s.SLA.Acknowledged, s.SLA.Resolved = acks, ress
	if acks > 0 {
		s.SLA.MeanTimeToAck = (ackSum / time.Duration(acks)).Seconds()
	}
	if ress > 0 {
		s.SLA.MeanTimeToResolve = (resSum / time.Duration(ress)).Seconds()
	}

	n, _, _ := a.store.PhoneDepth()
	s.BoxHealth = phonehome.BoxHealth{StoreBytes: a.store.Stats().FileSize, OutboxDepth: n,
		LatenessP99Ms: float64(a.sched.Stats().Lateness.Quantile(0.99)) / 1e6, UptimeSeconds: int64(a.uptime() / time.Second)}
	clk := a.ClockState()
	s.BoxHealth.Clock = &clk
	if st, err := a.prov.State(); err == nil && st.Last != nil {
		s.BoxHealth.LastUSB = &phonehome.Event{Time: st.Last.Time, Result: st.Last.Result,
			Detail: fmt.Sprintf("bundle v%d from %s %s", st.Last.BundleVersion, st.Last.Source, strings.Join(st.Last.Reasons, "; "))}
	}
	a.firmware.mu.Lock()
	s.BoxHealth.LastFirmware = a.firmware.ev
	a.firmware.mu.Unlock()
	return s, inv, nil
}

func summaryIncident(inc incidents.Incident) phonehome.Incident {
	out := phonehome.Incident{ID: inc.ID, Check: inc.Check, Device: inc.Device, Severity: inc.Severity, State: string(inc.State), Summary: inc.Summary,
		Opened: inc.Opened, Acked: inc.Acked, AckedBy: inc.AckedBy, Resolved: inc.Resolved, Resolution: inc.Resolution, Timeline: []phonehome.TimelineEntry{}}
	for _, e := range inc.Timeline {
		out.Timeline = append(out.Timeline, phonehome.TimelineEntry{Time: e.Time, Kind: string(e.Kind), Text: e.Text})
	}
	return out
}

func isCapacityKind(kind string) bool {
	return kind == "disk" || kind == "memory" || strings.Contains(kind, "storage") || strings.HasSuffix(kind, "_disk") || strings.HasSuffix(kind, "_memory")
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// phoneRoutes serves `outpost phonehome status`.
func (a *Appliance) phoneRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /phonehome", func(w http.ResponseWriter, r *http.Request) {
		a.mu.RLock()
		p, perr := a.phone, a.phoneErr
		a.mu.RUnlock()
		if perr != nil {
			writeError(w, http.StatusServiceUnavailable, fmt.Errorf("phone home not started: %w", perr))
			return
		}
		if p == nil {
			writeError(w, http.StatusNotFound, fmt.Errorf("phone home is off: set phonehome.url in the site config"))
			return
		}
		writeJSON(w, http.StatusOK, p.Status())
	})
}
