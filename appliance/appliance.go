// Package appliance wires Outpost together: config, store, scheduler,
// checks and the status and control endpoints. New builds a daemon, Run
// runs it until its context ends, Close releases it; an end-to-end test
// runs the whole daemon in-process this way.
package appliance

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
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
	certFP  string
	cert    tls.Certificate
	started time.Time
	// startedMono is when Run started on the monotonic clock: uptime must
	// not jump when NTP steps the wall clock.
	startedMono time.Duration
	counters    sync.Map // kind -> *kindCounters
	running     atomic.Bool
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
	cfg, err := loadConfig(o.ConfigPath)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("creating data dir: %w", err)
	}
	st, err := store.Open(filepath.Join(o.DataDir, "outpost.db"), store.Options{
		Clock:             o.Clock,
		RawRetention:      cfg.Store.RawRetention,
		Rollup5mRetention: cfg.Store.Rollup5mRetention,
		Rollup1hRetention: cfg.Store.Rollup1hRetention,
	})
	if err != nil {
		return nil, err
	}
	a := &Appliance{o: o, log: o.Log, store: st}
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
	a.deps = checks.Deps{Clock: o.Clock, Log: o.Log, SNMP: a.snmp, Agents: a.agents}
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
	a.prov = provision.New(provision.Options{Store: st, Identity: a.id, Clock: o.Clock, Log: o.Log, BoxVersion: Version, UICert: a.certFP,
		Check: checkConfigText, Activate: func(name string, raw []byte, source string) error {
			cfg, err := config.Parse(name, raw)
			if err != nil {
				return err
			}
			return a.activateProvisioned(cfg, source)
		}})
	a.routes = append(a.routes, a.inc.Routes, a.auditRoutes, a.agents.Routes, a.provisionRoutes, a.phoneRoutes)
	if err := a.applyStartup(cfg); err != nil {
		st.Close()
		return nil, err
	}
	return a, nil
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
	// Without a file the embedded default is only a seed for a box never
	// configured: a firmware update that changes it must not replace a
	// provisioned (or UI-edited) site config.
	embedded := fileCfg.File == "" || fileCfg.File == "default.yaml"
	keepStored := bytes.Equal(seed, fileCfg.Raw) || (embedded && cur.Source != "embedded default")
	if ok && keepStored && !bytes.Equal(cur.Raw, fileCfg.Raw) {
		stored, err := config.Parse(fileCfg.File, cur.Raw)
		if err == nil {
			stored.File = fileCfg.File
			a.log.Info("running the config edited or provisioned since the file was applied", "version", cur.Version, "source", cur.Source)
			if err := a.applySource(stored, cur.Source); err != nil {
				return err
			}
			// The new default is the seed now, so SIGHUP keeps it too.
			return a.store.PutBlob(seedBlob, fileCfg.Raw)
		}
		a.log.Error("stored config no longer validates; using the file", "version", cur.Version, "err", err)
	}
	return a.apply(fileCfg)
}

func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		return config.Default()
	}
	return config.Load(path)
}

// apply applies a config read from its file (or the embedded default).
func (a *Appliance) apply(cfg *config.Config) error {
	source := cfg.File
	if source == "" || source == "default.yaml" {
		source = "embedded default"
	}
	if err := a.applySource(cfg, source); err != nil {
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
	addr := a.o.Listen
	if addr == "" {
		addr = a.cfg.Listen
	}
	ln, err := net.Listen("tcp", addr)
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
	a.status, a.control = ln, cl
	if !a.cfg.UI.Disabled {
		uaddr := a.o.UIListen
		if uaddr == "" {
			uaddr = a.cfg.UI.Listen
		}
		u, err := net.Listen("tcp", uaddr)
		if err != nil {
			ln.Close()
			cl.Close()
			return fmt.Errorf("web UI: %w", err)
		}
		a.uiTLS = !a.cfg.UI.PlainHTTP
		if a.uiTLS {
			u = tls.NewListener(u, &tls.Config{Certificates: []tls.Certificate{a.cert}, MinVersion: tls.VersionTLS12})
		}
		a.uiLn = u
	}
	return nil
}

// Run runs the daemon until ctx ends: the scheduler, the store's flush
// and retention loop, and the endpoints. On return in-flight checks have
// finished or been cancelled and the store is flushed.
func (a *Appliance) Run(ctx context.Context) error {
	if err := a.Listen(); err != nil {
		return err
	}
	a.started, a.startedMono = a.o.Clock.Now(), a.o.Clock.Mono()
	a.running.Store(true)
	defer a.running.Store(false)
	// A listener failing stops everything, as the end of ctx does.
	ctx, stopAll := context.WithCancel(ctx)
	defer stopAll()

	statusSrv := &http.Server{Handler: a.statusMux(), ReadHeaderTimeout: 5 * time.Second}
	controlSrv := &http.Server{Handler: a.controlMux(), ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 4)
	go func() { errc <- serve(statusSrv, a.status) }()
	go func() { errc <- serve(controlSrv, a.control) }()
	var uiSrv *http.Server
	if a.uiLn != nil {
		top := http.NewServeMux()
		top.Handle("/ack/", a.ackHandler())
		// Agents present their one-time pair code here; the code is the
		// credential, so it sits outside the UI login.
		top.Handle(wire.PathPair, a.agents.PairHandler())
		if a.uiTLS {
			a.agents.SetPairAddr(a.uiLn.Addr().String())
		}
		ub := uiBackend{a}
		top.Handle("/", ui.New(ui.Options{Site: ub, Dashboard: ub, Checks: ub, CheckEdit: ub, Devices: ub, Incidents: ub, Notify: ub, Sections: ub, Settings: ub,
			Users: uiUsers{a.store}, Clock: a.o.Clock, Log: a.log, Secure: a.uiTLS}))
		uiSrv = &http.Server{Handler: top, ReadHeaderTimeout: 10 * time.Second}
		go func() { errc <- serve(uiSrv, a.uiLn) }()
	}

	storeCtx, stopStore := context.WithCancel(context.Background())
	storeDone := make(chan error, 1)
	go func() { storeDone <- a.store.Run(storeCtx) }()

	notifyCtx, stopNotify := context.WithCancel(context.Background())
	notifyDone := make(chan struct{})
	go func() { a.notify.Run(notifyCtx); close(notifyDone) }()

	if l := a.Config().Traps.Listen; l != "" {
		cfg := a.Config()
		// A receiver that cannot bind (port 162 without the capability)
		// must not stop the monitoring: it is logged and the rest runs.
		tc := snmp.TrapConfigFor(cfg.Traps, cfg.Devices)
		var err error
		if tc.EngineID, tc.EngineBoots, err = a.snmpEngine(); err != nil {
			a.log.Error("SNMP engine ID not kept: v3 informs get a new one each start", "err", err)
		}
		if tr, err := snmp.NewTrapReceiver(l, tc, func(e checks.Event) { a.store.AppendEvent(e) }); err != nil {
			a.log.Error("SNMP trap receiver not started", "addr", l, "err", err)
		} else {
			go tr.Run(ctx)
			a.log.Info("SNMP trap receiver listening", "addr", l, "engine_id", fmt.Sprintf("0x%x", tr.EngineID()), "engine_boots", tc.EngineBoots)
		}
	}

	if (a.uiLn == nil || !a.uiTLS) && len(a.Config().Agents) > 0 {
		a.log.Warn("agents cannot pair: pairing needs the web UI over HTTPS", "ui_disabled", a.Config().UI.Disabled)
	}
	// Background work that uses the store; waited for before the store
	// is flushed and closed.
	var bg sync.WaitGroup
	bg.Go(func() { a.collectInventory(ctx) })
	bg.Go(func() { a.watchSticks(ctx) })
	a.startPhoneHome(ctx, &bg)

	schedDone := make(chan error, 1)
	go func() { schedDone <- a.sched.Run(ctx) }()
	a.log.Info("outpost running", "status", a.status.Addr().String(), "ui", a.UIURL(), "data", a.o.DataDir, "version", Version)

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	stopAll()
	shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	statusSrv.Shutdown(shut)
	controlSrv.Shutdown(shut)
	if uiSrv != nil {
		uiSrv.Shutdown(shut)
	}
	<-schedDone // in-flight checks done or cancelled
	bg.Wait()
	a.inc.Close()
	a.agents.Close()
	a.snmp.Close()
	stopNotify()
	<-notifyDone
	stopStore()
	if err := <-storeDone; err != nil && runErr == nil {
		runErr = err
	}
	return runErr
}

func serve(srv *http.Server, ln net.Listener) error {
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
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

// snmpEngine returns the box's SNMPv3 engine ID (made once, kept in the
// store, so devices configured to send informs to it keep working) and
// counts this start in its snmpEngineBoots.
func (a *Appliance) snmpEngine() ([]byte, uint32, error) {
	id, err := a.store.PutBlobIfAbsent("snmp-engine-id", snmp.NewEngineID())
	if err != nil {
		return nil, 0, err
	}
	old, err := a.store.GetBlob("snmp-engine-boots")
	if err != nil {
		return id, 1, err
	}
	boots := uint32(1)
	if len(old) == 4 {
		boots = binary.BigEndian.Uint32(old) + 1
	}
	return id, boots, a.store.PutBlob("snmp-engine-boots", binary.BigEndian.AppendUint32(nil, boots))
}
