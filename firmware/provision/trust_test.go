package provision_test

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"outpost/firmware/bundle"
	"outpost/firmware/identity"
	"outpost/firmware/provision"
)

func pub(k ed25519.PrivateKey) string {
	return identity.FormatPublicKey(k.Public().(ed25519.PublicKey))
}

func writeKey(t *testing.T, path string, k ed25519.PrivateKey, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(pub(k)+"\n"), mode); err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, mode)
}

// TestInstalledKeyFile: the key installed with the box is trusted at
// start, only that key's bundles apply, and a file changed later does
// not replace the trusted key.
func TestInstalledKeyFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, provision.TrustFileName)
	msp, other := mspKey(t), mspKey(t)
	writeKey(t, file, msp, 0o644)
	r := newRig(t, func(o *provision.Options) { o.TrustFile = file })
	r.p.LoadTrust()
	st, _ := r.p.State()
	if st.PinnedKey != pub(msp) || st.PinnedBy != "installed key file "+file || st.FirstUse {
		t.Fatalf("state after start: %+v", st)
	}
	r.refused(t, r.make(t, other, 1, nil), "this box trusts "+identity.KeyID(msp.Public().(ed25519.PublicKey)))
	if rc, err := r.apply(t, r.make(t, msp, 2, nil)); err != nil || rc.Result != provision.Applied {
		t.Fatalf("the installed key's bundle: %+v %v", rc, err)
	}
	// Someone writes another key into the file: ignored.
	writeKey(t, file, other, 0o644)
	r.p.LoadTrust()
	r.refused(t, r.make(t, other, 3, nil), "this box trusts "+identity.KeyID(msp.Public().(ed25519.PublicKey)))

	// Factory reset removes the installed key: nothing is trusted then.
	if err := r.p.FactoryReset(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Fatalf("installed key after factory reset: %v", err)
	}
	r.refused(t, r.make(t, msp, 4, nil), "this box trusts no MSP key")
}

// TestInstalledKeyFileMustBeTheBoxs: a key file others may write, or a
// link, is not trusted.
func TestInstalledKeyFileMustBeTheBoxs(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, provision.TrustFileName)
	msp := mspKey(t)
	writeKey(t, file, msp, 0o666)
	r := newRig(t, func(o *provision.Options) { o.TrustFile = file })
	r.p.LoadTrust()
	if _, ok := r.p.PinnedKey(); ok {
		t.Fatal("a world-writable key file was trusted")
	}
	os.Remove(file)
	real := filepath.Join(dir, "elsewhere.pub")
	writeKey(t, real, msp, 0o644)
	os.Symlink(real, file)
	r.refused(t, r.make(t, msp, 1, nil), "this box trusts no MSP key")
	os.Remove(file)
	os.WriteFile(file, []byte("ssh-ed25519 AAAA\n"), 0o644)
	r.refused(t, r.make(t, msp, 1, nil), "this box trusts no MSP key")
}

// TestBootPartitionKeyOnlyInFactoryState: the boot partition's key file
// is trusted by a box in factory state, not by one set up otherwise; and
// the trusted key is written to the installed key file.
func TestBootPartitionKeyOnlyInFactoryState(t *testing.T) {
	boot := filepath.Join(t.TempDir(), provision.BootFileName)
	msp := mspKey(t)
	writeKey(t, boot, msp, 0o644)
	for _, factory := range []bool{false, true} {
		trustFile := filepath.Join(t.TempDir(), provision.TrustFileName)
		r := newRig(t, func(o *provision.Options) {
			o.BootFiles, o.TrustFile = []string{filepath.Join(t.TempDir(), "absent"), boot}, trustFile
			o.FactoryState = func() (bool, string) { return factory, "config version 1 came from /etc/outpost/site.yaml" }
		})
		r.p.LoadTrust()
		k, ok := r.p.PinnedKey()
		if ok != factory || (ok && !k.Equal(msp.Public())) {
			t.Fatalf("factory=%t: trusted %v %v", factory, ok, k)
		}
		if !factory {
			r.refused(t, r.make(t, msp, 1, nil), "this box trusts no MSP key")
			continue
		}
		if st, _ := r.p.State(); !strings.HasPrefix(st.PinnedBy, "boot partition key file "+boot) {
			t.Fatalf("pinned by %q", st.PinnedBy)
		}
		if b, _ := os.ReadFile(trustFile); strings.TrimSpace(string(b)) != pub(msp) {
			t.Fatalf("installed key file: %q", b)
		}
	}
}

// TestTrustOnFirstUse: only with TrustFirstStick and only in factory
// state does the first bundle's key become trusted, flagged as such in
// the state and the receipt until confirmed at the box.
func TestTrustOnFirstUse(t *testing.T) {
	msp := mspKey(t)
	r := newRig(t, func(o *provision.Options) { o.FactoryState = func() (bool, string) { return true, "" } })
	r.refused(t, r.make(t, msp, 1, nil), "this box trusts no MSP key")

	r = newRig(t, func(o *provision.Options) {
		o.TrustFirstStick, o.FactoryState = true, func() (bool, string) { return false, "the web UI has 1 account" }
	})
	r.refused(t, r.make(t, msp, 1, nil), "trust on first use (--trust-first-stick) is on, but the box is not in factory state: the web UI has 1 account")

	r = newRig(t, func(o *provision.Options) {
		o.TrustFirstStick, o.FactoryState = true, func() (bool, string) { return true, "" }
	})
	rc, err := r.apply(t, r.make(t, msp, 1, nil))
	if err != nil || len(rc.Notes) != 1 || !strings.Contains(rc.Notes[0], "pinned by trust on first use") {
		t.Fatalf("first bundle: %+v %v", rc, err)
	}
	st, _ := r.p.State()
	if st.PinnedKey != pub(msp) || !st.FirstUse || !strings.HasPrefix(st.PinnedBy, "trust on first use: bundle v1 from test stick") {
		t.Fatalf("state after trust on first use: %+v", st)
	}
	r.refused(t, r.make(t, mspKey(t), 2, nil), "this box trusts")
	// Confirmed at the box: no longer flagged.
	if st, err := r.p.Trust(msp.Public().(ed25519.PublicKey), false, "outpost bundle trust at the box"); err != nil || st.FirstUse || !strings.Contains(st.PinnedBy, "confirming") {
		t.Fatalf("confirmed: %+v %v", st, err)
	}
}

// TestRotation: a bundle signed by the trusted key that names the next
// key moves the box to it; the old key is refused from then on.
func TestRotation(t *testing.T) {
	r := newRig(t)
	oldKey, newKey := mspKey(t), mspKey(t)
	r.trust(t, oldKey)
	rc, err := r.apply(t, r.make(t, oldKey, 1, func(m *bundle.Manifest) { m.NextMSPKey = pub(newKey) }))
	if err != nil || len(rc.Notes) != 1 || !strings.Contains(rc.Notes[0], "MSP key rotated") {
		t.Fatalf("rotation bundle: %+v %v", rc, err)
	}
	r.refused(t, r.make(t, oldKey, 2, nil), "this box trusts "+identity.KeyID(newKey.Public().(ed25519.PublicKey)))
	if _, err := r.apply(t, r.make(t, newKey, 3, nil)); err != nil {
		t.Fatal(err)
	}
	// A rotation bundle from a key the box does not trust rotates nothing.
	r.refused(t, r.make(t, oldKey, 4, func(m *bundle.Manifest) { m.NextMSPKey = pub(mspKey(t)) }), "this box trusts")
	if k, _ := r.p.PinnedKey(); !k.Equal(newKey.Public()) {
		t.Fatal("a refused bundle rotated the key")
	}
}

// TestTrustReplace: at the box another key replaces the trusted one only
// when asked to.
func TestTrustReplace(t *testing.T) {
	r := newRig(t)
	a, b := mspKey(t), mspKey(t)
	r.trust(t, a)
	if _, err := r.p.Trust(b.Public().(ed25519.PublicKey), false, "at the box"); err == nil || !strings.Contains(err.Error(), "--replace") {
		t.Fatalf("replace without asking: %v", err)
	}
	if st, err := r.p.Trust(b.Public().(ed25519.PublicKey), true, "at the box"); err != nil || st.PinnedKey != pub(b) {
		t.Fatalf("replace: %+v %v", st, err)
	}
}

// TestAnyBoxBundleBoundToSite: a box provisioned for one site refuses an
// any-box bundle for another unless it names the box's site in
// resite_from; a bundle made for this box may move it.
func TestAnyBoxBundleBoundToSite(t *testing.T) {
	r := newRig(t)
	msp := mspKey(t)
	r.trust(t, msp)
	site := func(name string) func(*bundle.Manifest) { return func(m *bundle.Manifest) { m.Site = name } }
	if _, err := r.apply(t, r.make(t, msp, 1, site("Client B"))); err != nil {
		t.Fatal(err)
	}
	r.refused(t, r.make(t, msp, 2, site("Client A")), `an any-box bundle for site "Client A"; this box is provisioned for site "Client B"`)
	r.refused(t, r.make(t, msp, 2, func(m *bundle.Manifest) { m.Site, m.ResiteFrom = "Client A", "Client C" }), `provisioned for site "Client B"`)
	if _, err := r.apply(t, r.make(t, msp, 3, func(m *bundle.Manifest) { m.Site, m.ResiteFrom = "Client A", "Client B" })); err != nil {
		t.Fatal(err)
	}
	if _, err := r.apply(t, r.make(t, msp, 4, func(m *bundle.Manifest) {
		m.Site, m.Target = "Client D", r.id.ID()
		if err := m.EncryptConfig(r.id.Recipient(), []byte(siteYAML)); err != nil {
			t.Fatal(err)
		}
	})); err != nil {
		t.Fatalf("a bundle made for this box moves it: %v", err)
	}
}

// TestPinFromEarlierVersionShownAsFirstUse: a key pinned before trust
// anchors existed was pinned by the first bundle, and says so.
func TestPinFromEarlierVersionShownAsFirstUse(t *testing.T) {
	r := newRig(t)
	if err := r.st.PutBlob(provision.StateBlob, []byte(`{"pinned_key":"`+pub(mspKey(t))+`","version":3}`)); err != nil {
		t.Fatal(err)
	}
	if st, _ := r.p.State(); !st.FirstUse || !strings.HasPrefix(st.PinnedBy, "trust on first use") {
		t.Fatalf("legacy pin: %+v", st)
	}
}

func TestWriteTrustFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), provision.TrustFileName)
	a, b := mspKey(t), mspKey(t)
	for i, c := range []struct {
		key           ed25519.PrivateKey
		replace, want bool
		err           string
	}{{a, false, false, ""}, {a, false, false, ""}, {b, false, false, "--replace"}, {b, true, true, ""}} {
		replaced, err := provision.WriteTrustFile(file, c.key.Public().(ed25519.PublicKey), c.replace)
		if replaced != c.want || (err == nil) != (c.err == "") || (err != nil && !strings.Contains(err.Error(), c.err)) {
			t.Fatalf("%d: %v %v", i, replaced, err)
		}
	}
	fi, _ := os.Stat(file)
	if got, _ := os.ReadFile(file); strings.TrimSpace(string(got)) != pub(b) || fi.Mode().Perm() != 0o644 {
		t.Fatalf("file %q mode %v", got, fi.Mode())
	}
}
