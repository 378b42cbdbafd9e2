package appliance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"outpost/appliance/config"
	"outpost/appliance/incidents"
	"outpost/appliance/scheduler"
	"outpost/checks"
	"outpost/checks/agent"
	"outpost/checks/agent/wire"
	"outpost/checks/snmp"
	"outpost/healing"
	"outpost/notify"
	"outpost/store"
	"outpost/ui"
)

// uiBackend adapts the daemon to the UI's narrow interfaces, one per page;
// the daemon passes it for each. Errors whose cause is the user's are
// *ui.Error (or *ui.FormError); any other error is internal, logged by the
// UI and not shown.
type uiBackend struct{ a *Appliance }

var (
	_ ui.SiteBackend      = uiBackend{}
	_ ui.DashboardBackend = uiBackend{}
	_ ui.ScheduleBackend  = uiBackend{}
	_ ui.ChecksBackend    = uiBackend{}
	_ ui.CheckEditBackend = uiBackend{}
	_ ui.DevicesBackend   = uiBackend{}
	_ ui.IncidentsBackend = uiBackend{}
	_ ui.NotifyBackend    = uiBackend{}
	_ ui.SectionsBackend  = uiBackend{}
	_ ui.SettingsBackend  = uiBackend{}
	_ ui.Users            = uiUsers{}
)

func (b uiBackend) SiteName() string { return b.a.Config().Site }

func (b uiBackend) CheckStates() []ui.CheckState {
	cs := b.a.Checks()
	out := make([]ui.CheckState, len(cs))
	for i, c := range cs {
		out[i] = ui.CheckState{ID: c.ID, Kind: c.Kind, Target: c.Target, Labels: c.Labels, Interval: c.Interval, Latest: c.Latest, Since: c.Since}
	}
	return out
}

func (b uiBackend) History(id string, from, to time.Time) ([]checks.Result, error) {
	return b.a.store.Results(id, from, to)
}

func (b uiBackend) Changes(id string, from, to time.Time) ([]ui.Change, error) {
	cs, err := b.a.store.Changes(id, from, to)
	out := make([]ui.Change, len(cs))
	for i, c := range cs {
		out[i] = ui.Change{Time: c.Time, From: c.From, To: c.To, Detail: c.Detail}
	}
	return out, err
}

func (b uiBackend) Rollups(id string, step time.Duration, from, to time.Time) ([]ui.Point, error) {
	res := store.Res5m
	if step >= time.Hour {
		res = store.Res1h
	}
	rs, err := b.a.store.Rollups(id, res, from, to)
	out := make([]ui.Point, len(rs))
	for i, r := range rs {
		out[i] = ui.Point{Time: r.Start, Value: r.ValueMean, HasValue: r.HasValue, Latency: r.LatencyMean, Count: int(r.Count), Failures: int(r.Failures)}
	}
	return out, err
}

func (b uiBackend) RunNow(ctx context.Context, id string) (checks.Result, error) {
	r, err := b.a.sched.RunNow(ctx, id)
	if errors.Is(err, scheduler.ErrUnknownCheck) {
		return r, ui.Errorf(ui.ENOTFOUND, "no check %q", id)
	}
	return r, err
}

func (b uiBackend) About() ui.About {
	b.a.mu.RLock()
	cv := b.a.cfgVer
	b.a.mu.RUnlock()
	return ui.About{Version: Version, CertFingerprint: b.a.certFP, StoreSize: b.a.store.Stats().FileSize, ConfigVersion: cv.Version, ConfigApplied: cv.Applied, ConfigSource: cv.Source,
		BoxID: b.a.id.ID(), BoxKey: b.a.id.PublicKeyString(), Provisioning: b.a.provisioningView(), Firmware: b.a.firmwareView()}
}

// uiUsers stores UI accounts and sessions in bbolt.
type uiUsers struct{ s *store.Store }

func (u uiUsers) CountUsers() (int, error) { return u.s.CountUsers() }
func (u uiUsers) CreateFirstAdmin(x ui.User) (bool, error) {
	return u.s.CreateFirstAdmin(userRec(x))
}
func (u uiUsers) PutUser(x ui.User) error { return u.s.PutUser(userRec(x)) }
func (u uiUsers) GetUser(name string) (ui.User, bool, error) {
	r, ok, err := u.s.GetUser(name)
	return ui.User{Name: r.Name, Role: ui.Role(r.Role), Hash: r.Hash, Created: r.Created}, ok, err
}
func (u uiUsers) ListUsers() ([]ui.User, error) {
	rs, err := u.s.ListUsers()
	out := make([]ui.User, len(rs))
	for i, r := range rs {
		out[i] = ui.User{Name: r.Name, Role: ui.Role(r.Role), Hash: r.Hash, Created: r.Created}
	}
	return out, err
}
func (u uiUsers) DeleteUser(name string) error { return u.s.DeleteUser(name) }
func (u uiUsers) PutSession(x ui.Session) error {
	return u.s.PutSession(store.SessionRecord{ID: x.ID, User: x.User, Role: string(x.Role), CSRF: x.CSRF, Created: x.Created, Expires: x.Expires})
}
func (u uiUsers) GetSession(id string) (ui.Session, bool, error) {
	r, ok, err := u.s.GetSession(id)
	return ui.Session{ID: r.ID, User: r.User, Role: ui.Role(r.Role), CSRF: r.CSRF, Created: r.Created, Expires: r.Expires}, ok, err
}
func (u uiUsers) DeleteSession(id string) error        { return u.s.DeleteSession(id) }
func (u uiUsers) DeleteUserSessions(user string) error { return u.s.DeleteUserSessions(user) }

func userRec(x ui.User) store.UserRecord {
	return store.UserRecord{Name: x.Name, Role: string(x.Role), Hash: x.Hash, Created: x.Created}
}

func (b uiBackend) Incidents(open bool, limit int) ([]incidents.Incident, error) {
	return b.a.inc.List(open, limit)
}

func (b uiBackend) Incident(id uint64) (incidents.Incident, error) {
	inc, err := b.a.inc.Get(id)
	if errors.Is(err, incidents.ErrNotFound) {
		return incidents.Incident{}, ui.Errorf(ui.ENOTFOUND, "no incident %d", id)
	}
	if err != nil {
		return incidents.Incident{}, fmt.Errorf("reading incident %d: %w", id, err)
	}
	return inc, nil
}

func (b uiBackend) Act(id uint64, verb, user, note string) error {
	// Reading the incident first sorts out an unknown id and a store
	// fault; what the action then refuses is the incident's state
	// (already acknowledged, already resolved), as the engine's own API
	// answers it (409).
	if _, err := b.Incident(id); err != nil {
		return err
	}
	var err error
	switch verb {
	case "ack":
		_, err = b.a.inc.Acknowledge(id, user, note)
	case "note":
		_, err = b.a.inc.AddNote(id, user, note)
	case "resolve":
		_, err = b.a.inc.Resolve(id, user, note)
	default:
		return ui.Errorf(ui.EBADREQUEST, "unknown action %q", verb)
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, incidents.ErrNotFound):
		return ui.Errorf(ui.ENOTFOUND, "no incident %d", id)
	}
	return ui.Errorf(ui.ECONFLICT, "%s", err)
}

func (b uiBackend) Remediations(check string) []string {
	cfg := b.a.Config()
	for i := range cfg.Checks {
		if cfg.Checks[i].ID == check {
			acts, err := healing.ConfigOf(cfg).Actions(cfg.Specs()[i], checks.Deps{})
			if err != nil {
				return nil
			}
			out := make([]string, len(acts))
			for j, a := range acts {
				out[j] = a.Describe()
			}
			return out
		}
	}
	return nil
}

func (b uiBackend) Heal(ctx context.Context, check string, index int, user string) (string, error) {
	entries, err := b.a.inc.Heal(ctx, check, index, user)
	switch {
	case errors.Is(err, incidents.ErrNoCheck):
		return "", ui.Errorf(ui.ENOTFOUND, "check %q is no longer configured", check)
	case err != nil:
		// The engine's other refusals: the check has no such remediation
		// (any more).
		return "", ui.Errorf(ui.ECONFLICT, "%s", err)
	}
	var sb strings.Builder
	for _, e := range entries {
		res := "ok"
		if !e.OK {
			res = "failed: " + e.Error
		}
		fmt.Fprintf(&sb, "%s: %s\n%s", e.Action, res, e.Output)
	}
	return sb.String(), nil
}

func (b uiBackend) Kinds() []string { return checks.KindNames() }

func (b uiBackend) CheckForm(id string) (ui.CheckForm, bool) {
	e, ok := b.a.CheckForm(id)
	return ui.CheckForm(e), ok
}

func (b uiBackend) SaveCheck(orig string, f ui.CheckForm, user string) error {
	if orig != "" {
		if _, ok := b.a.CheckForm(orig); !ok {
			return ui.Errorf(ui.ENOTFOUND, "no check %q in the config", orig)
		}
	}
	return formError(b.a.EditCheck(orig, CheckEdit(f), user))
}

func (b uiBackend) DeleteCheck(id, user string) error {
	if _, ok := b.a.CheckForm(id); !ok {
		return ui.Errorf(ui.ENOTFOUND, "no check %q in the config", id)
	}
	err := formError(b.a.DeleteCheck(id, user))
	// The rest of the config refers to the check (a dependency, a
	// maintenance window): the deletion conflicts with it.
	var fe *ui.FormError
	if errors.As(err, &fe) {
		return ui.Errorf(ui.ECONFLICT, "%s", fe)
	}
	return err
}

func (b uiBackend) ConfigYAML() []byte { return b.a.ConfigYAML() }

// formError turns config validation errors into the form's problem list:
// the same field paths and messages as in a config file, without the
// line numbers of a file the technician never saw.
func formError(err error) error {
	if err == nil || !errors.Is(err, ErrConfigInvalid) {
		return err
	}
	var es config.Errors
	if errors.As(err, &es) {
		fe := &ui.FormError{}
		for _, e := range es {
			if e.Field != "" {
				fe.Problems = append(fe.Problems, e.Field+": "+e.Msg)
			} else {
				fe.Problems = append(fe.Problems, e.Msg)
			}
		}
		return fe
	}
	var e *config.Error
	if errors.As(err, &e) {
		return &ui.FormError{Problems: []string{e.Msg}}
	}
	return &ui.FormError{Problems: []string{strings.TrimPrefix(err.Error(), ErrConfigInvalid.Error()+": ")}}
}

func (b uiBackend) Notifications() ui.NotifyView {
	cfg := b.a.Config()
	var v ui.NotifyView
	v.Channels = channelViews(notify.ConfigOf(cfg))
	for _, p := range notify.ConfigOf(cfg).Policies {
		d := p.Describe()
		pv := ui.PolicyView{Name: p.Name, Matches: d.Matches, Repeat: d.Repeat, Steps: d.Steps}
		v.Policies = append(v.Policies, pv)
	}
	now := b.a.o.Clock.Now()
	for _, oc := range notify.ConfigOf(cfg).OnCalls() {
		v.OnCall = append(v.OnCall, ui.NamedKind{Name: oc.Name, Kind: oc.Who(now)})
	}
	for _, m := range cfg.Maintenance {
		scope := "the whole site"
		switch {
		case m.Check != "":
			scope = "check " + m.Check
		case m.Device != "":
			scope = "device " + m.Device
		case m.Group != "":
			scope = "group " + m.Group
		}
		when := m.Start + " to " + m.End
		if m.Weekly != nil {
			when = fmt.Sprintf("every %s at %s for %s", strings.Join(m.Weekly.Days, ", "), m.Weekly.At, m.Weekly.Duration)
		}
		v.Maintenance = append(v.Maintenance, fmt.Sprintf("%s: %s, %s", m.Name, scope, when))
	}
	b.a.store.NotifyLogList(func(doc []byte) bool {
		var e notify.LogEntry
		if json.Unmarshal(doc, &e) == nil {
			res := "sent"
			switch {
			case !e.OK && e.Final:
				res = "failed (gave up)"
			case !e.OK:
				res = "failed, will retry"
			}
			v.Log = append(v.Log, ui.LogLine{Time: e.Time, Channel: e.Channel, Kind: e.Kind, Result: res, Answer: e.Answer, Incident: e.Incident})
		}
		return len(v.Log) < 30
	})
	return v
}

func (b uiBackend) SendTest(ctx context.Context, channel string) (string, error) {
	chs, err := notify.ConfigOf(b.a.Config()).Build()
	if err != nil {
		return "", fmt.Errorf("building the notification channels: %w", err)
	}
	ch, ok := chs[channel]
	if !ok {
		return "", ui.Errorf(ui.ENOTFOUND, "no channel %q", channel)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ans, err := notify.Test(ctx, ch, b.a.Config().Site, b.a.o.Clock.Now())
	if err != nil {
		// What the other end answered (or that it did not) is what the
		// admin testing the channel needs to see.
		return "", ui.Errorf(ui.EUPSTREAM, "%s", err)
	}
	return ans, nil
}

func (b uiBackend) Section(name string) (string, bool) {
	if !config.IsEditableSection(name) {
		return "", false
	}
	return b.a.SectionYAML(name), true
}

func (b uiBackend) SaveSection(name, text, user string) error {
	if !config.IsEditableSection(name) {
		return ui.Errorf(ui.ENOTFOUND, "no editable section %s", name)
	}
	return formError(b.a.EditSection(name, text, user))
}

// Agents returns the configured agents that serve a device (named by the
// agent or by its device), with their pairing and latest inventory.
func (b uiBackend) Agents(device string) []ui.AgentView {
	var out []ui.AgentView
	for _, ac := range b.a.Config().Agents {
		if ac.Name != device && ac.Device != device {
			continue
		}
		v := ui.AgentView{Name: ac.Name}
		if rec, ok, err := b.a.store.GetAgent(ac.Name); err == nil && ok && !rec.Revoked() {
			v.Paired, v.Hostname, v.OS, v.Address, v.PairedAt, v.LastSeen = true, rec.Hostname, rec.OS, rec.Address, rec.PairedAt, rec.LastSeen
		}
		if w, ok := b.a.agentInventory(ac.Name); ok {
			v.Inventory = inventoryView(w)
		}
		out = append(out, v)
	}
	return out
}

// agentInventory is an agent's latest inventory as the agent sent it;
// ok is false when none was collected (or it cannot be read, logged).
func (a *Appliance) agentInventory(name string) (wire.Inventory, bool) {
	var w wire.Inventory
	inv, ok, err := a.store.GetAgentInventory(name)
	if err != nil || !ok {
		return w, false
	}
	if err := json.Unmarshal(inv.Data, &w); err != nil {
		a.log.Error("stored agent inventory unreadable", "agent", name, "err", err)
		return w, false
	}
	return w, true
}

// inventoryView is the device page's view of an agent's inventory.
func inventoryView(w wire.Inventory) *ui.InventoryView {
	v := &ui.InventoryView{Collected: w.Collected, OS: agent.OSName(w), CPU: w.CPU, Cores: w.Cores,
		RAMBytes: w.RAM, Serial: w.Serial, BootTime: w.BootTime, Problems: w.Problems}
	v.Patches, v.PendingPatches = agent.PatchCounts(w)
	for _, app := range w.Apps {
		v.Apps = append(v.Apps, ui.InventoryApp{Name: app.Name, Version: app.Version})
	}
	return v
}

// PhoneHome is phone home's state for the settings page and the
// dashboard: the running sender's status, or (configured but not
// running) why not, with what the outbox holds.
func (b uiBackend) PhoneHome() ui.PhoneHomeView {
	cfg := b.a.Config().PhoneHome
	v := ui.PhoneHomeView{Enabled: cfg.Enabled(), Receiver: receiverOf(cfg.URL)}
	if !v.Enabled {
		return v
	}
	b.a.mu.RLock()
	p, perr := b.a.phone, b.a.phoneErr
	b.a.mu.RUnlock()
	if p == nil {
		// Starting (the supervisor has not built it yet), or it could
		// not start: only the latter is a problem.
		if perr != nil {
			v.NotRunning = perr.Error()
		}
		n, bytes, _ := b.a.store.PhoneDepth()
		v.Queued, v.QueuedBytes = n, bytes
		return v
	}
	st := p.Status()
	v.Receiver = receiverOf(st.URL)
	v.LastSuccess, v.LastAck, v.Queued, v.QueuedBytes, v.Lost = st.LastSuccess, st.LastAck, st.Depth, st.Bytes, st.Lost
	v.LastError, v.LastErrorAt, v.Failures, v.NextAttempt = st.LastError, st.LastErrorAt, st.Failures, st.NextAttempt
	return v
}

// ChecksBehind is how many checks miss their schedule, for the
// dashboard's warning (as /healthz and phone home report it).
func (b uiBackend) ChecksBehind() int { return b.a.sched.Stats().Behind }

// receiverOf is a phone-home URL as the UI shows it: scheme, host and
// path, without user info or query.
func receiverOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return raw
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}

// channelViews are the configured channels with whom each reaches,
// masked: what notify's Recipienter says (a host, addresses, numbers:
// never a secret), an SMS number cut to its last digits and an ntfy
// recipient to its host (a topic is as good as a password on a public
// server).
func channelViews(nc *notify.Config) []ui.ChannelView {
	var out []ui.ChannelView
	for _, c := range nc.Channels {
		v := ui.ChannelView{Name: c.Name, Kind: c.Kind}
		opts := c.Options
		if opts == nil {
			opts = checks.NoOptions{}
		}
		ch, err := notify.Build(c.Kind, opts)
		if err != nil {
			v.Problem = "not usable: " + err.Error()
		} else if r, ok := ch.(notify.Recipienter); ok {
			v.To = maskRecipient(c.Kind, r.Recipient())
		}
		out = append(out, v)
	}
	return out
}

// maskRecipient keeps of a recipient what a technician needs to tell
// channels apart and nothing that lets anyone else use them.
func maskRecipient(kind, to string) string {
	switch kind {
	case "sms":
		parts := strings.Split(to, ", ")
		for i, n := range parts {
			parts[i] = lastDigits(n, 4)
		}
		return strings.Join(parts, ", ")
	case "ntfy":
		host, _, _ := strings.Cut(to, "/")
		return host
	}
	return to
}

// lastDigits shows a phone number as its last n digits: "…0002".
func lastDigits(number string, n int) string {
	var d []rune
	for _, r := range number {
		if r >= '0' && r <= '9' {
			d = append(d, r)
		}
	}
	if len(d) > n {
		d = d[len(d)-n:]
	}
	return "…" + string(d)
}

// factsFresh is how long a device's SNMP facts are shown without asking
// it again, and factsRetry how soon a device that did not answer is
// asked again: a page refreshing every 10 s must not poll a printer.
const (
	factsFresh = 10 * time.Minute
	factsRetry = time.Minute
)

// keptFacts is a device's SNMP facts as the store keeps them (blob
// snmp-facts/<device>), so they survive a restart and a device that is
// down still shows what it said last.
type keptFacts struct {
	Read  time.Time  `json:"read"`
	Tried time.Time  `json:"tried"`
	Err   string     `json:"err,omitempty"`
	Facts snmp.Facts `json:"facts"`
}

func factsBlob(device string) string { return "snmp-facts/" + device }

// snmpFacts returns a device's facts: the kept ones while fresh, else
// read again over the daemon's SNMP poller (sharing its sessions) within
// ctx's deadline and kept; a failed read keeps the old facts with the
// reason.
func (b uiBackend) snmpFacts(ctx context.Context, dev *checks.Device) keptFacts {
	var k keptFacts
	if doc, err := b.a.store.GetBlob(factsBlob(dev.Name)); err == nil && doc != nil {
		if json.Unmarshal(doc, &k) != nil {
			k = keptFacts{}
		}
	}
	now := b.a.o.Clock.Now()
	fresh := func(t time.Time, d time.Duration) bool { return !t.IsZero() && !t.After(now) && now.Sub(t) < d }
	if fresh(k.Read, factsFresh) || fresh(k.Tried, factsRetry) {
		return k
	}
	f, err := snmp.ReadFacts(ctx, b.a.snmp.Source(dev, 0))
	k.Tried = now
	if err != nil {
		k.Err = err.Error()
	} else {
		k.Read, k.Err, k.Facts = now, "", f
	}
	if doc, err := json.Marshal(k); err == nil {
		if err := b.a.store.PutBlob(factsBlob(dev.Name), doc); err != nil {
			b.a.log.Error("keeping SNMP facts", "device", dev.Name, "err", err)
		}
	}
	return k
}

// Device is a configured device's page facts: class, address, parent and
// group from the config; vendor, model, serial, firmware and uptime as
// the device says them over SNMP.
func (b uiBackend) Device(ctx context.Context, name string) (ui.DeviceInfo, bool) {
	dev := b.a.Config().Device(name)
	if dev == nil {
		return ui.DeviceInfo{}, false
	}
	d := *dev
	v := ui.DeviceInfo{Class: d.Class, Address: d.Address, Parent: d.Parent, Group: d.Group}
	if d.SNMP != nil {
		k := b.snmpFacts(ctx, &d)
		f := k.Facts
		v.SNMP = &ui.SNMPFacts{Read: k.Read, Err: k.Err, Name: f.Name, Descr: f.Descr, ObjectID: f.ObjectID, Location: f.Location, Contact: f.Contact,
			Vendor: f.Vendor, Model: f.Model, Serial: f.Serial, Firmware: f.Firmware, Class: f.Class, Uptime: f.Uptime, BatteryTempC: f.BatteryTempC}
	}
	return v, true
}

// Glances are the printers' supplies and the UPSes' charge, runtime and
// battery temperature, from the snmp_printer and snmp_ups checks' latest
// results (as kept in the store) and the UPSes' SNMP facts, read in
// parallel within ctx's deadline.
func (b uiBackend) Glances(ctx context.Context, device string) []ui.Glance {
	cfg := b.a.Config()
	var out []ui.Glance
	var wg sync.WaitGroup
	temps := map[int]chan *float64{}
	for _, c := range b.a.Checks() {
		if (c.Kind != "snmp_printer" && c.Kind != "snmp_ups") || (device != "" && c.Labels.Device != device) {
			continue
		}
		g := ui.Glance{Check: c.ID, Device: c.Labels.Device, Kind: c.Kind, Status: "pending", Problem: "not run yet"}
		if r := c.Latest; r != nil {
			g.Status, g.Time, g.Problem = r.Status.String(), r.Time, ""
			if c.Kind == "snmp_printer" {
				g = printerGlance(g, *r)
			} else {
				g = upsGlance(g, *r)
			}
		}
		if dev := cfg.Device(c.Target); c.Kind == "snmp_ups" && dev != nil && dev.SNMP != nil && g.Problem == "" {
			ch := make(chan *float64, 1)
			temps[len(out)] = ch
			d := *dev
			wg.Add(1)
			go func() {
				defer wg.Done()
				ch <- b.snmpFacts(ctx, &d).Facts.BatteryTempC
			}()
		}
		out = append(out, g)
	}
	wg.Wait()
	for i, ch := range temps {
		if t := <-ch; t != nil {
			out[i].Facts = append(out[i].Facts, ui.Fact{Name: "Battery", Value: fmt.Sprintf("%.0f °C", *t)})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if checks.RankOf(out[i].Status) != checks.RankOf(out[j].Status) {
			return checks.RankOf(out[i].Status) > checks.RankOf(out[j].Status)
		}
		return out[i].Device < out[j].Device
	})
	return out
}

// printerGlance turns a printer check's result into a gauge per supply.
func printerGlance(g ui.Glance, r checks.Result) ui.Glance {
	lv := snmp.PrinterLevelsOf(r)
	for _, s := range lv.Supplies {
		ga := ui.Gauge{Label: s.Name, Status: s.Status, Text: s.State}
		if s.Percent != nil {
			ga.Percent, ga.Known, ga.Text = *s.Percent, true, fmt.Sprintf("%.0f %%", *s.Percent)
			if s.Waste {
				ga.Text += " free"
			}
		}
		g.Gauges = append(g.Gauges, ga)
	}
	g.Notes = lv.Notes
	if len(lv.Supplies) == 0 {
		g.Problem, g.Notes = r.Detail, nil
	}
	return g
}

// upsGlance turns a UPS check's result into its charge gauge and
// figures.
func upsGlance(g ui.Glance, r checks.Result) ui.Glance {
	u := snmp.UPSLevelsOf(r)
	if !u.Supported {
		g.Problem = r.Detail
		return g
	}
	charge := ui.Gauge{Label: "Charge", Text: "unknown", Status: g.Status}
	if u.ChargePercent != nil {
		charge.Percent, charge.Known, charge.Text = *u.ChargePercent, true, fmt.Sprintf("%.0f %%", *u.ChargePercent)
	}
	g.Gauges = []ui.Gauge{charge}
	runtime := "unknown"
	if u.Minutes != nil {
		runtime = fmt.Sprintf("%s min", strconv.FormatFloat(*u.Minutes, 'f', -1, 64))
	}
	g.Facts = append(g.Facts, ui.Fact{Name: "Runtime", Value: runtime})
	if u.OnBattery {
		g.Facts = append(g.Facts, ui.Fact{Name: "Power", Value: "ON BATTERY", Status: "warning"})
	} else if u.Output != "" {
		st := ""
		if u.Output == "none" {
			st = "critical"
		}
		g.Facts = append(g.Facts, ui.Fact{Name: "Output", Value: u.Output, Status: st})
	}
	if u.Battery != "" {
		st := ""
		switch u.Battery {
		case "low", "depleted", "fault":
			st = "critical"
		}
		g.Facts = append(g.Facts, ui.Fact{Name: "Battery state", Value: u.Battery, Status: st})
	}
	if u.Load != "" {
		g.Facts = append(g.Facts, ui.Fact{Name: "Load", Value: u.Load})
	}
	return g
}
