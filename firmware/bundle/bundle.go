// Package bundle is the signed provisioning bundle an MSP makes at the
// office and a box applies from a USB stick (or from a phone-home reply):
// one file holding the site config, the MSP's public key, a version,
// creation and expiry times and the target box, signed with ed25519.
//
// The file is a small JSON envelope: a base64 manifest and the signature
// over it. Nothing in it is compressed (no decompression bombs) and
// nothing names a path (no traversal); sizes are bounded before anything
// is decoded.
package bundle

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"
	"unicode"

	"outpost/firmware/identity"
)

// FileName is the bundle's name at the root of a provisioning stick.
const FileName = "outpost-provision.bundle"

// Format names this envelope's layout.
const Format = "outpost-bundle/1"

// Limits: a site config of a few thousand checks is well under these.
const (
	MaxFileSize   = 2 << 20
	MaxConfigSize = 1 << 20
)

// MaxSiteName bounds the site's name, which goes into logs, receipts and
// the settings page.
const MaxSiteName = 200

// boxID is the form of identity.ID.
var boxID = regexp.MustCompile(`^ob-[0-9a-f]{16}$`)

// AnyBox is the target of a bundle any box may apply.
const AnyBox = "any"

// Manifest is what the MSP signs.
type Manifest struct {
	// Version increases with every bundle the MSP makes for a site; a box
	// refuses one not newer than what it applied.
	Version uint64    `json:"version"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	// Target is AnyBox or one box id ("ob-...").
	Target string `json:"target"`
	// Site names the site, for receipts and logs.
	Site string `json:"site"`
	// MSPKey is the signing key's public half ("ed25519:..."); a box
	// applies the bundle only when this is the MSP key it trusts.
	MSPKey string `json:"msp_key"`
	// NextMSPKey, when set, rotates the MSP key: a box that applies this
	// bundle (signed by the key it trusts) trusts this key instead from
	// then on.
	NextMSPKey string `json:"next_msp_key,omitempty"`
	// ResiteFrom lets an any-box bundle move a box provisioned for the
	// site of that name to Site; without it a box provisioned for another
	// site refuses the bundle (an any-box bundle for one client is no use
	// on another client's box).
	ResiteFrom string `json:"resite_from,omitempty"`
	// Config is the site config (YAML) of an any-box bundle.
	Config string `json:"config,omitempty"`
	// ConfigAge is the site config encrypted with age to the target box's
	// recipient (base64), so its secrets are readable by that box alone.
	ConfigAge string `json:"config_age,omitempty"`
}

type envelope struct {
	Format    string `json:"format"`
	Manifest  string `json:"manifest"`
	Signature string `json:"signature"`
}

// Bundle is a parsed bundle whose signature matches the key it names.
// Whether that key is the right one is the applier's decision.
type Bundle struct {
	Manifest
	// Key is the parsed MSPKey the signature was checked against.
	Key ed25519.PublicKey
	raw []byte
}

// signedBytes is what the signature covers: a domain label, so a
// signature made for anything else never verifies as a bundle.
func signedBytes(manifest []byte) []byte {
	return append([]byte(Format+"\x00"), manifest...)
}

// Make signs m with key and returns the bundle file.
func Make(key ed25519.PrivateKey, m Manifest) ([]byte, error) {
	m.MSPKey = identity.FormatPublicKey(key.Public().(ed25519.PublicKey))
	if err := m.check(); err != nil {
		return nil, err
	}
	mb, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	out, err := json.MarshalIndent(envelope{Format: Format, Manifest: base64.StdEncoding.EncodeToString(mb),
		Signature: base64.StdEncoding.EncodeToString(ed25519.Sign(key, signedBytes(mb)))}, "", "  ")
	if err != nil {
		return nil, err
	}
	if len(out) > MaxFileSize {
		return nil, fmt.Errorf("bundle would be %d bytes; the limit is %d", len(out), MaxFileSize)
	}
	return append(out, '\n'), nil
}

// Parse reads a bundle file and checks its signature against the key it
// names. A truncated, oversized or garbage file is refused with the
// reason.
func Parse(data []byte) (*Bundle, error) {
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("bundle is %d bytes; the limit is %d", len(data), MaxFileSize)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("bundle is empty")
	}
	var env envelope
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&env); err != nil {
		return nil, fmt.Errorf("not a bundle (truncated or damaged?): %w", err)
	}
	if env.Format != Format {
		return nil, fmt.Errorf("bundle format %q; this box reads %q", env.Format, Format)
	}
	mb, err := base64.StdEncoding.DecodeString(env.Manifest)
	if err != nil {
		return nil, fmt.Errorf("bundle manifest is not base64: %w", err)
	}
	sig, err := base64.StdEncoding.DecodeString(env.Signature)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return nil, errors.New("bundle signature is not a base64 ed25519 signature")
	}
	var m Manifest
	mdec := json.NewDecoder(bytes.NewReader(mb))
	mdec.DisallowUnknownFields()
	if err := mdec.Decode(&m); err != nil {
		return nil, fmt.Errorf("bundle manifest: %w", err)
	}
	key, err := identity.ParsePublicKey(m.MSPKey)
	if err != nil {
		return nil, fmt.Errorf("bundle msp_key: %w", err)
	}
	if !ed25519.Verify(key, signedBytes(mb), sig) {
		return nil, errors.New("bundle signature does not verify: the file was changed after signing")
	}
	if err := m.check(); err != nil {
		return nil, err
	}
	return &Bundle{Manifest: m, Key: key, raw: data}, nil
}

// CheckTarget says whether t is AnyBox or a box id.
func CheckTarget(t string) error {
	if t != AnyBox && !boxID.MatchString(t) {
		return fmt.Errorf("bundle target %q is neither %q nor a box id (ob- and 16 hex digits)", t, AnyBox)
	}
	return nil
}

func (m Manifest) check() error {
	switch {
	case m.Version == 0:
		return errors.New("bundle version must be 1 or more")
	case m.Created.IsZero() || m.Expires.IsZero():
		return errors.New("bundle needs created and expires times")
	case !m.Expires.After(m.Created):
		return fmt.Errorf("bundle expires (%s) before it was created (%s)", m.Expires.Format(time.RFC3339), m.Created.Format(time.RFC3339))
	case CheckTarget(m.Target) != nil:
		return CheckTarget(m.Target)
	case badSiteName(m.Site):
		return fmt.Errorf("bundle site name %q is over %d bytes or holds control characters", abbreviate(m.Site), MaxSiteName)
	case badSiteName(m.ResiteFrom):
		return fmt.Errorf("bundle resite_from %q is over %d bytes or holds control characters", abbreviate(m.ResiteFrom), MaxSiteName)
	case m.ResiteFrom != "" && m.ResiteFrom == m.Site:
		return fmt.Errorf("bundle resite_from names its own site %q", abbreviate(m.Site))
	case (m.Config == "") == (m.ConfigAge == ""):
		return errors.New("bundle needs exactly one of config (any box) and config_age (one box)")
	case m.Target == AnyBox && m.ConfigAge != "":
		return errors.New("an any-box bundle cannot carry a config encrypted to one box")
	case m.Target != AnyBox && m.Config != "":
		return errors.New("a bundle for one box carries its config encrypted to that box (config_age)")
	case len(m.Config) > MaxConfigSize || len(m.ConfigAge) > MaxConfigSize*2:
		return fmt.Errorf("bundle config is over %d bytes", MaxConfigSize)
	}
	if m.NextMSPKey != "" {
		next, err := identity.ParsePublicKey(m.NextMSPKey)
		if err != nil {
			return fmt.Errorf("bundle next_msp_key: %w", err)
		}
		if cur, err := identity.ParsePublicKey(m.MSPKey); err == nil && cur.Equal(next) {
			return errors.New("bundle next_msp_key is the key that signed it")
		}
	}
	return nil
}

func badSiteName(s string) bool {
	return len(s) > MaxSiteName || strings.IndexFunc(s, unicode.IsControl) >= 0
}

// MaxKeyFile bounds a public key file (msp.pub is one line).
const MaxKeyFile = 4096

// ParsePublicKeyArg reads an MSP public key given on a command line:
// the key itself ("ed25519:...") or a file holding it (msp.pub).
func ParsePublicKeyArg(arg string) (ed25519.PublicKey, error) {
	if strings.HasPrefix(arg, "ed25519:") {
		return identity.ParsePublicKey(arg)
	}
	f, err := os.Open(arg)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxKeyFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxKeyFile {
		return nil, fmt.Errorf("%s is over %d bytes: not a public key file (msp.pub)", arg, MaxKeyFile)
	}
	k, err := identity.ParsePublicKey(string(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", arg, err)
	}
	return k, nil
}

// SiteConfig returns the config text, decrypting it with decrypt (the
// box's identity) when it was encrypted to the box.
func (b *Bundle) SiteConfig(decrypt func([]byte) ([]byte, error)) ([]byte, error) {
	if b.ConfigAge == "" {
		return []byte(b.Config), nil
	}
	ct, err := base64.StdEncoding.DecodeString(b.ConfigAge)
	if err != nil {
		return nil, fmt.Errorf("bundle config_age is not base64: %w", err)
	}
	pt, err := decrypt(ct)
	if err != nil {
		return nil, err
	}
	if len(pt) > MaxConfigSize {
		return nil, fmt.Errorf("bundle config is over %d bytes", MaxConfigSize)
	}
	return pt, nil
}

// EncryptConfig fills ConfigAge with config encrypted to recipient.
func (m *Manifest) EncryptConfig(recipient string, config []byte) error {
	ct, err := identity.Encrypt(recipient, config)
	if err != nil {
		return err
	}
	m.Config, m.ConfigAge = "", base64.StdEncoding.EncodeToString(ct)
	return nil
}

// Keys: the MSP's private key is a PKCS #8 PEM file, as openssl and most
// tools write ed25519 keys.

// NewKey makes an MSP signing key and returns its PEM.
func NewKey() (ed25519.PrivateKey, []byte, error) {
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, nil, err
	}
	return priv, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParseKey reads an MSP private key file.
func ParseKey(data []byte) (ed25519.PrivateKey, error) {
	blk, _ := pem.Decode(data)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, errors.New("not a PEM \"PRIVATE KEY\" file (make one with `outpost bundle keygen`)")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, err
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("the key is a %T; bundles are signed with ed25519", k)
	}
	return priv, nil
}

func abbreviate(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
