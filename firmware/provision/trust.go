package provision

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"outpost/firmware/bundle"
	"outpost/firmware/identity"
)

// TrustFileName is the installed MSP key's file in the data directory.
const TrustFileName = "msp.pub"

// BootFileName is the MSP key file an image's boot partition may carry.
const BootFileName = "outpost-msp.pub"

// LoadTrust runs at start. A box that trusts no MSP key yet trusts the
// installed one (TrustFile) or, in factory state, the boot partition's.
// A TrustFile naming another key than the one trusted is reported and
// ignored: the trusted key changes only by a bundle signed with it, or at
// the box (Trust with replace, FactoryReset).
func (p *Provisioner) LoadTrust() {
	p.mu.Lock()
	defer p.mu.Unlock()
	st, err := p.State()
	if err != nil {
		p.o.Log.Error("provisioning: state unreadable; no MSP key trusted until it is repaired", "err", err)
		return
	}
	if st.PinnedKey == "" {
		if _, ok := p.trustAnchor(st); !ok {
			msg := "provisioning: this box trusts no MSP key: every stick is refused until it is told one (outpost bundle trust, outpost install --msp-key, " + BootFileName + " on the boot partition)"
			if ok, _ := p.firstUse(st); ok {
				msg = "provisioning: this box trusts no MSP key and is in factory state: the first stick inserted chooses it (trust on first use, --trust-first-stick)"
			}
			p.o.Log.Warn(msg)
		}
		return
	}
	if p.o.TrustFile == "" {
		return
	}
	k, err := readTrustFile(p.o.TrustFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		p.writeTrustFile(st.PinnedKey)
	case err != nil:
		p.o.Log.Warn("provisioning: installed MSP key file ignored", "file", p.o.TrustFile, "err", err)
	case k != st.PinnedKey:
		p.o.Log.Warn("provisioning: installed MSP key file names another key than the one this box trusts; it is ignored (`outpost bundle trust FILE --replace` at the box changes the trusted key)",
			"file", p.o.TrustFile, "file_key", keyID(k), "trusted", keyID(st.PinnedKey), "pinned_by", st.PinnedBy)
	}
}

// Trust makes key the MSP key the box trusts, as told at the box (`outpost
// bundle trust`, through the root-only control socket). A box that trusts
// another key keeps it unless replace is set. Telling the box the key it
// trusts by first use confirms it.
func (p *Provisioner) Trust(key ed25519.PublicKey, replace bool, by string) (State, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	st, err := p.State()
	if err != nil {
		return st, err
	}
	k := identity.FormatPublicKey(key)
	switch {
	case st.PinnedKey == k && !st.FirstUse:
		p.writeTrustFile(k)
		return st, nil
	case st.PinnedKey == k:
		st.PinnedBy, st.FirstUse = by+", confirming the key pinned on first use", false
	case st.PinnedKey != "" && !replace:
		return st, fmt.Errorf("this box trusts MSP key %s (pinned %s, %s); to trust %s instead, run again with --replace",
			keyID(st.PinnedKey), st.PinnedAt.Format("2006-01-02T15:04:05Z07:00"), st.PinnedBy, identity.KeyID(key))
	default:
		if st.PinnedKey != "" {
			p.o.Log.Warn("provisioning: MSP key replaced at the box", "was", keyID(st.PinnedKey), "now", identity.KeyID(key))
		}
		st.PinnedKey, st.PinnedAt, st.PinnedBy, st.FirstUse = k, p.o.Clock.Now().UTC(), by, false
	}
	data, err := json.Marshal(st)
	if err != nil {
		return st, err
	}
	if err := p.o.Store.PutBlob(StateBlob, data); err != nil {
		return st, fmt.Errorf("recording the trusted MSP key: %w", err)
	}
	p.o.Log.Warn("provisioning: MSP key trusted", "key", identity.KeyID(key), "by", st.PinnedBy)
	p.writeTrustFile(k)
	return st, nil
}

// trustAnchor pins the installed key, or in factory state the boot
// partition's, on a box that trusts none; p.mu is held.
func (p *Provisioner) trustAnchor(st State) (State, bool) {
	key, by := p.anchorKey(st)
	if key == "" {
		return st, false
	}
	st.PinnedKey, st.PinnedAt, st.PinnedBy, st.FirstUse = key, p.o.Clock.Now().UTC(), by, false
	data, err := json.Marshal(st)
	if err == nil {
		err = p.o.Store.PutBlob(StateBlob, data)
	}
	if err != nil {
		p.o.Log.Error("provisioning: recording the trusted MSP key", "err", err)
		return st, false
	}
	p.o.Log.Warn("provisioning: MSP key trusted", "key", keyID(key), "by", by)
	if p.o.TrustFile != "" && by != "installed key file "+p.o.TrustFile {
		p.writeTrustFile(key)
	}
	return st, true
}

func (p *Provisioner) anchorKey(st State) (key, by string) {
	if p.o.TrustFile != "" {
		k, err := readTrustFile(p.o.TrustFile)
		switch {
		case err == nil:
			return k, "installed key file " + p.o.TrustFile
		case !errors.Is(err, fs.ErrNotExist):
			p.o.Log.Error("provisioning: installed MSP key file not trusted", "file", p.o.TrustFile, "err", err)
		}
	}
	for _, f := range p.o.BootFiles {
		k, err := readTrustFile(f)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			p.o.Log.Error("provisioning: boot partition MSP key file not trusted", "file", f, "err", err)
			continue
		}
		if ok, why := p.factory(st); !ok {
			p.o.Log.Warn("provisioning: boot partition MSP key file ignored: the box is not in factory state", "file", f, "why", why)
			return "", ""
		}
		return k, "boot partition key file " + f + ", read in factory state"
	}
	return "", ""
}

// firstUse says whether the box may trust the key of the bundle it is
// applying (trust on first use); when not, why completes the refusal.
func (p *Provisioner) firstUse(st State) (ok bool, why string) {
	if !p.o.TrustFirstStick {
		return false, ""
	}
	if ok, why := p.factory(st); !ok {
		return false, "; trust on first use (--trust-first-stick) is on, but the box is not in factory state: " + why
	}
	return true, ""
}

func (p *Provisioner) factory(st State) (bool, string) {
	if st.Version != 0 {
		return false, fmt.Sprintf("it applied bundle v%d", st.Version)
	}
	if p.o.FactoryState == nil {
		return false, "no factory state known"
	}
	return p.o.FactoryState()
}

// writeTrustFile keeps TrustFile in step with the trusted key; a failure
// is logged (the store is what the box trusts).
func (p *Provisioner) writeTrustFile(key string) {
	if p.o.TrustFile == "" {
		return
	}
	if err := writeKeyFile(p.o.TrustFile, key); err != nil {
		p.o.Log.Error("provisioning: installed MSP key file not updated", "file", p.o.TrustFile, "err", err)
	}
}

// WriteTrustFile installs key as the MSP key of a box whose daemon is not
// running (`outpost install --msp-key`, `outpost bundle trust` with the
// daemon stopped): the daemon trusts it at start unless it trusts another
// key already. A file naming another key is replaced only when replace is
// set; replaced says it was.
func WriteTrustFile(path string, key ed25519.PublicKey, replace bool) (replaced bool, err error) {
	k := identity.FormatPublicKey(key)
	old, err := readTrustFile(path)
	switch {
	case err == nil && old == k:
		return false, nil
	case err == nil && !replace:
		return false, fmt.Errorf("%s names MSP key %s; to install %s instead, run again with --replace", path, keyID(old), identity.KeyID(key))
	case err == nil:
		replaced = true
	}
	return replaced, writeKeyFile(path, k)
}

// readTrustFile reads an MSP public key file that only the box's own user
// (or root) can have written: a regular file, not a link, not writable by
// group or others.
func readTrustFile(path string) (string, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return "", err
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%s is not a regular file (%s); refusing to follow it", path, fi.Mode().Type())
	}
	if fi.Size() > bundle.MaxKeyFile {
		return "", fmt.Errorf("%s is %d bytes: not a public key file", path, fi.Size())
	}
	if err := checkOwner(path, fi); err != nil {
		return "", err
	}
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, bundle.MaxKeyFile))
	if err != nil {
		return "", err
	}
	k, err := identity.ParsePublicKey(string(data))
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return identity.FormatPublicKey(k), nil
}

// writeKeyFile writes a public key file through a synced temporary file
// and a rename: a power cut leaves the old key or the new one.
func writeKeyFile(path, key string) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".msp-*.pub")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(key + "\n"); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	// A public key: readable by all; only its owner may change it.
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
