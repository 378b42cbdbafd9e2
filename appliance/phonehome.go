package appliance

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"

	"outpost/appliance/config"
	"outpost/appliance/phonehome"
	"outpost/appliance/phonehome/summary"
	phwire "outpost/appliance/phonehome/wire"
	"outpost/firmware/provision"
	"outpost/store"
)

// firmwareNote remembers the last verified firmware notice.
type firmwareNote struct {
	mu sync.Mutex
	ev *phwire.Event
}

// supervisePhoneHome runs phone home while the config in force has a
// URL, and restarts it when the phonehome settings change (SIGHUP, a UI
// edit, a provisioning bundle from a stick or from a phone-home reply): a
// box provisioned by stick phones home without a restart. The outbox is
// in the store, so a restart loses nothing queued.
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
	return phonehome.New(phonehome.Options{URL: cfg.URL, CAFile: cfg.CAFile, CAPEM: cfg.CAPEM, Pins: cfg.PinSHA256,
		Interval: cfg.Interval, Quota: int64(cfg.Quota), BackoffMax: cfg.BackoffMax, Timeout: cfg.Timeout,
		Outbox: phoneOutbox{a.store}, Commands: phoneCommands{a.store}, Signer: a.id, Bundles: phoneBundles{a.prov}, Acks: ackRelay{a}, Clock: a.o.Clock, Log: a.log,
		Build: func(reason string, seq uint64, m phonehome.Meta, full bool) (phwire.Summary, map[string]string, error) {
			return a.buildSummary(reason, seq, store.PhoneMeta(m), full)
		},
		OnFirmware: a.noteFirmware})
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

// buildSummary reports the site as it is now (phonehome.Options.Build):
// summary.Builder over the daemon's parts.
func (a *Appliance) buildSummary(reason string, seq uint64, m store.PhoneMeta, full bool) (phwire.Summary, map[string]string, error) {
	b := summary.Builder{
		Box:        phwire.Box{ID: a.id.ID(), Version: Version, PublicKey: a.id.PublicKeyString(), UICertSHA256: a.certFP},
		Config:     a.Config,
		Results:    a.store,
		Incidents:  a.inc,
		Inventory:  a.agentInventory,
		Discovered: a.discoveredSince,
		Facts:      a.boxFacts,
		Forecasts:  a.Forecasts,
		Clock:      a.o.Clock,
	}
	b.Backups = a.backupSummary
	return b.Build(reason, seq, summary.Previous{Built: m.Built, Inventory: m.Inventory}, full)
}

// boxFacts are the box's own figures for a summary.
func (a *Appliance) boxFacts() summary.Facts {
	n, _, _ := a.store.PhoneDepth()
	sc := a.sched.Stats()
	f := summary.Facts{StoreBytes: a.store.Stats().FileSize, OutboxDepth: n, LatenessP99: sc.Lateness.Quantile(0.99),
		Uptime: a.uptime(), Behind: sc.Behind, Clock: a.ClockState()}
	if st, err := a.prov.State(); err == nil && st.Last != nil {
		r := st.Last
		f.LastBundle = &summary.Bundle{Time: r.Time, Result: r.Result, BundleVersion: r.BundleVersion, Source: r.Source, Reasons: r.Reasons}
	}
	a.firmware.mu.Lock()
	f.LastFirmware = a.firmware.ev
	a.firmware.mu.Unlock()
	// What the store recorded last (an update confirmed or rolled back
	// at this start, a refusal) when it is newer: a rollback is reported
	// by the version that came back, whose memory is new.
	if fs, err := a.store.Firmware(); err == nil && len(fs.Events) > 0 {
		e := fs.Events[len(fs.Events)-1]
		if f.LastFirmware == nil || e.Time.After(f.LastFirmware.Time) {
			d := e.From + " -> " + e.To
			if e.Reason != "" {
				d += ": " + e.Reason
			}
			f.LastFirmware = &phwire.Event{Time: e.Time, Result: e.Result, Detail: d}
		}
	}
	for name, h := range a.notify.Failing() {
		f.NotifyFailing = append(f.NotifyFailing, phwire.ChannelFailure{Channel: name, Failures: h.Failures, Since: h.Since, Error: h.LastError})
	}
	slices.SortFunc(f.NotifyFailing, func(a, b phwire.ChannelFailure) int { return strings.Compare(a.Channel, b.Channel) })
	return f
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

// phoneOutbox is the store as phone home's outbox (phonehome.Outbox):
// phonehome.Meta and Entry are the store's PhoneMeta and PhoneEntry
// field for field, so they convert.
type phoneOutbox struct{ *store.Store }

func (o phoneOutbox) PhoneAppend(quota int64, builtAt string, build func(uint64, phonehome.Meta) ([]byte, map[string]string, error), fold func([]byte) (map[string]uint64, bool)) (uint64, error) {
	return o.Store.PhoneAppend(quota, builtAt, func(seq uint64, m store.PhoneMeta) ([]byte, map[string]string, error) {
		return build(seq, phonehome.Meta(m))
	}, fold)
}

func (o phoneOutbox) PhoneOldest() (phonehome.Entry, bool, error) {
	e, ok, err := o.Store.PhoneOldest()
	return phonehome.Entry(e), ok, err
}

func (o phoneOutbox) PhoneMeta() (phonehome.Meta, error) {
	m, err := o.Store.PhoneMeta()
	return phonehome.Meta(m), err
}

// phoneCommandsBlob is the store blob phone home keeps what became of
// the receiver's commands in.
const phoneCommandsBlob = "phonehome-commands"

// phoneCommands is the store as phone home's CommandLog.
type phoneCommands struct{ *store.Store }

func (c phoneCommands) LoadPhoneCommands() ([]byte, error) { return c.GetBlob(phoneCommandsBlob) }
func (c phoneCommands) SavePhoneCommands(state []byte) error {
	return c.PutBlob(phoneCommandsBlob, state)
}

// phoneBundles is the provisioner as phone home's Bundles: a bundle in a
// reply is applied like one from a stick (the receipt is recorded in the
// provisioning state).
type phoneBundles struct{ *provision.Provisioner }

func (b phoneBundles) Apply(ctx context.Context, data []byte, source string) error {
	_, err := b.ApplyBundle(ctx, data, source)
	return err
}
