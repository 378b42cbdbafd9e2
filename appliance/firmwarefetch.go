package appliance

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	phwire "outpost/appliance/phonehome/wire"
	"outpost/firmware/bundle"
	"outpost/firmware/update"
	"outpost/store"
)

// A firmware notice from phone home (signed by the MSP key, verified by
// the phone) names a firmware bundle at a URL. The box downloads it
// through phone home's HTTP client (its proxy and trust settings),
// resuming after a cut, checks the SHA-256 the notice signed, and applies
// it under the same rules as a stick, never forced. The notice is kept in
// DATA/firmware/notice.json until it is done with, so a box restarted
// mid-download carries on.

// fetchTries bounds the downloads of one notice; fetchBackoffMax the wait
// between two.
const (
	fetchTries      = 8
	fetchBackoffMax = time.Minute
	fetchTimeout    = 15 * time.Minute
)

func (a *Appliance) noticePath() string {
	return filepath.Join(a.o.DataDir, "firmware", "notice.json")
}

// downloadPath is where n's bundle is downloaded to, named by its hash
// (a notice whose hash is not 64 hex digits gets a fixed name: it is
// refused before anything is downloaded).
func (a *Appliance) downloadPath(n phwire.FirmwareNotice) string {
	name := "download-invalid.bundle"
	if validSHA256(n.SHA256) {
		name = "download-" + strings.ToLower(n.SHA256) + ".bundle"
	}
	return filepath.Join(a.o.DataDir, "firmware", name)
}

func validSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// noteFirmware is phone home's OnFirmware (the signature and expiry
// checked): a notice created before the newest one the box took is
// refused (held back and replayed, it would freeze or roll the box back);
// otherwise it is recorded as the newest, reported in the next summary,
// kept on disk, and handed to the download loop.
func (a *Appliance) noteFirmware(n phwire.FirmwareNotice) error {
	err := a.store.UpdateFirmware(func(f *store.FirmwareState) error {
		if n.Created.Before(f.LastNotice) {
			return fmt.Errorf("it was created %s, before the newest notice this box took (%s): an old notice replayed",
				n.Created.UTC().Format(time.RFC3339), f.LastNotice.UTC().Format(time.RFC3339))
		}
		f.LastNotice = n.Created
		return nil
	})
	if err != nil {
		a.log.Warn("firmware notice refused", "version", n.Version, "url", n.URL, "reason", err)
		return err
	}
	a.log.Warn("firmware update available (notice signed by the MSP)", "version", n.Version, "url", n.URL, "sha256", n.SHA256, "expires", n.Expires)
	a.setFirmwareNote("available", "version "+n.Version+" at "+n.URL)
	if err := a.saveNotice(n); err != nil {
		a.log.Error("firmware: keeping the notice", "err", err)
	}
	select {
	case a.fw.notices <- n:
	default: // one is waiting: the newest is on disk, read when it runs
	}
	return nil
}

func (a *Appliance) setFirmwareNote(result, detail string) {
	a.firmware.mu.Lock()
	a.firmware.ev = &phwire.Event{Time: a.o.Clock.Now().UTC(), Result: result, Detail: detail}
	a.firmware.mu.Unlock()
}

func (a *Appliance) saveNotice(n phwire.FirmwareNotice) error {
	data, err := json.Marshal(n)
	if err != nil {
		return err
	}
	p := a.noticePath()
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

// loadNotice is the notice kept on disk, if any (a damaged one is
// removed: the next reply from hq brings it again while it is pending).
func (a *Appliance) loadNotice() (phwire.FirmwareNotice, bool) {
	var n phwire.FirmwareNotice
	data, err := os.ReadFile(a.noticePath())
	if err != nil {
		return n, false
	}
	if err := json.Unmarshal(data, &n); err != nil || n.Version == "" {
		a.log.Error("firmware: the kept notice is unreadable; dropped", "file", a.noticePath(), "err", err)
		os.Remove(a.noticePath())
		return n, false
	}
	return n, true
}

// doneWithNotice forgets the notice and whatever was downloaded for it.
func (a *Appliance) doneWithNotice(n phwire.FirmwareNotice) {
	if kept, ok := a.loadNotice(); ok && kept.SHA256 == n.SHA256 {
		os.Remove(a.noticePath())
	}
	os.Remove(a.downloadPath(n))
	os.Remove(a.downloadPath(n) + ".part")
}

// runFirmwareFetch takes notices one at a time until ctx ends: the one
// kept on disk first (a download a restart interrupted), then those phone
// home hands over.
func (a *Appliance) runFirmwareFetch(ctx context.Context) {
	if n, ok := a.loadNotice(); ok {
		a.fetchFirmware(ctx, n)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case n := <-a.fw.notices:
			if kept, ok := a.loadNotice(); ok {
				n = kept // the newest notice, if several came
			}
			a.fetchFirmware(ctx, n)
		}
	}
}

// fetchFirmware downloads and applies the update n names.
func (a *Appliance) fetchFirmware(ctx context.Context, n phwire.FirmwareNotice) {
	if now := a.o.Clock.Now(); !now.Before(n.Expires) {
		a.refuseNotice(n, fmt.Sprintf("the notice expired at %s (box clock %s)", n.Expires.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339)))
		return
	}
	if c, err := bundle.CompareVersions(n.Version, Version); err == nil && c == 0 {
		a.log.Info("firmware notice: the box runs this version already", "version", n.Version)
		a.doneWithNotice(n)
		return
	}
	if p, _ := a.fw.u.Pending(); p != nil && p.State != update.Done {
		a.log.Info("firmware notice: an update is in its health window; the notice waits for the next start", "version", n.Version)
		return
	}
	if f, err := a.store.Firmware(); err == nil && f.Highest != "" {
		if c, err := bundle.CompareVersions(n.Version, f.Highest); err == nil && c < 0 {
			a.refuseNotice(n, fmt.Sprintf("%s is a downgrade: this box has run %s; not downloaded", n.Version, f.Highest))
			return
		}
	}
	if !validSHA256(n.SHA256) {
		a.refuseNotice(n, fmt.Sprintf("the notice's sha256 %q is not 64 hex digits", n.SHA256))
		return
	}
	u, err := url.Parse(n.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		a.refuseNotice(n, fmt.Sprintf("the notice's URL %q is not an http(s) URL", n.URL))
		return
	}
	dst := a.downloadPath(n)
	var last error
	mismatches := 0
	for try := 1; try <= fetchTries; try++ {
		client := a.downloadClient()
		if client == nil {
			last = errors.New("phone home is off")
		} else {
			a.setFirmwareNote("downloading", fmt.Sprintf("version %s from %s, try %d of %d", n.Version, n.URL, try, fetchTries))
			tctx, cancel := context.WithTimeout(ctx, fetchTimeout)
			got, err := update.Fetch(tctx, client, n.URL, dst, n.SHA256, bundle.MaxFirmwareHeader+1+bundle.MaxFirmwareBinary)
			cancel()
			if err == nil {
				last = nil
				a.log.Info("firmware: downloaded", "version", n.Version, "url", n.URL, "bytes_this_try", got, "try", try)
				break
			}
			last = err
			// Other bytes than signed twice (once may be a proxy's
			// damage): the URL serves another file.
			if errors.Is(err, update.ErrHashMismatch) {
				if mismatches++; mismatches == 2 {
					a.refuseNotice(n, fmt.Sprintf("%s from %s: %v", n.Version, n.URL, err))
					return
				}
			}
		}
		if ctx.Err() != nil {
			return // stopping: the notice and the partial download stay for the next start
		}
		wait := min(time.Second<<(try-1), fetchBackoffMax)
		a.log.Warn("firmware: download failed; trying again", "version", n.Version, "url", n.URL, "try", try, "of", fetchTries, "in", wait, "err", last)
		t := a.o.Clock.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
	}
	if last != nil {
		a.refuseNotice(n, fmt.Sprintf("download of %s from %s failed %d times: %v", n.Version, n.URL, fetchTries, last))
		return
	}
	f, err := os.Open(dst)
	if err != nil {
		a.refuseNotice(n, err.Error())
		return
	}
	req, err := a.firmwareRequest(url.Values{"source": {"phone home " + n.URL}})
	if err != nil {
		f.Close()
		a.refuseNotice(n, err.Error())
		return
	}
	res := a.applyFirmware(ctx, f, req)
	f.Close()
	a.doneWithNotice(n)
	if res.Result != update.Applied {
		a.setFirmwareNote(update.Refused, fmt.Sprintf("version %s from %s: %s", n.Version, n.URL, res.Reason))
		a.kickPhoneHome("firmware update refused")
		return
	}
	a.setFirmwareNote(update.Applied, fmt.Sprintf("version %s from %s installed; restarting into it", n.Version, n.URL))
	a.requestRestart(fmt.Sprintf("%s installed in place of %s from phone home", res.To, res.From))
}

// refuseNotice records a notice that will not be applied, and says so in
// the next summary.
func (a *Appliance) refuseNotice(n phwire.FirmwareNotice, reason string) {
	a.log.Warn("firmware: update from phone home refused", "version", n.Version, "url", n.URL, "reason", reason)
	a.recordFirmware(store.FirmwareEvent{Time: a.o.Clock.Now().UTC(), Result: update.Refused, From: Version, To: n.Version, Reason: reason, Source: "phone home " + n.URL})
	a.setFirmwareNote(update.Refused, fmt.Sprintf("version %s from %s: %s", n.Version, n.URL, reason))
	a.doneWithNotice(n)
	a.kickPhoneHome("firmware update refused")
}

// downloadClient is phone home's HTTP client (its proxy and trust
// settings) without its per-request timeout, or nil while phone home is
// off.
func (a *Appliance) downloadClient() *http.Client {
	a.mu.RLock()
	p := a.phone
	a.mu.RUnlock()
	if p == nil {
		return nil
	}
	return p.DownloadClient()
}
