package appliance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	phwire "outpost/appliance/phonehome/wire"
	"outpost/firmware/bundle"
	"outpost/firmware/identity"
	"outpost/firmware/update"
	"outpost/store"
	"outpost/ui"
)

// firmwareWiring is the daemon's side of self-update (firmware/update):
// the boot counter at start, the health window of a new version, the
// control routes, and the exit that lets the service manager start the
// binary just installed.
type firmwareWiring struct {
	u *update.Updater
	// boot is the update marker as Boot left it at this start (nil: no
	// update in progress).
	boot *update.Pending
	// restart is told once an update or a rollback has put another
	// binary in place.
	restart chan string
	// binary is the installed binary's path by default: the path the
	// service manager started (ExecStart, which systemd passes as
	// argv[0]), not /proc/self/exe (which names the file this process
	// runs, gone once an update replaced it).
	binary string
	// started is when this start began, for the log of the window.
	started time.Time
	// notices are phone home's verified firmware notices, for the
	// download loop (firmwarefetch.go).
	notices chan phwire.FirmwareNotice
	// agentUpdating makes agent updates one rollout at a time
	// (agentupdate.go).
	agentUpdating sync.Mutex
}

// firmwareBoot runs at the very start of New, before the config is read
// or the store opened, so that a new version that fails even there is
// counted: it counts the new binary's starts and, when they have run out,
// puts the previous one back and fails (the service manager starts it).
func firmwareBoot(o Options) (*firmwareWiring, error) {
	u := update.New(update.Options{DataDir: o.DataDir, Version: Version, Now: o.Clock.Now, Log: o.Log})
	p, err := u.Boot()
	if err != nil {
		return nil, err
	}
	return &firmwareWiring{u: u, boot: p, restart: make(chan string, 1), binary: installedBinary(), started: time.Now(), notices: make(chan phwire.FirmwareNotice, 1)}, nil
}

// InstalledBinary is the path this process was started as, the binary a
// firmware update replaces (the agent's too): see installedBinary.
func InstalledBinary() string { return installedBinary() }

// installedBinary is the path the daemon was started as: argv[0] when it
// is absolute (systemd, the Windows service, a supervisor), else found in
// PATH, else the running executable.
func installedBinary() string {
	if len(os.Args) > 0 {
		if filepath.IsAbs(os.Args[0]) {
			return os.Args[0]
		}
		if p, err := exec.LookPath(os.Args[0]); err == nil {
			if abs, err := filepath.Abs(p); err == nil {
				return abs
			}
		}
	}
	exe, _ := os.Executable()
	return exe
}

// wireFirmware adds the firmware control routes; New calls it once the
// store and the provisioner exist.
func (a *Appliance) wireFirmware(fw *firmwareWiring) {
	a.fw = fw
	a.routes = append(a.routes, a.firmwareRoutes, a.agentUpdateRoutes)
}

// runFirmware is the daemon's firmware service: it records how an update
// ended, runs a new version's health window (confirming it, or putting
// the previous binary back and stopping the daemon with an error so that
// the service manager starts that one), and stops the daemon the same way
// after `outpost firmware apply` or `rollback`.
func (a *Appliance) runFirmware(ctx context.Context) error {
	fw := a.fw
	p := fw.boot
	if p != nil && p.State == update.Done {
		a.recordFirmwareEnd(p)
	}
	watchDone := make(chan error, 1)
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	fetchDone := make(chan struct{})
	go func() { a.runFirmwareFetch(watchCtx); close(fetchDone) }()
	defer func() { stopWatch(); <-fetchDone }()
	if p != nil && p.State == update.Trial {
		go func() { watchDone <- update.Watch(watchCtx, p, 250*time.Millisecond, a.firmwareHealthy) }()
	} else {
		a.noteRunningVersion()
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case why := <-fw.restart:
			return fmt.Errorf("firmware: %s: %w", why, update.ErrRestart)
		case err := <-watchDone:
			if ctx.Err() != nil || errors.Is(err, context.Canceled) {
				continue
			}
			if err == nil {
				a.confirmFirmware(p)
				continue
			}
			rerr := fw.u.Rollback(ctx, p.Binary, err.Error())
			if errors.Is(rerr, update.ErrRestart) {
				return rerr
			}
			a.log.Error("firmware: the new version is unhealthy and cannot be rolled back", "version", p.To, "err", rerr)
			if q, _ := fw.u.Pending(); q != nil && q.State == update.Done {
				a.recordFirmwareEnd(q)
			}
		}
	}
}

// firmwareHealthy is the health window's test: the store opened (New got
// this far) and commits, the scheduler runs checks, and the status
// endpoint answers /healthz over the network.
func (a *Appliance) firmwareHealthy() (bool, string) {
	if !a.running.Load() {
		return false, "the daemon is not running yet"
	}
	if h := a.Health(); !h.OK {
		return false, fmt.Sprintf("daemon unhealthy: %v", h.Problems)
	}
	if sc := a.sched.Stats(); sc.Jobs > 0 && sc.Runs == 0 {
		return false, "the scheduler has not run a check yet"
	}
	if update.Fault(Version, "unhealthy") {
		return false, "firmware test fault: the status endpoint is taken as silent"
	}
	addr := a.StatusAddr()
	if addr == "" {
		return false, "the status endpoint is not listening"
	}
	if host, port, err := net.SplitHostPort(addr); err == nil {
		if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
			addr = net.JoinHostPort("127.0.0.1", port)
			if ip.To4() == nil {
				addr = net.JoinHostPort("::1", port)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/healthz", nil)
	if err != nil {
		return false, err.Error()
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, "the status endpoint does not answer: " + err.Error()
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Sprintf("the status endpoint answers %s", resp.Status)
	}
	return true, ""
}

// confirmFirmware records a new version that came up healthy: it is the
// highest version now, and the update is over.
func (a *Appliance) confirmFirmware(p *update.Pending) {
	took := time.Since(a.fw.started).Round(time.Millisecond)
	err := a.store.UpdateFirmware(func(f *store.FirmwareState) error {
		raiseHighest(f, p.To)
		f.Events = append(f.Events, store.FirmwareEvent{Time: a.o.Clock.Now().UTC(), Result: update.Confirmed, From: p.From, To: p.To, Source: p.Source,
			Reason: fmt.Sprintf("healthy %s after start %d of %d", took, p.Boots, p.MaxBoots)})
		return nil
	})
	if err != nil {
		// The marker stays: the next start runs the window again.
		a.log.Error("firmware: recording the update as confirmed", "err", err)
		return
	}
	if err := a.fw.u.Finish(); err != nil {
		a.log.Error("firmware: removing the update marker", "err", err)
	}
	a.log.Warn("firmware: update confirmed: the new version is healthy", "version", p.To, "from", p.From, "after", took, "start", p.Boots)
}

// recordFirmwareEnd records an update that ended before this start
// (rolled back, interrupted), logs it, and removes its marker.
func (a *Appliance) recordFirmwareEnd(p *update.Pending) {
	err := a.store.UpdateFirmware(func(f *store.FirmwareState) error {
		f.Events = append(f.Events, store.FirmwareEvent{Time: a.o.Clock.Now().UTC(), Result: p.Result, From: p.From, To: p.To, Reason: p.Reason, Source: p.Source})
		return nil
	})
	if err != nil {
		a.log.Error("firmware: recording how the update ended", "err", err)
		return
	}
	a.log.Error("firmware: update "+p.Result, "from", p.From, "to", p.To, "running", Version, "reason", p.Reason)
	if err := a.fw.u.Finish(); err != nil {
		a.log.Error("firmware: removing the update marker", "err", err)
	}
}

// noteRunningVersion raises the highest version to the one running
// outside any update's trial: a box installed by hand with v1.4.0
// refuses v1.3.0 from then on.
func (a *Appliance) noteRunningVersion() {
	if _, err := bundle.CompareVersions(Version, Version); err != nil {
		return // "dev": not a release
	}
	if err := a.store.UpdateFirmware(func(f *store.FirmwareState) error { raiseHighest(f, Version); return nil }); err != nil {
		a.log.Error("firmware: recording the running version", "err", err)
	}
}

func raiseHighest(f *store.FirmwareState, v string) {
	if c, err := bundle.CompareVersions(v, f.Highest); f.Highest == "" || (err == nil && c > 0) {
		f.Highest = v
	}
}

// FirmwareStatus is the control socket's answer to GET /firmware.
type FirmwareStatus struct {
	Version string `json:"version"`
	// Binary is the installed binary the daemon would update by default.
	Binary  string                `json:"binary"`
	Highest string                `json:"highest,omitempty"`
	Pending *update.Pending       `json:"pending,omitempty"`
	Events  []store.FirmwareEvent `json:"events,omitempty"`
}

// FirmwareResult is the control socket's answer to an apply or a
// rollback.
type FirmwareResult struct {
	Result string `json:"result"`
	Reason string `json:"reason,omitempty"`
	From   string `json:"from,omitempty"`
	To     string `json:"to,omitempty"`
	Binary string `json:"binary,omitempty"`
	Window string `json:"window,omitempty"`
}

func (a *Appliance) firmwareRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /firmware", func(w http.ResponseWriter, r *http.Request) {
		f, err := a.store.Firmware()
		if err != nil {
			writeError(w, http.StatusInternalServerError, err)
			return
		}
		p, err := a.fw.u.Pending()
		if err != nil {
			writeError(w, http.StatusInternalServerError, err)
			return
		}
		writeJSON(w, http.StatusOK, FirmwareStatus{Version: Version, Binary: a.fw.binary, Highest: f.Highest, Pending: p, Events: f.Events})
	})
	// The body is the bundle file itself (tens of MiB: no JSON around it).
	mux.HandleFunc("POST /firmware/apply", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		req, err := a.firmwareRequest(q)
		if err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		body := http.MaxBytesReader(w, r.Body, bundle.MaxFirmwareHeader+1+bundle.MaxFirmwareBinary+1)
		res := a.applyFirmware(r.Context(), body, req)
		writeJSON(w, http.StatusOK, res)
		if res.Result != update.Applied {
			return
		}
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
		a.requestRestart(fmt.Sprintf("%s installed in place of %s", res.To, res.From))
	})
	mux.HandleFunc("POST /firmware/rollback", func(w http.ResponseWriter, r *http.Request) {
		bin := r.URL.Query().Get("binary")
		if bin == "" {
			bin = a.fw.binary
		}
		err := a.fw.u.Rollback(r.Context(), bin, "rolled back by hand at the box (outpost firmware rollback)")
		if !errors.Is(err, update.ErrRestart) {
			if err == nil {
				err = errors.New("the previous binary could not be put back (see the log)")
			}
			writeError(w, http.StatusBadRequest, err)
			return
		}
		p, _ := a.fw.u.Pending()
		res := FirmwareResult{Result: update.RolledBack, Binary: bin}
		if p != nil {
			res.From, res.To, res.Binary = p.To, p.From, p.Binary
		}
		writeJSON(w, http.StatusOK, res)
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
		a.requestRestart("rolled back by hand")
	})
}

// applyFirmware installs the update bundle read from in and records the
// outcome; the caller restarts the daemon when it was applied.
func (a *Appliance) applyFirmware(ctx context.Context, in io.Reader, req update.Request) FirmwareResult {
	f, p, err := a.fw.u.Apply(ctx, in, req)
	if err != nil {
		ev := store.FirmwareEvent{Time: a.o.Clock.Now().UTC(), Result: update.Refused, From: Version, Reason: err.Error(), Source: req.Source}
		if f != nil {
			ev.To = f.Version
		}
		a.log.Warn("firmware: update refused", "source", req.Source, "to", ev.To, "reason", err)
		a.recordFirmware(ev)
		return FirmwareResult{Result: update.Refused, Reason: err.Error(), From: Version, To: ev.To}
	}
	a.recordFirmware(store.FirmwareEvent{Time: a.o.Clock.Now().UTC(), Result: update.Applied, From: p.From, To: p.To, Source: p.Source,
		Reason: fmt.Sprintf("installed in %s; health window %s, %d starts", p.Binary, p.Window, p.MaxBoots)})
	return FirmwareResult{Result: update.Applied, From: p.From, To: p.To, Binary: p.Binary, Window: p.Window.String()}
}

// stickFirmware applies an update bundle found on a stick (firmware/usb)
// with the default health window, never forced: a stick left in the box
// is read again at the next start, so the version running is passed over
// quietly rather than refused at every start.
func (a *Appliance) stickFirmware(ctx context.Context, path, source string) {
	req, err := a.firmwareRequest(url.Values{"source": {"stick " + source}})
	if err != nil {
		a.log.Error("firmware stick: cannot apply", "source", source, "err", err)
		return
	}
	f, err := openRegular(path)
	if err != nil {
		a.recordFirmware(store.FirmwareEvent{Time: a.o.Clock.Now().UTC(), Result: update.Refused, From: Version, Reason: err.Error(), Source: req.Source})
		a.log.Warn("firmware: update refused", "source", req.Source, "reason", err)
		return
	}
	defer f.Close()
	if m, _, err := bundle.ReadFirmware(f); err == nil && m.Version == Version {
		a.log.Info("firmware stick: the box runs this version already; the stick can be removed", "source", source, "version", m.Version)
		return
	}
	// Applied from the start of the file (the envelope is read again and
	// checked under the update rules).
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		a.log.Error("firmware stick: cannot read the bundle again", "source", source, "err", err)
		return
	}
	res := a.applyFirmware(ctx, f, req)
	if res.Result == update.Applied {
		a.log.Info("firmware stick: update installed; restarting into it", "source", source, "to", res.To)
		a.requestRestart(fmt.Sprintf("%s installed in place of %s from a stick", res.To, res.From))
	}
}

// openRegular opens path when it is a regular file, not a link.
func openRegular(path string) (*os.File, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (%s); refusing to follow it", path, fi.Mode().Type())
	}
	return os.Open(path)
}

// firmwareRequest reads an apply's parameters: the binary to replace
// (default: the installed one), the health window and starts, force.
func (a *Appliance) firmwareRequest(q url.Values) (update.Request, error) {
	req := update.Request{Binary: q.Get("binary"), Source: q.Get("source"), Window: update.DefaultWindow, MaxBoots: update.DefaultMaxBoots}
	if req.Binary == "" {
		req.Binary = a.fw.binary
	}
	if req.Source == "" {
		req.Source = "outpost firmware apply"
	}
	if len(req.Source) > 512 {
		req.Source = req.Source[:512]
	}
	if s := q.Get("window"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return req, fmt.Errorf("health window %q is not a positive duration", s)
		}
		req.Window = d
	}
	if s := q.Get("max_boots"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return req, fmt.Errorf("max boots %q is not a number of at least 1", s)
		}
		req.MaxBoots = n
	}
	f, err := a.store.Firmware()
	if err != nil {
		return req, err
	}
	st, err := a.prov.State()
	if err != nil {
		return req, err
	}
	req.Rules = update.Rules{Highest: f.Highest, Running: Version, Force: q.Get("force") == "1", Now: a.o.Clock.Now()}
	if st.PinnedKey != "" {
		if req.Rules.Trusted, err = identity.ParsePublicKey(st.PinnedKey); err != nil {
			return req, fmt.Errorf("the trusted MSP key: %w", err)
		}
	}
	return req, nil
}

func (a *Appliance) recordFirmware(ev store.FirmwareEvent) {
	if err := a.store.UpdateFirmware(func(f *store.FirmwareState) error { f.Events = append(f.Events, ev); return nil }); err != nil {
		a.log.Error("firmware: recording", "result", ev.Result, "err", err)
	}
}

func (a *Appliance) requestRestart(why string) {
	select {
	case a.fw.restart <- why:
	default:
	}
}

// firmwareView is the Settings page's firmware card: the last ten
// recorded outcomes, newest first.
func (a *Appliance) firmwareView() ui.FirmwareView {
	var v ui.FirmwareView
	if f, err := a.store.Firmware(); err == nil {
		v.Highest = f.Highest
		for i := len(f.Events) - 1; i >= 0 && len(v.Events) < 10; i-- {
			e := f.Events[i]
			v.Events = append(v.Events, ui.FirmwareEvent{Time: e.Time, Result: e.Result, From: e.From, To: e.To, Reason: e.Reason, Source: e.Source})
		}
	}
	if p, err := a.fw.u.Pending(); err == nil && p != nil && p.State != update.Done {
		v.Trial = fmt.Sprintf("%s -> %s, %s, start %d of %d, health window %s", p.From, p.To, p.State, p.Boots, p.MaxBoots, p.Window)
	}
	return v
}
