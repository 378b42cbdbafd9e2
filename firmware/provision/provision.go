// Package provision applies signed bundles to the box: the trust anchor
// (the one MSP key the box trusts, and how it came to trust it), the rules
// a bundle must pass (signed by that key, newer version, not expired, for
// this box and its site), the atomic switch of config and provisioning
// state, and the receipt the box writes back.
package provision

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"outpost/checks/clock"
	"outpost/firmware/bundle"
	"outpost/firmware/identity"
)

// StateBlob is the store blob with the provisioning state.
const StateBlob = "provision-state"

// State is what provisioning remembers.
type State struct {
	// PinnedKey is the MSP key the box trusts: bundles (and phone-home
	// replies) must be signed with it. It is set from a trust anchor (the
	// key installed with the box, the boot partition's key file, `outpost
	// bundle trust` at the box), by trust on first use on a box in factory
	// state, or by a bundle signed with the previous key that names the
	// next one.
	PinnedKey string    `json:"pinned_key,omitempty"`
	PinnedAt  time.Time `json:"pinned_at,omitzero"`
	// PinnedBy says how the key came to be trusted, for the settings page
	// and `outpost bundle status`.
	PinnedBy string `json:"pinned_by,omitempty"`
	// FirstUse is true when the key was pinned by trust on first use:
	// whoever inserted the first stick chose it, so it is shown as such
	// until it is confirmed or replaced at the box.
	FirstUse bool `json:"first_use,omitempty"`
	// Version is the applied bundle's version; older or equal ones are
	// refused.
	Version uint64 `json:"version,omitempty"`
	// Site is the site the applied bundle was made for: an any-box
	// bundle for another site is refused unless it names this one in
	// resite_from.
	Site      string    `json:"site,omitempty"`
	AppliedAt time.Time `json:"applied_at,omitzero"`
	// BundleSHA256 is the SHA-256 of the applied bundle file (hex), so
	// that the same bundle seen again (a stick inserted twice) is known
	// as the one in force rather than as an unknown replay. Empty for
	// bundles applied before it was recorded.
	BundleSHA256 string `json:"bundle_sha256,omitempty"`
	// Last is the receipt of the last bundle seen, applied or refused.
	Last *Receipt `json:"last,omitempty"`
}

// Receipt says what became of a bundle. It is written back to the stick
// as JSON, so the MSP can register the box (with hq) from it.
type Receipt struct {
	BoxID        string `json:"box_id"`
	BoxVersion   string `json:"box_version"`
	BoxPublicKey string `json:"box_public_key"`
	BoxRecipient string `json:"box_recipient"`
	UICertSHA256 string `json:"ui_cert_sha256"`
	// BundleVersion is the bundle's version (0 when it could not be read).
	BundleVersion uint64 `json:"bundle_version"`
	Site          string `json:"site,omitempty"`
	Source        string `json:"source"`
	// Result is "applied" or "refused"; Reasons say why it was refused.
	Result  string   `json:"result"`
	Reasons []string `json:"reasons"`
	// ClaimCode is the code that claims the box's web UI (creates its
	// first administrator), on the receipt of an applied bundle while the
	// box is unclaimed: a stick-provisioned box in a closet has no screen,
	// and whoever holds the MSP's stick is the technician. Never on a
	// refused bundle's receipt.
	ClaimCode string `json:"claim_code,omitempty"`
	// Notes say what the box could not judge as usual (its clock unset).
	Notes []string `json:"notes,omitempty"`
	// AppliedVersion is the bundle version in force afterwards.
	AppliedVersion uint64    `json:"applied_version"`
	ConfigVersion  int       `json:"config_version,omitempty"`
	Time           time.Time `json:"time"`
	// AppliedAt is set when the bundle is the one in force (the same
	// file): when it was applied. On a refused receipt it marks the
	// bundle seen again, not applied a second time (AlreadyApplied).
	AppliedAt time.Time `json:"applied_at,omitzero"`
}

// AlreadyApplied is, for the refused receipt of the bundle in force seen
// again (AppliedAt set), the receipt its stick should carry: applied,
// at the time it was applied, saying so. ok is false for every other
// receipt. Provisioning itself still counts such a bundle as a replay
// (refused, nothing changed); only what the stick says differs.
func (rc Receipt) AlreadyApplied() (Receipt, bool) {
	if rc.Result != Refused || rc.AppliedAt.IsZero() {
		return rc, false
	}
	out := rc
	out.Result, out.Reasons, out.Time = Applied, []string{}, rc.AppliedAt
	out.Notes = []string{fmt.Sprintf("already applied on %s; seen again at %s: nothing changed", rc.AppliedAt.UTC().Format(time.RFC3339), rc.Time.UTC().Format(time.RFC3339))}
	return out, true
}

// Results.
const (
	Applied = "applied"
	Refused = "refused"
)

// StateReader reads the provisioning state blob (the store).
type StateReader interface {
	// GetBlob returns the value stored under name, or nil and no error
	// when there is none; an error means it could not be read.
	GetBlob(name string) ([]byte, error)
}

// Store is the box's store as provisioning needs it (*store.Store): the
// provisioning state blob, and the config and that state switched
// together.
type Store interface {
	StateReader
	// PutBlob stores value under name, replacing what was there; an
	// error means it was not written.
	PutBlob(name string, value []byte) error
	// SwitchConfig records raw (from source) as the config in force and,
	// in the same transaction, stores blobs: a power cut leaves both old
	// or both new. It returns the number of the config version in force
	// (unchanged when raw equals the current config); on an error
	// neither the config nor a blob was written.
	SwitchConfig(source string, raw []byte, blobs map[string][]byte) (version int, err error)
}

// Options wire a Provisioner to its daemon.
type Options struct {
	Store      Store
	Identity   *identity.Identity
	Clock      clock.Clock
	Log        *slog.Logger
	BoxVersion string
	UICert     string
	// Check parses and validates a bundle's site config completely
	// (every check built, every channel, the incident settings) without
	// putting it in force; name ("bundle v7") names it in the errors.
	// The daemon's config package does this; nil accepts any config.
	Check func(name string, raw []byte) error
	// Activate puts a config already checked and recorded in the store in
	// force.
	Activate func(name string, raw []byte, source string) error
	// BeforeSwitch, when set, runs inside an apply after every rule and
	// the config have passed and just before the config and state are
	// switched: tests hold or observe the apply there. Nil does nothing.
	BeforeSwitch func()

	// TrustFile is the MSP key installed with the box (DATA/msp.pub,
	// written by `outpost install --msp-key` and `outpost bundle trust`):
	// the box trusts it while it trusts no other key, and the file is
	// kept in step with the key trusted. Empty: none.
	TrustFile string
	// BootFiles are MSP key files on the image's boot partition
	// (outpost-msp.pub), trusted by a box in factory state that trusts no
	// key yet: the MSP puts its key there when it writes the image.
	BootFiles []string
	// TrustFirstStick allows trust on first use (`outpost install
	// --trust-first-stick`): a box that trusts no key and is in factory
	// state trusts the key of the first bundle it applies, and says so.
	TrustFirstStick bool
	// FactoryState says whether the box is as it left the factory: its
	// config only ever the embedded default, no web UI accounts; why says
	// what is not. Nil counts as never in factory state.
	FactoryState func() (ok bool, why string)
}

// defaultBeforeSwitch is the BeforeSwitch of a Provisioner whose Options
// leave it nil. It is nil except in binaries built with the
// provisionpause tag (pause_tag.go), which the real-binary crash test
// kills inside an apply.
var defaultBeforeSwitch func()

// Provisioner applies bundles one at a time.
type Provisioner struct {
	o  Options
	mu sync.Mutex
}

// New makes a Provisioner.
func New(o Options) *Provisioner {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.BeforeSwitch == nil {
		o.BeforeSwitch = defaultBeforeSwitch
	}
	return &Provisioner{o: o}
}

// State returns the provisioning state.
func (p *Provisioner) State() (State, error) { return LoadState(p.o.Store) }

// LoadState reads the provisioning state from a store.
func LoadState(st StateReader) (State, error) {
	var s State
	data, err := st.GetBlob(StateBlob)
	if err != nil || data == nil {
		return s, err
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return s, fmt.Errorf("provisioning state unreadable: %w", err)
	}
	if s.PinnedKey != "" && s.PinnedBy == "" {
		// Recorded before trust anchors: every pin was the first bundle's.
		s.PinnedBy, s.FirstUse = "trust on first use: the first bundle applied (by an Outpost version without trust anchors)", true
	}
	return s, nil
}

// PinnedKey is the MSP key bundles (and phone-home replies) must be
// signed with; ok is false while the box trusts no key.
func (p *Provisioner) PinnedKey() (ed25519.PublicKey, bool) {
	s, err := p.State()
	if err != nil || s.PinnedKey == "" {
		return nil, false
	}
	k, err := identity.ParsePublicKey(s.PinnedKey)
	return k, err == nil
}

// ApplyBundle verifies data and, when every rule passes, switches the
// box to its config. It always returns a receipt; err is non-nil when
// the bundle was refused (the reasons are in the receipt too). Nothing
// changes on a refused bundle but the record of the last attempt.
func (p *Provisioner) ApplyBundle(ctx context.Context, data []byte, source string) (Receipt, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	rc := p.receipt(source)
	now, id := rc.Time, p.o.Identity
	st, err := p.State()
	if err != nil {
		return p.unrecorded(rc, err)
	}
	rc.AppliedVersion = st.Version
	b, err := bundle.Parse(data)
	if err != nil {
		return p.refuse(st, rc, err)
	}
	rc.BundleVersion, rc.Site = b.Version, b.Site
	sum := sha256.Sum256(data)
	hash := hex.EncodeToString(sum[:])
	inForce := st.BundleSHA256 != "" && st.BundleSHA256 == hash && b.Version == st.Version
	if inForce {
		rc.AppliedAt = st.AppliedAt
	}
	var reasons []string
	firstUse := false
	if st.PinnedKey == "" {
		if ast, ok := p.trustAnchor(st); ok {
			st = ast
		}
	}
	switch {
	case st.PinnedKey == "":
		ok, why := p.firstUse(st)
		if ok {
			firstUse = true
			break
		}
		reasons = append(reasons, fmt.Sprintf("signed by MSP key %s, but this box trusts no MSP key: install it with `outpost install --msp-key msp.pub`, put outpost-msp.pub on the image's boot partition, or run `outpost bundle trust msp.pub` at the box%s",
			identity.KeyID(b.Key), why))
	case st.PinnedKey != b.MSPKey:
		reasons = append(reasons, fmt.Sprintf("signed by MSP key %s, but this box trusts %s (pinned %s, %s); another key needs a bundle signed by %s that names it (bundle make --next-key), or `outpost bundle trust KEY --replace` at the box",
			identity.KeyID(b.Key), keyID(st.PinnedKey), st.PinnedAt.Format(time.RFC3339), st.PinnedBy, keyID(st.PinnedKey)))
	}
	if b.Target == bundle.AnyBox && st.Site != "" && b.Site != st.Site && b.ResiteFrom != st.Site {
		reasons = append(reasons, fmt.Sprintf("an any-box bundle for site %q; this box is provisioned for site %q (a bundle that moves it names that site: bundle make --resite-from %q; or make one for this box: bundle make --receipt)",
			b.Site, st.Site, st.Site))
	}
	// A box whose clock reads before this software existed (no RTC, no
	// NTP yet) cannot tell how old a bundle is: it judges expiry at the
	// earliest correct date instead, which still refuses every bundle
	// that expired before this version was built, and says so. Replays
	// stay refused by the version rule below, whatever the clock.
	judged := now
	if !clock.Plausible(now) {
		judged = clock.MinPlausible
		rc.Notes = append(rc.Notes, fmt.Sprintf("the box's clock reads %s, before this software existed (never set): expiry was judged at %s instead",
			now.Format(time.RFC3339), judged.Format(time.RFC3339)))
	}
	if !judged.Before(b.Expires) {
		reasons = append(reasons, fmt.Sprintf("expired at %s (box time %s)", b.Expires.UTC().Format(time.RFC3339), now.Format(time.RFC3339)))
	}
	if b.Target != bundle.AnyBox && b.Target != id.ID() {
		reasons = append(reasons, fmt.Sprintf("made for box %s; this is %s", b.Target, id.ID()))
	}
	switch {
	case inForce:
		reasons = append(reasons, fmt.Sprintf("version %d is not newer than the applied version %d: it is that bundle, already applied on %s (nothing changed)",
			b.Version, st.Version, st.AppliedAt.UTC().Format(time.RFC3339)))
	case b.Version <= st.Version:
		reasons = append(reasons, fmt.Sprintf("version %d is not newer than the applied version %d (a replayed or older bundle)", b.Version, st.Version))
	}
	if len(reasons) > 0 {
		return p.refuse(st, rc, errors.New(strings.Join(reasons, "; ")))
	}
	raw, err := b.SiteConfig(id.Decrypt)
	if err != nil {
		return p.refuse(st, rc, err)
	}
	name := fmt.Sprintf("bundle v%d", b.Version)
	if p.o.Check != nil {
		if err := p.o.Check(name, raw); err != nil {
			return p.refuse(st, rc, err)
		}
	}
	if err := ctx.Err(); err != nil {
		return p.refuse(st, rc, err)
	}
	next := st
	if firstUse {
		next.PinnedKey, next.PinnedAt, next.FirstUse = b.MSPKey, now, true
		next.PinnedBy = fmt.Sprintf("trust on first use: bundle v%d from %s, applied while the box was in factory state", b.Version, source)
		rc.Notes = append(rc.Notes, fmt.Sprintf("MSP key %s pinned by trust on first use (the box was in factory state): check that it is your MSP's key", identity.KeyID(b.Key)))
	}
	if b.NextMSPKey != "" {
		nk, _ := identity.ParsePublicKey(b.NextMSPKey) // checked by Parse
		next.PinnedKey, next.PinnedAt, next.FirstUse = b.NextMSPKey, now, false
		next.PinnedBy = fmt.Sprintf("rotated by bundle v%d, signed by the previous key %s", b.Version, identity.KeyID(b.Key))
		rc.Notes = append(rc.Notes, fmt.Sprintf("MSP key rotated: this box trusts %s from now on, and no longer %s", identity.KeyID(nk), identity.KeyID(b.Key)))
	}
	next.Version, next.Site, next.AppliedAt, next.BundleSHA256 = b.Version, b.Site, now, hash
	rc.Result, rc.AppliedVersion, rc.AppliedAt = Applied, b.Version, now
	next.Last = &rc
	stateJSON, err := json.Marshal(next)
	if err != nil {
		return p.refuse(st, rc, err)
	}
	p.o.Log.Info("provisioning: bundle verified; switching the config", "version", b.Version, "site", b.Site, "key", identity.KeyID(b.Key))
	if p.o.BeforeSwitch != nil {
		p.o.BeforeSwitch()
	}
	srcName := fmt.Sprintf("bundle v%d for %s (%s)", b.Version, b.Site, source)
	cv, err := p.o.Store.SwitchConfig(srcName, raw, map[string][]byte{StateBlob: stateJSON})
	if err != nil {
		rc.Result, rc.AppliedVersion, rc.AppliedAt = Refused, st.Version, time.Time{}
		return p.refuse(st, rc, fmt.Errorf("recording the config: %w", err))
	}
	rc.ConfigVersion = cv
	if next.PinnedKey != st.PinnedKey {
		if firstUse {
			p.o.Log.Warn("provisioning: MSP key pinned by trust on first use", "key", identity.KeyID(b.Key), "site", b.Site)
		} else {
			p.o.Log.Warn("provisioning: MSP key rotated by a bundle signed with the previous key", "from", identity.KeyID(b.Key), "to", keyID(next.PinnedKey))
		}
		p.writeTrustFile(next.PinnedKey)
	}
	p.o.Log.Info("provisioning: bundle applied", "version", b.Version, "site", b.Site, "source", source, "config_version", cv)
	if p.o.Activate != nil {
		if err := p.o.Activate(name, raw, srcName); err != nil {
			// Validated above, so this is unexpected; the stored config
			// is in force from the next start.
			p.o.Log.Error("provisioning: applied config not activated until restart", "err", err)
		}
	}
	return rc, nil
}

// Refuse records a bundle that could not even be read (a link in its
// place, too big, an unreadable stick) as refused for reason, and returns
// the receipt to write back.
func (p *Provisioner) Refuse(source string, reason error) Receipt {
	p.mu.Lock()
	defer p.mu.Unlock()
	rc := p.receipt(source)
	st, err := p.State()
	if err != nil {
		rc, _ = p.unrecorded(rc, fmt.Errorf("%w (and %w)", reason, err))
		return rc
	}
	rc.AppliedVersion = st.Version
	rc, _ = p.refuse(st, rc, reason)
	return rc
}

// unrecorded refuses without touching the stored state: it could not be
// read, and writing over it would lose the pinned key (a trust reset no
// one did at the box).
func (p *Provisioner) unrecorded(rc Receipt, err error) (Receipt, error) {
	rc.Result = Refused
	rc.Reasons = append(rc.Reasons, err.Error())
	p.o.Log.Error("provisioning: bundle refused", "source", rc.Source, "reason", err)
	return rc, err
}

// receipt is a receipt with the box's own fields filled in.
func (p *Provisioner) receipt(source string) Receipt {
	id := p.o.Identity
	return Receipt{BoxID: id.ID(), BoxVersion: p.o.BoxVersion, BoxPublicKey: id.PublicKeyString(), BoxRecipient: id.Recipient(),
		UICertSHA256: p.o.UICert, Source: source, Time: p.o.Clock.Now().UTC(), Reasons: []string{}}
}

func (p *Provisioner) refuse(st State, rc Receipt, err error) (Receipt, error) {
	rc.Result = Refused
	rc.Reasons = append(rc.Reasons, err.Error())
	p.o.Log.Error("provisioning: bundle refused", "source", rc.Source, "version", rc.BundleVersion, "reason", err)
	st.Last = &rc
	if data, merr := json.Marshal(st); merr == nil {
		// Only the record of the last attempt changes.
		if perr := p.o.Store.PutBlob(StateBlob, data); perr != nil {
			p.o.Log.Error("provisioning: recording the refusal", "err", perr)
		}
	}
	return rc, err
}

// FactoryReset forgets the trusted MSP key (and removes TrustFile), the
// applied version and site: the box then trusts no key until it is told
// one at the box (Trust). The config stays until the next bundle (or the
// config file) replaces it.
func (p *Provisioner) FactoryReset() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	st, err := p.State()
	if err != nil {
		return err
	}
	if p.o.TrustFile != "" {
		if err := os.Remove(p.o.TrustFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("factory reset: removing the installed MSP key: %w", err)
		}
	}
	p.o.Log.Warn("provisioning: factory reset: MSP key unpinned, bundle version and site forgotten", "was_pinned", keyID(st.PinnedKey), "was_version", st.Version, "was_site", st.Site)
	return p.o.Store.PutBlob(StateBlob, []byte("{}"))
}

func keyID(s string) string {
	k, err := identity.ParsePublicKey(s)
	if err != nil {
		return "(none)"
	}
	return identity.KeyID(k)
}
