package appliance

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"runtime"

	"outpost/appliance/config"
	"outpost/checks"
	"outpost/firmware/bundle"
	"outpost/firmware/identity"
	"outpost/firmware/provision"
	"outpost/firmware/usb"
	"outpost/healing"
	"outpost/notify"
	"outpost/ui"
)

// CheckConfig validates a config as applySource would use it, without
// putting it in force: every check built, every remediation, every
// notification channel made. A bundle is refused (at the box, and by
// `outpost bundle make` at the office) when this fails.
func CheckConfig(cfg *config.Config) error {
	if _, err := BuildJobs(cfg, checks.Deps{}); err != nil {
		return err
	}
	for _, sp := range cfg.Specs() {
		if _, err := healing.ConfigOf(cfg).Actions(sp, checks.Deps{}); err != nil {
			return err
		}
	}
	_, err := notify.ConfigOf(cfg).Build()
	return err
}

// DefaultBootMSPKeyFiles are where an image's boot partition is mounted
// on the boxes Outpost ships for (Raspberry Pi OS and Debian: /boot/firmware;
// older images: /boot).
func DefaultBootMSPKeyFiles() []string {
	if runtime.GOOS != "linux" {
		return nil
	}
	return []string{"/boot/firmware/" + provision.BootFileName, "/boot/" + provision.BootFileName}
}

// newProvisioner makes the box's provisioner. The MSP key it trusts
// comes from DATA/msp.pub (outpost install --msp-key, outpost bundle
// trust), the boot partition's key file while the box is in factory
// state, or (with --trust-first-stick, in factory state only) the first
// bundle; never from a stick alone.
func (a *Appliance) newProvisioner() *provision.Provisioner {
	boot := a.o.BootMSPKeyFiles
	if boot == nil {
		boot = DefaultBootMSPKeyFiles()
	}
	return provision.New(provision.Options{Store: a.store, Identity: a.id, Clock: a.o.Clock, Log: a.log, BoxVersion: Version, UICert: a.certFP,
		Check: checkConfigText, Activate: func(name string, raw []byte, source string) error {
			// The box's own listeners and stick roots stay unless the
			// bundle sets them (config.KeepBoxLocal).
			raw, kept, err := config.KeepBoxLocal(raw, a.Config())
			if err != nil {
				return err
			}
			cfg, err := config.Parse(name, raw)
			if err != nil {
				return err
			}
			if len(kept) > 0 {
				a.log.Info("provisioning: the bundle does not set these box settings; the box keeps its own", "keys", kept)
			}
			return a.activateProvisioned(cfg, source)
		},
		TrustFile: filepath.Join(a.o.DataDir, provision.TrustFileName), BootFiles: boot,
		TrustFirstStick: a.o.TrustFirstStick, FactoryState: a.factoryState})
}

// factoryState says whether the box is as it left the factory: no web UI
// account, and every config it ever ran was the embedded default (not a
// file, a UI edit or a bundle).
func (a *Appliance) factoryState() (bool, string) {
	n, err := a.store.CountUsers()
	if err != nil {
		return false, "accounts unreadable: " + err.Error()
	}
	if n > 0 {
		return false, fmt.Sprintf("the web UI has %d account(s)", n)
	}
	hist, err := a.store.ConfigHistory()
	if err != nil {
		return false, "config history unreadable: " + err.Error()
	}
	for _, cv := range hist {
		if cv.Source != config.EmbeddedSource { // the source apply records for it
			return false, fmt.Sprintf("config version %d came from %s", cv.Version, cv.Source)
		}
	}
	return true, ""
}

// activateProvisioned puts a bundle's config in force; the provisioner
// has already recorded it in the store.
func (a *Appliance) activateProvisioned(cfg *config.Config, source string) error {
	a.editMu.Lock()
	defer a.editMu.Unlock()
	return a.applySource(cfg, source)
}

// Identity is the box's identity.
func (a *Appliance) Identity() *identity.Identity { return a.id }

// Provisioner applies provisioning bundles (USB sticks, `outpost bundle
// apply`, phone-home replies).
func (a *Appliance) Provisioner() *provision.Provisioner { return a.prov }

// watchSticks runs the provisioning-stick watcher; where it looks follows
// the config in force (a bundle or a UI edit may change it).
func (a *Appliance) watchSticks(ctx context.Context) {
	where := func() usb.Options {
		p := a.Config().Provisioning
		return usb.Options{Roots: p.MountRoots, BlockDevices: p.WatchBlockDevices(), ExtraDevices: p.ExtraDevices, Filesystems: p.Filesystems, Interval: p.Interval}
	}
	apply := func(ctx context.Context, data []byte, source string) (provision.Receipt, error) {
		rc, err := a.prov.ApplyBundle(ctx, data, source)
		if err == nil && rc.Result == provision.Applied {
			rc.ClaimCode = a.unclaimedCode()
		}
		return rc, err
	}
	w := usb.New(usb.Options{Where: where, MountDir: filepath.Join(a.o.DataDir, "usb"), Apply: apply, Refuse: a.prov.Refuse, Firmware: a.stickFirmware, Clock: a.o.Clock, Log: a.log})
	w.Run(ctx)
}

// ProvisionStatus is the control socket's answer to GET /provision.
type ProvisionStatus struct {
	BoxID        string          `json:"box_id"`
	BoxPublicKey string          `json:"box_public_key"`
	BoxRecipient string          `json:"box_recipient"`
	UICertSHA256 string          `json:"ui_cert_sha256"`
	State        provision.State `json:"state"`
}

// TrustRequest is the body of POST /provision/trust.
type TrustRequest struct {
	Key     string `json:"key"`
	Replace bool   `json:"replace"`
}

// ApplyRequest is the body of POST /provision/apply.
type ApplyRequest struct {
	Bundle []byte `json:"bundle"`
	Source string `json:"source"`
}

// provisionRoutes: `outpost bundle apply` and `outpost factory-reset`
// talk to the daemon over the control socket (local root only).
func (a *Appliance) provisionRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /provision", func(w http.ResponseWriter, r *http.Request) {
		st, err := a.prov.State()
		if err != nil {
			writeError(w, http.StatusInternalServerError, err)
			return
		}
		writeJSON(w, http.StatusOK, ProvisionStatus{BoxID: a.id.ID(), BoxPublicKey: a.id.PublicKeyString(), BoxRecipient: a.id.Recipient(), UICertSHA256: a.certFP, State: st})
	})
	mux.HandleFunc("POST /provision/apply", func(w http.ResponseWriter, r *http.Request) {
		var req ApplyRequest
		// base64 in JSON: a third more than the bundle's limit, plus room.
		if err := json.NewDecoder(io.LimitReader(r.Body, 2*bundle.MaxFileSize)).Decode(&req); err != nil {
			writeError(w, http.StatusBadRequest, fmt.Errorf("apply request: %w", err))
			return
		}
		if req.Source == "" {
			req.Source = "outpost bundle apply"
		}
		rc, _ := a.prov.ApplyBundle(r.Context(), req.Bundle, req.Source)
		writeJSON(w, http.StatusOK, rc)
	})
	mux.HandleFunc("POST /provision/trust", func(w http.ResponseWriter, r *http.Request) {
		var req TrustRequest
		if err := json.NewDecoder(io.LimitReader(r.Body, bundle.MaxKeyFile)).Decode(&req); err != nil {
			writeError(w, http.StatusBadRequest, fmt.Errorf("trust request: %w", err))
			return
		}
		k, err := identity.ParsePublicKey(req.Key)
		if err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		st, err := a.prov.Trust(k, req.Replace, "outpost bundle trust at the box")
		if err != nil {
			writeError(w, http.StatusConflict, err)
			return
		}
		writeJSON(w, http.StatusOK, st)
	})
	mux.HandleFunc("POST /provision/factory-reset", func(w http.ResponseWriter, r *http.Request) {
		if err := a.prov.FactoryReset(); err != nil {
			writeError(w, http.StatusInternalServerError, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"result": "reset"})
	})
}

// provisioningView is the settings page's provisioning section.
func (a *Appliance) provisioningView() ui.ProvisioningView {
	st, err := a.prov.State()
	if err != nil {
		return ui.ProvisioningView{LastResult: "unreadable", LastReasons: []string{err.Error()}}
	}
	v := ui.ProvisioningView{Version: st.Version, Site: st.Site, AppliedAt: st.AppliedAt, PinnedAt: st.PinnedAt, PinnedBy: st.PinnedBy, FirstUse: st.FirstUse}
	if k, err := identity.ParsePublicKey(st.PinnedKey); err == nil {
		v.PinnedKey = identity.KeyID(k)
	}
	if l := st.Last; l != nil {
		v.LastResult, v.LastSource, v.LastVersion, v.LastTime, v.LastReasons = l.Result, l.Source, l.BundleVersion, l.Time, l.Reasons
	}
	return v
}
