package agent

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"outpost/checks/agent/wire"
	"outpost/firmware/bundle"
	"outpost/firmware/identity"
	"outpost/firmware/update"
)

// Agent self-update. The box sends a firmware bundle to PathUpdate; the
// agent checks it with firmware/update's rules against the MSP key an
// administrator set on this server (MSPKeyFile: the box never names the
// key, and cannot force anything), installs it beside its own binary and
// exits so that the service manager starts the new version. That version
// must answer the box within its health window, else the previous binary
// is put back (update.Boot counts its starts, update.Watch runs the
// window).

// MSPKeyFile is the MSP's public key in the agent's data directory: the
// only key whose firmware updates the agent installs. Only an
// administrator writes it (`agent install --msp-key`, `agent run
// --msp-key`); the agent refuses a file anyone else could have written.
const MSPKeyFile = "msp.pub"

// highestFile keeps the highest version the agent has run, in the
// firmware directory beside the update marker.
const highestFile = "highest"

// ErrRestart is wrapped by Serve's error when the agent stops so that the
// service manager (systemd's Restart=on-failure, the Windows service's
// restart on failure) starts the binary now installed.
var ErrRestart = update.ErrRestart

// updateReadTimeout bounds reading one update's body (tens of MiB on the
// site LAN), in place of the server's 30 s for other requests.
const updateReadTimeout = 10 * time.Minute

// MSPKeyPath is the agent's MSP key file.
func (a *Agent) MSPKeyPath() string { return filepath.Join(a.o.DataDir, MSPKeyFile) }

// SetMSPKey makes pub the MSP key the agent trusts for updates (what an
// administrator's --msp-key does) and logs it, and the key it replaces.
func (a *Agent) SetMSPKey(pub ed25519.PublicKey) error {
	old, _ := a.MSPKey()
	if old != nil && old.Equal(pub) {
		return nil // given again at every start of `agent run --msp-key`
	}
	if err := writeFileAtomic(a.MSPKeyPath(), []byte(identity.FormatPublicKey(pub)+"\n")); err != nil {
		return fmt.Errorf("MSP key %s: %w", a.MSPKeyPath(), err)
	}
	if old != nil {
		a.o.Log.Warn("MSP key for agent updates replaced", "file", a.MSPKeyPath(), "key", identity.KeyID(pub), "replaced", identity.KeyID(old))
	} else {
		a.o.Log.Info("MSP key for agent updates set", "file", a.MSPKeyPath(), "key", identity.KeyID(pub))
	}
	return nil
}

// MSPKey reads the MSP key the agent trusts; nil without an error when
// none is set. A file others could have written is refused.
func (a *Agent) MSPKey() (ed25519.PublicKey, error) {
	p := a.MSPKeyPath()
	if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err := checkPrivate(p); err != nil {
		return nil, fmt.Errorf("MSP key %s: %w", p, err)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("MSP key %s: %w", p, err)
	}
	if len(data) > bundle.MaxKeyFile {
		return nil, fmt.Errorf("MSP key %s is over %d bytes", p, bundle.MaxKeyFile)
	}
	k, err := identity.ParsePublicKey(strings.TrimSpace(string(data)))
	if err != nil {
		return nil, fmt.Errorf("MSP key %s: %w", p, err)
	}
	return k, nil
}

func (a *Agent) highestPath() string { return filepath.Join(a.o.DataDir, "firmware", highestFile) }

// Highest is the highest version the agent has run ("" before any).
func (a *Agent) Highest() string {
	data, err := os.ReadFile(a.highestPath())
	if err != nil || len(data) > 128 {
		return ""
	}
	v := strings.TrimSpace(string(data))
	if _, err := bundle.CompareVersions(v, v); err != nil {
		return ""
	}
	return v
}

// raiseHighest records v as the highest version run when it is above
// the one recorded (a version like "dev" is not a release: ignored).
func (a *Agent) raiseHighest(v string) {
	if _, err := bundle.CompareVersions(v, v); err != nil {
		return
	}
	if h := a.Highest(); h != "" {
		if c, err := bundle.CompareVersions(v, h); err != nil || c <= 0 {
			return
		}
	}
	if err := os.MkdirAll(filepath.Dir(a.highestPath()), 0o700); err != nil {
		a.o.Log.Error("agent update: recording the highest version", "err", err)
		return
	}
	if err := writeFileAtomic(a.highestPath(), []byte(v+"\n")); err != nil {
		a.o.Log.Error("agent update: recording the highest version", "err", err)
	}
}

// BootUpdate runs at every start, before the agent serves: it counts the
// starts of a new version in its trial (puts the previous binary back and
// returns an error wrapping ErrRestart when they ran out), logs how an
// earlier update ended, and otherwise raises the highest version run to
// the running one. Serve then runs the trial's health window.
func (a *Agent) BootUpdate() error {
	p, err := a.up.Boot()
	if errors.Is(err, ErrRestart) {
		a.o.Log.Error("agent update: the new version used up its starts; the previous binary is back, restarting into it", "err", err)
		return err
	}
	if err != nil {
		a.o.Log.Error("agent update: this start failed; the service manager starts it again", "err", err)
		return err
	}
	switch {
	case p == nil:
		a.raiseHighest(a.o.Version)
	case p.State == update.Done:
		a.o.Log.Error("agent update "+p.Result, "from", p.From, "to", p.To, "running", a.o.Version, "reason", p.Reason)
		if err := a.up.Finish(); err != nil {
			a.o.Log.Error("agent update: removing the update marker", "err", err)
		}
		a.raiseHighest(a.o.Version)
	case p.State == update.Trial:
		a.o.Log.Warn("agent update: running the new version in its health window: it must answer the box", "version", p.To, "from", p.From, "start", p.Boots, "of", p.MaxBoots, "window", p.Window)
		a.trial = p
	}
	return nil
}

// watchTrial is the new version's health window: it is healthy once it
// answered a request of the box it is paired with. Confirmed, the version
// becomes the highest run; otherwise the previous binary is put back and
// the returned error wraps ErrRestart.
func (a *Agent) watchTrial(ctx context.Context, p *update.Pending) error {
	err := update.Watch(ctx, p, 250*time.Millisecond, func() (bool, string) {
		if update.Fault(a.o.Version, "unhealthy") {
			return false, "firmware test fault: the box's requests are taken as not answered"
		}
		if a.answered.Load() {
			return true, ""
		}
		return false, "the box has not been answered since the start"
	})
	if ctx.Err() != nil {
		return nil
	}
	if err == nil {
		a.raiseHighest(p.To)
		if err := a.up.Finish(); err != nil {
			a.o.Log.Error("agent update: removing the update marker", "err", err)
		}
		a.o.Log.Warn("agent update confirmed: the new version answered the box", "version", p.To, "from", p.From, "start", p.Boots)
		return nil
	}
	a.o.Log.Error("agent update: the new version is unhealthy; rolling back", "version", p.To, "from", p.From, "reason", err)
	rerr := a.up.Rollback(ctx, p.Binary, err.Error())
	if errors.Is(rerr, update.ErrRestart) {
		return rerr
	}
	a.o.Log.Error("agent update: the new version cannot be rolled back", "version", p.To, "err", rerr)
	return nil
}

// update installs a firmware bundle the box sent. Refusals are logged
// with the versions and answered with the reason; nothing changes.
func (a *Agent) update(w http.ResponseWriter, r *http.Request) {
	http.NewResponseController(w).SetReadDeadline(time.Now().Add(updateReadTimeout))
	body := http.MaxBytesReader(w, r.Body, bundle.MaxFirmwareHeader+1+bundle.MaxFirmwareBinary+1)
	highest := a.Highest()
	deny := func(to, why string) {
		// Read what the box still sends, so it hears the reason rather
		// than a connection reset; the body is bounded above.
		io.Copy(io.Discard, body)
		a.o.Log.Warn("agent update refused", "from", r.RemoteAddr, "running", a.o.Version, "highest", highest, "to", to, "reason", why)
		refuse(w, http.StatusForbidden, wire.RefusedUpdate, fmt.Sprintf("update refused by the agent: %s (nothing changed)", why))
	}
	key, err := a.MSPKey()
	if err != nil {
		deny("", err.Error())
		return
	}
	if key == nil {
		deny("", "this agent trusts no MSP key: every update is refused until an administrator sets one on this server (outpost agent install --msp-key msp.pub)")
		return
	}
	bin := a.o.Binary
	if bin == "" {
		deny("", "the agent does not know its installed binary")
		return
	}
	// The box cannot force anything, nor choose the window.
	req := update.Request{Binary: bin, Window: a.o.UpdateWindow, MaxBoots: update.DefaultMaxBoots, Source: "box " + r.RemoteAddr,
		Rules: update.Rules{Trusted: key, Highest: highest, Running: a.o.Version, Now: a.o.Now(), Agent: true}}
	f, p, err := a.up.Apply(r.Context(), body, req)
	if err != nil {
		to := ""
		if f != nil {
			to = f.Version
		}
		deny(to, err.Error())
		return
	}
	a.o.Log.Warn("agent update installed; restarting into it", "from", p.From, "to", p.To, "binary", p.Binary, "previous", p.Prev, "window", p.Window, "box", r.RemoteAddr)
	writeJSON(w, http.StatusOK, wire.UpdateResult{Result: update.Applied, From: p.From, To: p.To, Window: p.Window.String()})
	if fl, ok := w.(http.Flusher); ok {
		fl.Flush()
	}
	select {
	case a.restart <- fmt.Sprintf("%s installed in place of %s", p.To, p.From):
	default:
	}
}
