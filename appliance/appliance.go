// Package appliance wires Outpost together: config, store, scheduler,
// checks and the status and control endpoints. New builds a daemon, Run
// runs it until its context ends, Close releases it; an end-to-end test
// runs the whole daemon in-process this way.
package appliance

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"outpost/appliance/config"
	"outpost/appliance/incidents"
	_ "outpost/appliance/kinds" // every check kind, channel, action and section
	"outpost/appliance/phonehome"
	phwire "outpost/appliance/phonehome/wire"
	"outpost/appliance/scheduler"
	"outpost/checks"
	"outpost/checks/agent"
	"outpost/checks/agent/wire"
	"outpost/checks/clock"
	"outpost/checks/snmp"
	"outpost/firmware/identity"
	"outpost/firmware/provision"
	"outpost/healing"
	"outpost/notify"
	"outpost/store"
	"outpost/ui"
)

// Build information, set by the Makefile with -ldflags -X.
var (
	Version   = "dev"
	Commit    = "unknown"
	BuildDate = "unknown"
)

// Options configure a daemon.
type Options struct {
	// ConfigPath is the site config file; "" runs the embedded default.
	ConfigPath string
	// DataDir holds outpost.db and the control socket.
	DataDir string
	// Listen overrides the config's status address (tests use
	// "127.0.0.1:0").
	Listen string
	// UIListen overrides the config's UI address.
	UIListen string
	Clock    clock.Clock
	Log      *slog.Logger
	// StoreKey is the file holding the key that seals secret blobs
	// (StoreKeyPath says the default).
	StoreKey string

	// TrustFirstStick allows trust on first use in factory state;
	// BootMSPKeyFiles are the boot partition's MSP key files (nil: the
	// default places). See newProvisioner.
	TrustFirstStick bool
	BootMSPKeyFiles []string
}

// StoreKeyPath is where the store key is read: path when given, else the
// systemd credential outpost-store-key when the service has one
// (LoadCredential=), else DATA/keys/store.key (made on first start, mode
// 0600). Keep it off the SD card's data partition for a box whose card
// may be taken: a copied outpost.db without it yields no secret.
func StoreKeyPath(dataDir, path string) string {
	if path != "" {
		return path
	}
	if dir := os.Getenv("CREDENTIALS_DIRECTORY"); dir != "" {
		if p := filepath.Join(dir, "outpost-store-key"); fileExists(p) {
			return p
		}
	}
	return filepath.Join(dataDir, "keys", "store.key")
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// ResultHook is told about every check result.
type ResultHook func(checks.Spec, checks.Result)

// Appliance is one running Outpost daemon.
type Appliance struct {
	o      Options
	log    *slog.Logger
	store  *store.Store
	sched  *scheduler.Scheduler
	inc    *incidents.Engine
	notify *notify.Engine
	agents *agent.Client
	snmp   *snmp.Poller
	// deps are the runtime services every check and remediation is
	// built with.
	deps     checks.Deps
	id       *identity.Identity
	prov     *provision.Provisioner
	phone    *phonehome.Phone
	firmware firmwareNote
	logs     logsWiring      // the syslog receiver and the logs API (syslog.go)
	journal  journalWiring   // the box's journal follower (journal.go)
	disc     discoveryWiring // scan now, the sweep in progress (inventory.go)
	fw       *firmwareWiring // self-update: boot counter, health window (firmware.go)
	ackKey   []byte

	// phoneErr is why the configured phone home did not start;
	// phoneChanged is told when a new config is in force.
	phoneErr     error
	phoneChanged chan struct{}

	mu     sync.RWMutex
	cfg    *config.Config
	cfgVer store.ConfigVersion
	hooks  []ResultHook
	routes []func(*http.ServeMux)

	status  net.Listener
	control net.Listener
	uiLn    net.Listener
	uiTLS   bool
	// uiPlace and statusPlace are where the listeners are; uiMoved and
	// statusMoved tell their services to look again (listeners.go).
	uiPlace, statusPlace place
	uiMoved, statusMoved chan struct{}
	// trapsMoved tells runTraps that traps.listen changed.
	trapsMoved chan struct{}
	certFP     string
	cert       tls.Certificate
	started    time.Time
	// startedMono is when Run started on the monotonic clock: uptime must
	// not jump when NTP steps the wall clock.
	startedMono time.Duration
	// traps is the running trap receiver (nil: none), bound to
	// trapsListen; guarded by mu.
	traps       *snmp.TrapReceiver
	trapsListen string
	counters    sync.Map // kind -> *kindCounters
	running     atomic.Bool
	forecasts   forecastCache // capacity forecasts (forecasts.go)
	editMu      sync.Mutex
}

type kindCounters struct {
	runs, failures atomic.Uint64
}

// New loads the config, opens the store and prepares every check; nothing
// runs until Run.
func New(o Options) (*Appliance, error) {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.DataDir == "" {
		o.DataDir = "./data"
	}
	fw, err := firmwareBoot(o) // first: a new version failing anywhere below is counted (firmware.go)
	if err != nil {
		return nil, err
	}
	cfg, err := loadConfig(o.ConfigPath)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("creating data dir: %w", err)
	}
	if err := protectDataDir(o.DataDir, o.Log); err != nil {
		return nil, err
	}
	st, err := store.Open(filepath.Join(o.DataDir, "outpost.db"), store.Options{
		Clock:             o.Clock,
		RawRetention:      cfg.Store.RawRetention,
		Rollup5mRetention: cfg.Store.Rollup5mRetention,
		Rollup1hRetention: cfg.Store.Rollup1hRetention,
		Log:               o.Log,
	})
	if err != nil {
		return nil, err
	}
	a := &Appliance{o: o, log: o.Log, store: st, uiMoved: make(chan struct{}, 1), statusMoved: make(chan struct{}, 1), trapsMoved: make(chan struct{}, 1)}
	// Secret blobs (the box's keys, agent pairing keys, the config seed)
	// are sealed with a key kept outside outpost.db, so a copied store
	// file alone yields none of them (docs/security.md).
	key, err := store.LoadKeyFile(StoreKeyPath(o.DataDir, o.StoreKey))
	if err == nil {
		err = st.SetBlobKey(key)
	}
	if err != nil {
		st.Close()
		return nil, err
	}
	// The box's identity seals config versions at rest (they hold SNMP
	// communities and passwords), so it is loaded before any is read.
	if a.id, err = identity.Load(st); err != nil {
		st.Close()
		return nil, fmt.Errorf("box identity: %w", err)
	}
	st.SetSealer(a.id)
	if a.cert, a.certFP, err = boxCertificate(st); err != nil {
		st.Close()
		return nil, fmt.Errorf("box certificate: %w", err)
	}
	// The agent client pairs on the UI's HTTPS endpoint, so pairing
	// proofs are bound to the box certificate's fingerprint.
	if a.agents, err = agent.New(agent.Options{Store: st, Site: cfg.Site, Clock: o.Clock, Log: o.Log, PairTLSFingerprint: wire.Fingerprint(a.cert.Certificate[0])}); err != nil {
		st.Close()
		return nil, fmt.Errorf("agent mode: %w", err)
	}
	a.snmp = snmp.NewPoller(o.Clock)
	a.deps = checks.Deps{Clock: o.Clock, Log: o.Log, SNMP: a.snmp, Agents: a.agents, Store: storeHealth{st}, Backups: st}
	a.wireReport()    // forecast checks read the store's rollups; GET /report (report.go)
	a.wireLogs()      // log_match checks read the store's events; the logs API (syslog.go)
	a.wireInventory() // scan now and technicians' decisions; the inventory API (inventory.go)
	runner := healing.NewRunner(o.Clock, auditor{st})
	runner.SetAgents(a.agents)
	a.sched = scheduler.New(scheduler.Options{
		Clock:       o.Clock,
		Concurrency: cfg.Scheduler.Concurrency,
		OnResult:    a.onResult,
		Log:         o.Log,
	})
	a.inc = incidents.New(incidents.Options{
		Store:    st,
		Clock:    o.Clock,
		Runner:   runner,
		Recheck:  a.sched.RunNow,
		Log:      o.Log,
		Deps:     a.deps,
		OnChange: func(inc incidents.Incident, ev incidents.Event) { a.onIncident(inc, ev) },
	})
	if a.ackKey, err = ackSecret(st); err != nil {
		st.Close()
		return nil, err
	}
	if a.notify, err = notify.New(notify.Options{
		Outbox: notify.NewOutbox(st), Clock: o.Clock, Log: o.Log, AckURL: a.ackURL,
		Sent: func(id uint64, text string) { a.inc.Notified(id, text) },
	}); err != nil {
		st.Close()
		return nil, err
	}
	a.hooks = append(a.hooks, a.inc.Observe)
	a.prov = a.newProvisioner()
	a.wireFirmware(fw)
	a.routes = append(a.routes, a.inc.Routes, a.auditRoutes, a.agents.Routes, a.provisionRoutes, a.phoneRoutes)
	if err := a.applyStartup(cfg); err != nil {
		st.Close()
		return nil, err
	}
	// After the startup config is recorded: whether the box is still in
	// factory state depends on it.
	a.prov.LoadTrust()
	// Both engines are loaded and the policies configured: settle what a
	// crash between their commits left out of step.
	if err := a.reconcileNotify(); err != nil {
		a.log.Error("notifications not reconciled with incidents at start", "err", err)
	}
	return a, nil
}

// storeHealth is the store as the built-in store check reads it.
type storeHealth struct{ s *store.Store }

func (h storeHealth) StoreState() checks.StoreState {
	st := h.s.Stats()
	return checks.StoreState{Path: h.s.DB().Path(), Err: st.LastError, Full: st.Full, Pending: st.Pending, Dropped: st.Dropped, SinceCommit: st.SinceCommit}
}

// seedBlob remembers the file config last applied from disk. While the
// file stays the same, changes made in the web UI (or by a provisioning
// bundle) stay in force across restarts; a changed file wins. The
// embedded default never replaces such changes.
const seedBlob = "config-file-seed"

func (a *Appliance) applyStartup(fileCfg *config.Config) error {
	cur, ok, err := a.store.CurrentConfig()
	if err != nil {
		// An unreadable stored config must not keep the box down: the
		// file (or the embedded default) runs, and the error is logged.
		a.log.Error("stored config unreadable; using the file", "err", err)
		ok = false
	}
	seed, err := a.store.GetBlob(seedBlob)
	if err != nil {
		return err
	}
	var stored *config.Stored
	if ok {
		stored = &config.Stored{Raw: cur.Raw, Source: cur.Source}
	}
	run := config.StartupConfig(fileCfg, stored, seed)
	switch {
	case run.Kept:
		a.log.Info("running the config edited or provisioned since the file was applied", "version", cur.Version, "source", cur.Source)
	case run.Refused != nil:
		a.log.Error("stored config no longer validates; using the file", "version", cur.Version, "err", run.Refused)
	}
	if err := a.applySource(run.Config, run.Source); err != nil {
		return err
	}
	// The file is the seed now (when the stored version runs, a new
	// embedded default too), so SIGHUP keeps what runs.
	return a.store.PutBlob(seedBlob, fileCfg.Raw)
}

func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		return config.Default()
	}
	return config.Load(path)
}

// apply applies a config read from its file (or the embedded default).
func (a *Appliance) apply(cfg *config.Config) error {
	if err := a.applySource(cfg, config.Source(cfg)); err != nil {
		return err
	}
	return a.store.PutBlob(seedBlob, cfg.Raw)
}

// applySource builds the checkers of cfg, records cfg in the store as a
// new version when it changed, and swaps it in.
func (a *Appliance) applySource(cfg *config.Config, source string) error {
	jobs, err := BuildJobs(cfg, a.deps)
	if err != nil {
		return err
	}
	if err := a.inc.Configure(cfg); err != nil {
		return err
	}
	nc := notify.ConfigOf(cfg)
	channels, err := nc.Build()
	if err != nil {
		return err
	}
	a.notify.Configure(channels, nc.Policies, nc.People, nc.OnCalls())
	a.agents.SetPeers(agent.PeersFromConfig(cfg.Agents))
	ver, err := a.store.SaveConfig(source, cfg.Raw)
	if err != nil {
		return fmt.Errorf("recording config: %w", err)
	}
	a.mu.Lock()
	a.cfg, a.cfgVer = cfg, ver
	a.mu.Unlock()
	a.sched.Set(jobs)
	a.phoneConfigChanged()
	a.trapsConfigChanged(cfg)
	a.moveListeners()
	a.log.Info("config applied", "site", cfg.Site, "checks", len(jobs), "version", ver.Version, "source", source)
	return nil
}

// checkConfigText parses a config's text and validates it as applySource
// would use it (CheckConfig); the errors name it.
func checkConfigText(name string, raw []byte) error {
	cfg, err := config.Parse(name, raw)
	if err != nil {
		return err
	}
	if err := CheckConfig(cfg); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// BuildJobs turns a validated config into scheduler jobs whose checkers
// run with deps (zero Deps to only build them).
func BuildJobs(cfg *config.Config, deps checks.Deps) ([]scheduler.Job, error) {
	specs := cfg.Specs()
	jobs := make([]scheduler.Job, 0, len(specs))
	for _, sp := range specs {
		c, err := checks.Build(sp, deps)
		if err != nil {
			return nil, fmt.Errorf("check %q: %w", sp.ID, err)
		}
		jobs = append(jobs, scheduler.Job{Spec: sp, Checker: c})
	}
	return jobs, nil
}

// Reload re-reads the config file and applies it. A bad file is refused
// with its errors and the running config stays.
func (a *Appliance) Reload() error {
	cfg, err := loadConfig(a.o.ConfigPath)
	if err != nil {
		return err
	}
	if seed, err := a.store.GetBlob(seedBlob); err == nil && bytes.Equal(seed, cfg.Raw) {
		a.log.Info("config file unchanged; keeping the running config")
		a.phoneConfigChanged() // retries a phone home whose CA file could not be used
		return nil
	}
	return a.apply(cfg)
}

// OnResult adds a hook told about every result (incidents, UI, ...).
// Hooks must not block.
func (a *Appliance) OnResult(h ResultHook) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.hooks = append(a.hooks, h)
}

func (a *Appliance) onResult(sp checks.Spec, r checks.Result) {
	a.store.Append(sp.ID, r)
	v, _ := a.counters.LoadOrStore(sp.Kind, &kindCounters{})
	kc := v.(*kindCounters)
	kc.runs.Add(1)
	if r.Status != checks.OK {
		kc.failures.Add(1)
	}
	a.mu.RLock()
	hooks := a.hooks
	a.mu.RUnlock()
	for _, h := range hooks {
		h(sp, r)
	}
}

// uptime is how long Run has been running, in real time.
func (a *Appliance) uptime() time.Duration {
	if a.started.IsZero() {
		return 0
	}
	return a.o.Clock.Mono() - a.startedMono
}

// ClockState is what the box's clock check last said of the box's clock
// (config.BuiltinClockCheck unless the config has its own clock check).
func (a *Appliance) ClockState() phwire.Clock {
	for _, c := range a.Config().Checks {
		if c.Kind != "clock" {
			continue
		}
		st := phwire.Clock{Check: c.ID, Sync: checks.ClockWordUnknown, Detail: "not run yet"}
		if r, ok := a.store.Latest(c.ID); ok {
			st.Sync, st.Status, st.Detail, st.Checked = checks.ClockSync(r), r.Status.String(), r.Detail, r.Time.UTC()
		}
		return st
	}
	return phwire.Clock{Sync: checks.ClockWordUnknown, Detail: "no clock check configured"}
}

// Config returns the config in force.
func (a *Appliance) Config() *config.Config {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.cfg
}

// Incidents returns the incident engine.
func (a *Appliance) Incidents() *incidents.Engine { return a.inc }

// Store returns the daemon's store.
func (a *Appliance) Store() *store.Store { return a.store }

// Scheduler returns the daemon's scheduler.
func (a *Appliance) Scheduler() *scheduler.Scheduler { return a.sched }

// StatusAddr is the status endpoint's address once Run has started
// listening ("" before).
func (a *Appliance) StatusAddr() string {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.status == nil {
		return ""
	}
	return a.status.Addr().String()
}

// UIURL is the web UI's base URL once listening ("" when disabled).
func (a *Appliance) UIURL() string {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.uiLn == nil {
		return ""
	}
	scheme := "http"
	if a.uiTLS {
		scheme = "https"
	}
	return scheme + "://" + a.uiLn.Addr().String()
}

// CertFingerprint is the SHA-256 fingerprint of the box's certificate.
func (a *Appliance) CertFingerprint() string { return a.certFP }

// Listen opens the status and control listeners. Run calls it if needed;
// tests call it first to learn the port.
func (a *Appliance) Listen() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.status != nil {
		return nil
	}
	sp := a.wantStatus(a.cfg)
	ln, err := net.Listen("tcp", sp.addr)
	if err != nil {
		return fmt.Errorf("status endpoint: %w", err)
	}
	sock := filepath.Join(a.o.DataDir, "control.sock")
	os.Remove(sock) // a stale socket from a crash; the store lock proves we are alone
	cl, err := net.Listen("unix", sock)
	if err != nil {
		ln.Close()
		return fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(sock, 0o600); err != nil {
		ln.Close()
		cl.Close()
		return fmt.Errorf("control socket: %w", err)
	}
	a.status, a.control, a.statusPlace = ln, cl, sp
	if up := a.wantUI(a.cfg); up.addr != "" {
		// The config's rule (plain HTTP on loopback only) holds for the
		// command line's address too.
		u, err := a.openUI(up)
		if err != nil {
			ln.Close()
			cl.Close()
			return fmt.Errorf("web UI: %w", err)
		}
		a.uiLn, a.uiPlace, a.uiTLS = u, up, !up.plain
	}
	return nil
}

// Run runs the daemon until ctx ends: the services of services(), in
// order. On return in-flight checks have finished or been cancelled and
// the store is flushed.
func (a *Appliance) Run(ctx context.Context) error {
	if err := a.Listen(); err != nil {
		return err
	}
	a.started, a.startedMono = a.o.Clock.Now(), a.o.Clock.Mono()
	a.running.Store(true)
	defer a.running.Store(false)
	svcs, err := a.services()
	if err != nil {
		return err
	}
	if (a.uiLn == nil || !a.uiTLS) && len(a.Config().Agents) > 0 {
		a.log.Warn("agents cannot pair: pairing needs the web UI over HTTPS", "ui_disabled", a.Config().UI.Disabled)
	}
	return runServices(ctx, a.log, svcs, func() {
		a.log.Info("outpost running", "status", a.status.Addr().String(), "ui", a.UIURL(), "data", a.o.DataDir, "version", Version)
	})
}

// services are the daemon's run loops in the order they start; they stop
// in the reverse order. The store is first, so it stops last and flushes
// what everything else wrote; the scheduler is last, so it stops first.
func (a *Appliance) services() ([]service, error) {
	svcs := []service{
		{name: "store", run: a.store.Run, toTheEnd: true},
		{name: "notify", run: loop(a.notify.Run), toTheEnd: true},
		{name: "snmp poller", run: closeAtStop(func() { a.snmp.Close() }), toTheEnd: true},
		{name: "agents", run: closeAtStop(func() { a.agents.Close() }), toTheEnd: true},
		{name: "incidents", run: closeAtStop(a.inc.Close), toTheEnd: true},
		{name: "status endpoint", run: func(ctx context.Context) error { return a.runMovable(ctx, a.statusService()) }},
		{name: "control socket", run: serveHTTP(&http.Server{Handler: a.controlMux(), ReadHeaderTimeout: 5 * time.Second}, a.control)},
		// The web UI runs even when off: a new config may turn it on.
		{name: "web UI", run: func(ctx context.Context) error { return a.runMovable(ctx, a.uiService()) }},
	}
	svcs = append(svcs, service{name: "SNMP trap receiver", run: a.runTraps})
	svcs = append(svcs, a.syslogServices()...)
	svcs = append(svcs, service{name: "journal", run: a.runJournal})
	// Phone home follows the config in force (phoneConfigChanged).
	changed := make(chan struct{}, 1)
	a.mu.Lock()
	a.phoneChanged = changed
	a.mu.Unlock()
	svcs = append(svcs,
		service{name: "agent inventory", run: loop(a.collectInventory)},
		service{name: "provisioning sticks", run: loop(a.watchSticks)},
		service{name: "phone home", run: loop(func(ctx context.Context) { a.supervisePhoneHome(ctx, changed) })},
		service{name: "discovery", run: loop(a.runDiscovery)},
		service{name: "monthly report mail", run: loop(a.runReportMail)},
		service{name: "firmware", run: a.runFirmware},
		service{name: "scheduler", run: a.sched.Run},
	)
	return svcs, nil
}

// uiServer is the web UI's server, with the acknowledge links and agent
// pairing beside it.
func (a *Appliance) uiServer() (*http.Server, error) {
	top := http.NewServeMux()
	top.Handle("/ack/", a.ackHandler())
	// Agents present their one-time pair code here; the code is the
	// credential, so it sits outside the UI login.
	top.Handle(wire.PathPair, a.agents.PairHandler())
	top.Handle("/ping/", a.backupPingHandler()) // backup jobs: the UUID is the credential (backups.go)
	if a.uiTLS {
		a.agents.SetPairAddr(a.uiLn.Addr().String())
	}
	// An unclaimed box makes its claim code now (claim.go).
	claim, err := a.firstBootClaim()
	if err != nil {
		return nil, err
	}
	ub := uiBackend{a}
	top.Handle("/", ui.New(ui.Options{Site: ub, Dashboard: ub, Checks: ub, CheckEdit: ub, Devices: ub, Incidents: ub, Notify: ub, Sections: ub, Settings: ub, Reports: ub, Inventory: ub, Logs: ub, Backups: ub,
		Users: uiUsers{a.store}, Claim: claim, Clock: a.o.Clock, Log: a.log, Secure: a.uiTLS}))
	// Every phase of a request is bounded, so a host on the LAN cannot
	// hold connections or memory by being slow or sending big headers.
	// WriteTimeout allows for the slowest page: a remediation run from
	// an incident's page (healing.action_timeout, 1 minute by default).
	return &http.Server{Handler: top, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 5 * time.Minute, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}, nil
}

// startTraps binds the SNMP trap receiver when the config has one (nil:
// none, or it could not bind). A receiver that cannot bind (port 162
// without the capability) must not stop the monitoring: it is logged and
// the rest runs.
func (a *Appliance) startTraps() *snmp.TrapReceiver {
	cfg := a.Config()
	l := cfg.Traps.Listen
	if l == "" {
		return nil
	}
	tc := a.trapConfig(cfg)
	var err error
	if tc.EngineID, tc.EngineBoots, err = snmp.KeepEngine(a.store); err != nil {
		a.log.Error("SNMP engine ID not kept: v3 informs get a new one each start", "err", err)
	}
	a.mu.Lock()
	a.trapsListen = l
	a.mu.Unlock()
	tr, err := snmp.NewTrapReceiver(l, tc, func(e checks.Event) { a.store.AppendEvent(e) })
	if err != nil {
		a.log.Error("SNMP trap receiver not started", "addr", l, "err", err)
		return nil
	}
	a.mu.Lock()
	a.traps = tr
	a.mu.Unlock()
	a.log.Info("SNMP trap receiver listening", "addr", l, "engine_id", fmt.Sprintf("0x%x", tr.EngineID()), "engine_boots", tc.EngineBoots)
	if c := a.Config(); c != cfg {
		a.trapsConfigChanged(c) // a reload while it started
	}
	return tr
}

// Close flushes and closes the store and listeners.
func (a *Appliance) Close() error {
	a.mu.Lock()
	if a.status != nil {
		a.status.Close()
		a.control.Close()
	}
	if a.uiLn != nil {
		a.uiLn.Close()
	}
	a.mu.Unlock()
	return a.store.Close()
}

// Inventory from agents is refreshed once a day, and within a minute of
// an agent pairing (its inventory is missing then).
const (
	inventoryMaxAge = 24 * time.Hour
	inventoryPoll   = time.Minute
)

func (a *Appliance) collectInventory(ctx context.Context) {
	t := a.o.Clock.NewTimer(inventoryPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		case <-a.agents.NewPairings():
		}
		if n := a.agents.RefreshInventory(ctx, inventoryMaxAge); n > 0 {
			a.log.Info("agent inventory collected", "agents", n)
		}
		t.Stop()
		t.Reset(inventoryPoll)
	}
}

// trapConfig is the trap receiver's view of cfg.
func (a *Appliance) trapConfig(cfg *config.Config) snmp.TrapConfig {
	tc := snmp.TrapConfigFor(cfg.Traps, cfg.Devices)
	tc.Clock = a.o.Clock
	tc.Logf = func(format string, args ...any) { a.log.Warn(fmt.Sprintf(format, args...)) }
	for _, w := range tc.Warnings() {
		a.log.Warn("SNMP traps: " + w)
	}
	return tc
}

// trapsConfigChanged gives the running trap receiver a new config's
// devices, communities, v3 users and limits; a new listen address (or
// none) moves it (runTraps).
func (a *Appliance) trapsConfigChanged(cfg *config.Config) {
	if !a.running.Load() {
		return // Run starts the receiver with the config then in force
	}
	a.mu.RLock()
	tr, listen := a.traps, a.trapsListen
	a.mu.RUnlock()
	if cfg.Traps.Listen != listen {
		select {
		case a.trapsMoved <- struct{}{}:
		default:
		}
		return
	}
	if tr == nil {
		return
	}
	if err := tr.SetConfig(a.trapConfig(cfg)); err != nil {
		a.log.Error("SNMP trap receiver keeps its previous config", "err", err)
	}
}

// trapReceiver is the running trap receiver, or nil.
func (a *Appliance) trapReceiver() *snmp.TrapReceiver {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.traps
}
