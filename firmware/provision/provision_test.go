package provision_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"outpost/appliance/config"
	"outpost/checks/clock"
	"outpost/firmware/bundle"
	"outpost/firmware/identity"
	"outpost/firmware/provision"
	"outpost/store"
)

const siteYAML = `site: Acme Dental
devices:
  - {name: printer, address: 127.0.0.1, snmp: {community: s3cret-community}}
checks:
  - {id: web, kind: tcp, target: 127.0.0.1:1, interval: 5s}
`

type rig struct {
	st     *store.Store
	id     *identity.Identity
	p      *provision.Provisioner
	clk    *clock.Fake
	path   string
	active []string
}

func newRig(t *testing.T, mods ...func(*provision.Options)) *rig {
	t.Helper()
	r := &rig{clk: clock.NewFake(time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)), path: filepath.Join(t.TempDir(), "outpost.db")}
	var err error
	if r.st, err = store.Open(r.path, store.Options{Clock: r.clk}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.st.Close() })
	if r.id, err = identity.Load(r.st); err != nil {
		t.Fatal(err)
	}
	r.st.SetSealer(r.id)
	o := provision.Options{Store: r.st, Identity: r.id, Clock: r.clk, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		BoxVersion: "v1.2.3", UICert: "AB:CD",
		Check: func(name string, raw []byte) error { _, err := config.Parse(name, raw); return err },
		Activate: func(name string, raw []byte, source string) error {
			c, err := config.Parse(name, raw)
			if err != nil {
				return err
			}
			r.active = append(r.active, c.Site+" "+source)
			return nil
		}}
	for _, mod := range mods {
		mod(&o)
	}
	r.p = provision.New(o)
	return r
}

// TestBeforeSwitchHook: the hook runs once per applied bundle, after every
// rule passed and before anything is switched (nothing pinned, no config
// recorded, nothing activated yet), and never for a refused bundle.
func TestBeforeSwitchHook(t *testing.T) {
	var r *rig
	var seen []string
	r = newRig(t, func(o *provision.Options) {
		o.BeforeSwitch = func() {
			st, err := r.p.State()
			_, have, cerr := r.st.CurrentConfig()
			seen = append(seen, fmt.Sprintf("pinned=%t version=%d config=%t active=%d err=%v/%v", st.PinnedKey != "", st.Version, have, len(r.active), err, cerr))
		}
	})
	msp := mspKey(t)
	r.trust(t, msp)
	if _, err := r.apply(t, r.make(t, msp, 5, nil)); err != nil {
		t.Fatal(err)
	}
	want := "pinned=true version=0 config=false active=0 err=<nil>/<nil>"
	if len(seen) != 1 || seen[0] != want {
		t.Fatalf("hook saw %q, want [%q]", seen, want)
	}
	if st, _ := r.p.State(); st.Version != 5 || len(r.active) != 1 {
		t.Fatalf("after the hook the apply must finish: %+v, activated %v", st, r.active)
	}
	r.refused(t, r.make(t, msp, 5, nil), "version 5 is not newer")
	if len(seen) != 1 {
		t.Fatalf("hook ran for a refused bundle: %q", seen)
	}
}

func mspKey(t *testing.T) ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func (r *rig) make(t *testing.T, key ed25519.PrivateKey, version uint64, mod func(*bundle.Manifest)) []byte {
	t.Helper()
	now := r.clk.Now()
	m := bundle.Manifest{Version: version, Created: now.Add(-time.Hour), Expires: now.Add(24 * time.Hour), Target: bundle.AnyBox, Site: "Acme Dental", Config: siteYAML}
	if mod != nil {
		mod(&m)
	}
	b, err := bundle.Make(key, m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// trust tells the box to trust key, as `outpost bundle trust` does.
func (r *rig) trust(t *testing.T, key ed25519.PrivateKey) {
	t.Helper()
	if _, err := r.p.Trust(key.Public().(ed25519.PublicKey), false, "test"); err != nil {
		t.Fatal(err)
	}
}

func (r *rig) apply(t *testing.T, data []byte) (provision.Receipt, error) {
	t.Helper()
	return r.p.ApplyBundle(context.Background(), data, "test stick")
}

func (r *rig) refused(t *testing.T, data []byte, want string) {
	t.Helper()
	rc, err := r.apply(t, data)
	if err == nil || rc.Result != provision.Refused || !strings.Contains(strings.Join(rc.Reasons, "; "), want) {
		t.Fatalf("want refusal containing %q, got %+v, %v", want, rc, err)
	}
}

func TestApplyPinsAndRefuses(t *testing.T) {
	r := newRig(t)
	msp := mspKey(t)
	r.refused(t, r.make(t, msp, 5, nil), "this box trusts no MSP key")
	if _, ok, _ := r.st.CurrentConfig(); ok || len(r.active) != 0 {
		t.Fatal("a bundle from an untrusted key was recorded or activated")
	}
	r.trust(t, msp)
	pinnedAt := r.clk.Now()
	rc, err := r.apply(t, r.make(t, msp, 5, nil))
	if err != nil || rc.Result != provision.Applied || rc.AppliedVersion != 5 || rc.BoxID != r.id.ID() || rc.BoxPublicKey != r.id.PublicKeyString() ||
		rc.BoxRecipient != r.id.Recipient() || rc.UICertSHA256 != "AB:CD" || rc.BoxVersion != "v1.2.3" || rc.Site != "Acme Dental" || rc.ConfigVersion != 1 {
		t.Fatalf("first bundle: %+v %v", rc, err)
	}
	if len(r.active) != 1 || !strings.HasPrefix(r.active[0], "Acme Dental bundle v5") {
		t.Fatalf("activated: %v", r.active)
	}
	st, _ := r.p.State()
	if st.PinnedKey != identity.FormatPublicKey(msp.Public().(ed25519.PublicKey)) || !st.PinnedAt.Equal(pinnedAt) || st.PinnedBy != "test" || st.FirstUse || st.Version != 5 {
		t.Fatalf("state after first bundle: %+v", st)
	}
	cv, _, err := r.st.CurrentConfig()
	if err != nil || string(cv.Raw) != siteYAML || !strings.Contains(cv.Source, "bundle v5") {
		t.Fatalf("config in store: %+v %v", cv, err)
	}

	// Each refusal leaves config, pin and version as they were.
	r.refused(t, r.make(t, mspKey(t), 6, nil), "but this box trusts "+identity.KeyID(msp.Public().(ed25519.PublicKey))+" (pinned 2026-11-24T10:00:00Z, test); another key needs a bundle signed by")
	r.refused(t, r.make(t, msp, 5, nil), "version 5 is not newer than the applied version 5")
	r.refused(t, r.make(t, msp, 4, nil), "version 4 is not newer")
	r.refused(t, r.make(t, msp, 7, func(m *bundle.Manifest) {
		m.Created, m.Expires = r.clk.Now().Add(-48*time.Hour), r.clk.Now().Add(-time.Minute)
	}), "expired at 2026-11-24T09:59:00Z")
	r.refused(t, r.make(t, msp, 8, func(m *bundle.Manifest) {
		if err := m.EncryptConfig(otherRecipient(t), []byte(siteYAML)); err != nil {
			t.Fatal(err)
		}
		m.Target = "ob-0123456789abcdef"
	}), "made for box ob-0123456789abcdef; this is "+r.id.ID())
	good := r.make(t, msp, 9, nil)
	r.refused(t, good[:len(good)/2], "not a bundle (truncated or damaged?)")
	r.refused(t, []byte("\x00\x01garbage"), "not a bundle")
	r.refused(t, nil, "bundle is empty")
	r.refused(t, bytes.Repeat([]byte(" "), bundle.MaxFileSize+1), "limit is")
	r.refused(t, tamper(t, good), "signature does not verify")
	r.refused(t, r.make(t, msp, 10, func(m *bundle.Manifest) {
		m.Config = "site: Acme\nchecks:\n  - {id: x, kind: tcp, target: 127.0.0.1:1, interval: 1ms}\n"
	}), "bundle v10:3: checks[0].interval: 1ms is out of range")
	st2, _ := r.p.State()
	cv2, _, _ := r.st.CurrentConfig()
	if st2.PinnedKey != st.PinnedKey || st2.Version != 5 || cv2.Version != 1 || len(r.active) != 1 {
		t.Fatalf("a refused bundle changed something: %+v config v%d activations %d", st2, cv2.Version, len(r.active))
	}
	if st2.Last == nil || st2.Last.Result != provision.Refused || st2.Last.BundleVersion != 10 {
		t.Fatalf("last attempt not recorded: %+v", st2.Last)
	}

	// A bundle for this box, its config encrypted to it.
	rc, err = r.apply(t, r.make(t, msp, 11, func(m *bundle.Manifest) {
		if err := m.EncryptConfig(r.id.Recipient(), []byte(strings.Replace(siteYAML, "5s", "10s", 1))); err != nil {
			t.Fatal(err)
		}
		m.Target = r.id.ID()
	}))
	if err != nil || rc.Result != provision.Applied || rc.ConfigVersion != 2 {
		t.Fatalf("targeted bundle: %+v %v", rc, err)
	}

	// Factory reset: the box trusts no key until told one at the box;
	// then that key's bundles apply, any version.
	if err := r.p.FactoryReset(); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.p.PinnedKey(); ok {
		t.Fatal("still pinned after factory reset")
	}
	msp2 := mspKey(t)
	r.refused(t, r.make(t, msp2, 1, nil), "this box trusts no MSP key")
	r.trust(t, msp2)
	if rc, err := r.apply(t, r.make(t, msp2, 1, nil)); err != nil || rc.Result != provision.Applied {
		t.Fatalf("after factory reset: %+v %v", rc, err)
	}
	if k, ok := r.p.PinnedKey(); !ok || !k.Equal(msp2.Public()) {
		t.Fatal("new key not pinned")
	}
}

func otherRecipient(t *testing.T) string {
	st, err := store.Open(filepath.Join(t.TempDir(), "other.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	id, err := identity.Load(st)
	if err != nil {
		t.Fatal(err)
	}
	return id.Recipient()
}

// tamper changes the site name inside a signed bundle.
func tamper(t *testing.T, data []byte) []byte {
	var env map[string]string
	if err := json.Unmarshal(data, &env); err != nil {
		t.Fatal(err)
	}
	m, _ := base64.StdEncoding.DecodeString(env["manifest"])
	m = bytes.Replace(m, []byte("Acme Dental"), []byte("Evil Dental"), 1)
	env["manifest"] = base64.StdEncoding.EncodeToString(m)
	out, _ := json.Marshal(env)
	return out
}

// TestSecretsSealedAtRest: an any-box bundle carries secrets as-is; on
// the box the config is stored encrypted to the box's key, so the
// community string is nowhere in the store file.
func TestSecretsSealedAtRest(t *testing.T) {
	r := newRig(t)
	msp := mspKey(t)
	r.trust(t, msp)
	if _, err := r.apply(t, r.make(t, msp, 1, nil)); err != nil {
		t.Fatal(err)
	}
	r.st.Close()
	raw, err := os.ReadFile(r.path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("s3cret-community")) {
		t.Fatal("the SNMP community is stored in clear")
	}
	st, err := store.Open(r.path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, _, err := st.CurrentConfig(); err == nil || !strings.Contains(err.Error(), "sealed and no key is loaded") {
		t.Fatalf("sealed config read without the key: %v", err)
	}
	id, _ := identity.Load(st)
	st.SetSealer(id)
	cv, _, err := st.CurrentConfig()
	if err != nil || !strings.Contains(string(cv.Raw), "s3cret-community") {
		t.Fatalf("unsealed with the box key: %v", err)
	}
	r.st = st // the cleanup closes this one
}

// TestUnreadableStateIsKept: with the provisioning state damaged, every
// bundle is refused and the damaged record is left for a person to look
// at, not replaced by an empty one (which would unpin the MSP key).
func TestUnreadableStateIsKept(t *testing.T) {
	r := newRig(t)
	msp := mspKey(t)
	r.trust(t, msp)
	if _, err := r.apply(t, r.make(t, msp, 1, nil)); err != nil {
		t.Fatal(err)
	}
	damaged := []byte(`{"pinned_key": "ed25519:`)
	if err := r.st.PutBlob(provision.StateBlob, damaged); err != nil {
		t.Fatal(err)
	}
	r.refused(t, r.make(t, mspKey(t), 2, nil), "provisioning state unreadable")
	if rc := r.p.Refuse("stick", errors.New("too big")); rc.Result != provision.Refused || !strings.Contains(rc.Reasons[0], "too big (and provisioning state unreadable") {
		t.Fatalf("refusal of an unreadable bundle: %+v", rc)
	}
	if got, _ := r.st.GetBlob(provision.StateBlob); !bytes.Equal(got, damaged) {
		t.Fatalf("the damaged state was overwritten with %s", got)
	}
	if _, ok := r.p.PinnedKey(); ok {
		t.Fatal("a damaged state reported a pinned key")
	}
	if len(r.active) != 1 {
		t.Fatalf("activations %v", r.active)
	}
}

// A box whose clock was never set (it reads 1970) cannot judge a
// bundle's age: it judges expiry at the earliest correct date, applies a
// current bundle and says so in the receipt, still refuses one that
// expired before this software existed, and still refuses replays.
func TestBundleOnBoxWithUnsetClock(t *testing.T) {
	r := newRig(t)
	msp := mspKey(t)
	r.trust(t, msp)
	made := time.Now()
	current := func(v uint64) []byte {
		b, err := bundle.Make(msp, bundle.Manifest{Version: v, Created: made.Add(-time.Hour), Expires: made.Add(24 * time.Hour), Target: bundle.AnyBox, Site: "Acme Dental", Config: siteYAML})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	r.clk.JumpTo(time.Unix(300, 0).UTC())
	rc, err := r.apply(t, current(3))
	if err != nil || rc.Result != provision.Applied || len(rc.Notes) != 1 || !strings.Contains(rc.Notes[0], "reads 1970-01-01T00:05:00Z, before this software existed (never set): expiry was judged at "+clock.MinPlausible.Format(time.RFC3339)) {
		t.Fatalf("current bundle at 1970: %+v %v", rc, err)
	}
	old, err := bundle.Make(msp, bundle.Manifest{Version: 9, Created: clock.MinPlausible.AddDate(0, -2, 0), Expires: clock.MinPlausible.AddDate(0, -1, 0), Target: bundle.AnyBox, Site: "Acme Dental", Config: siteYAML})
	if err != nil {
		t.Fatal(err)
	}
	r.refused(t, old, "expired at "+clock.MinPlausible.AddDate(0, -1, 0).UTC().Format(time.RFC3339))
	r.refused(t, current(3), "version 3 is not newer than the applied version 3")
}

// TestSameBundleSeenAgain: the bundle in force seen again (the same file)
// is not applied twice and changes nothing but the record of the attempt,
// but is known as that bundle: its receipt says when it was applied, and
// AlreadyApplied turns it into the applied receipt a stick keeps. Another
// bundle of the same version is a plain replay.
func TestSameBundleSeenAgain(t *testing.T) {
	r := newRig(t)
	msp := mspKey(t)
	r.trust(t, msp)
	appliedAt := r.clk.Now()
	data := r.make(t, msp, 5, nil)
	if rc, err := r.apply(t, data); err != nil || !rc.AppliedAt.Equal(appliedAt) {
		t.Fatalf("first apply: %+v %v", rc, err)
	}
	before, _ := r.p.State()
	if before.BundleSHA256 == "" {
		t.Fatalf("the applied bundle's hash is not recorded: %+v", before)
	}
	r.clk.Advance(72 * time.Hour) // expired by now, too
	rc, err := r.apply(t, data)
	if err == nil || rc.Result != provision.Refused || !rc.AppliedAt.Equal(appliedAt) ||
		!strings.Contains(strings.Join(rc.Reasons, "; "), "version 5 is not newer than the applied version 5: it is that bundle, already applied on 2026-11-24T10:00:00Z (nothing changed)") {
		t.Fatalf("same bundle again: %+v %v", rc, err)
	}
	st, _ := r.p.State()
	if st.Version != 5 || !st.AppliedAt.Equal(appliedAt) || st.BundleSHA256 != before.BundleSHA256 || len(r.active) != 1 {
		t.Fatalf("state after the same bundle again: %+v, activations %v", st, r.active)
	}
	kept, ok := rc.AlreadyApplied()
	if !ok || kept.Result != provision.Applied || !kept.Time.Equal(appliedAt) || len(kept.Reasons) != 0 ||
		len(kept.Notes) != 1 || kept.Notes[0] != "already applied on 2026-11-24T10:00:00Z; seen again at 2026-11-27T10:00:00Z: nothing changed" {
		t.Fatalf("AlreadyApplied: %+v %v", kept, ok)
	}
	other, err := r.apply(t, r.make(t, msp, 5, func(m *bundle.Manifest) { m.Config += "# another file\n" }))
	if err == nil || !other.AppliedAt.IsZero() || !strings.Contains(strings.Join(other.Reasons, "; "), "version 5 is not newer than the applied version 5 (a replayed or older bundle)") {
		t.Fatalf("another bundle of the applied version: %+v %v", other, err)
	}
	if _, ok := other.AlreadyApplied(); ok {
		t.Fatal("another bundle of the applied version passed for the one in force")
	}
}
