package bundle

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"outpost/firmware/identity"
)

// Firmware update bundles use the provisioning bundle's scheme: the same
// envelope (format, base64 manifest, base64 ed25519 signature over the
// format label, a NUL and the manifest), signed by the same MSP key, with
// its own format label so that neither kind of signature ever verifies as
// the other. The binary follows the envelope's line unencoded, and the
// signed manifest carries its size and SHA-256: a box streams it to disk
// while hashing, without holding it in memory.

// FirmwareFileName is the update bundle's name at the root of a stick.
const FirmwareFileName = "outpost-firmware.bundle"

// FirmwareFormat names the firmware envelope's layout and labels its
// signature.
const FirmwareFormat = "outpost-firmware/1"

// Limits: the envelope is a few hundred bytes; an outpost binary is tens
// of MiB.
const (
	MaxFirmwareHeader = 64 << 10
	MaxFirmwareBinary = 512 << 20
)

// FirmwareManifest is what the MSP signs for a firmware update.
type FirmwareManifest struct {
	// Version is the binary's version ("v1.4.0" or "1.4.0"); the box
	// checks that the binary reports it before installing it.
	Version string `json:"version"`
	// MinVersion, when set, is the oldest running version that may
	// update to this one (a release that migrates data from it).
	MinVersion string `json:"min_version,omitempty"`
	// OS and Arch are the binary's GOOS and GOARCH.
	OS   string `json:"os"`
	Arch string `json:"arch"`
	// Size and SHA256 (hex) are the binary's that follows the envelope.
	Size    int64     `json:"size"`
	SHA256  string    `json:"sha256"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	// MSPKey is the signing key ("ed25519:..."); the box applies the
	// update only when it is the MSP key it trusts.
	MSPKey string `json:"msp_key"`
}

// Firmware is a firmware bundle whose envelope verified against the key
// it names; the binary is checked as it is copied (Copy).
type Firmware struct {
	FirmwareManifest
	Key ed25519.PublicKey
}

var (
	hexSHA256  = regexp.MustCompile(`^[0-9a-f]{64}$`)
	goName     = regexp.MustCompile(`^[a-z0-9]{1,16}$`)
	versionRex = regexp.MustCompile(`^v?(\d{1,9})\.(\d{1,9})\.(\d{1,9})(?:-([0-9A-Za-z.-]{1,64}))?$`)
)

func firmwareSigned(manifest []byte) []byte {
	return append([]byte(FirmwareFormat+"\x00"), manifest...)
}

// MakeFirmware signs m for binary with key and returns the whole bundle
// file (envelope line, then the binary). It fills in MSPKey, Size and
// SHA256.
func MakeFirmware(key ed25519.PrivateKey, m FirmwareManifest, binary []byte) ([]byte, error) {
	sum := sha256.Sum256(binary)
	m.MSPKey = identity.FormatPublicKey(key.Public().(ed25519.PublicKey))
	m.Size, m.SHA256 = int64(len(binary)), hex.EncodeToString(sum[:])
	if err := m.check(); err != nil {
		return nil, err
	}
	mb, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	head, err := json.Marshal(envelope{Format: FirmwareFormat, Manifest: base64.StdEncoding.EncodeToString(mb),
		Signature: base64.StdEncoding.EncodeToString(ed25519.Sign(key, firmwareSigned(mb)))})
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(head)+1+len(binary))
	return append(append(append(out, head...), '\n'), binary...), nil
}

// ReadFirmware reads a firmware bundle's envelope from r and checks its
// signature against the key it names; the binary is what r holds next
// (Copy reads it from the returned reader). A truncated, oversized or
// garbage envelope, another bundle kind and a bad signature are refused
// with the reason.
func ReadFirmware(r io.Reader) (*Firmware, io.Reader, error) {
	br := bufio.NewReaderSize(r, MaxFirmwareHeader+1)
	// A provisioning bundle is indented JSON: say what it is rather than
	// that its first line does not parse.
	if start, _ := br.Peek(512); bytes.Contains(start, []byte(`"`+Format+`"`)) {
		return nil, nil, fmt.Errorf("this is a provisioning bundle (%s), not a firmware update (%s)", Format, FirmwareFormat)
	}
	line, err := br.ReadSlice('\n')
	switch {
	case errors.Is(err, bufio.ErrBufferFull):
		return nil, nil, fmt.Errorf("not a firmware bundle: no envelope in its first %d bytes", MaxFirmwareHeader)
	case errors.Is(err, io.EOF) && len(bytes.TrimSpace(line)) == 0:
		return nil, nil, errors.New("firmware bundle is empty")
	case errors.Is(err, io.EOF):
		return nil, nil, errors.New("not a firmware bundle (truncated?): the envelope line does not end")
	case err != nil:
		return nil, nil, fmt.Errorf("reading the firmware bundle: %w", err)
	}
	var env envelope
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&env); err != nil {
		return nil, nil, fmt.Errorf("not a firmware bundle (truncated or damaged?): %w", err)
	}
	if env.Format != FirmwareFormat {
		if env.Format == Format {
			return nil, nil, fmt.Errorf("this is a provisioning bundle (%s), not a firmware update (%s)", Format, FirmwareFormat)
		}
		return nil, nil, fmt.Errorf("bundle format %q; a firmware update is %q", env.Format, FirmwareFormat)
	}
	mb, err := base64.StdEncoding.DecodeString(env.Manifest)
	if err != nil {
		return nil, nil, fmt.Errorf("firmware manifest is not base64: %w", err)
	}
	sig, err := base64.StdEncoding.DecodeString(env.Signature)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return nil, nil, errors.New("firmware signature is not a base64 ed25519 signature")
	}
	var m FirmwareManifest
	mdec := json.NewDecoder(bytes.NewReader(mb))
	mdec.DisallowUnknownFields()
	if err := mdec.Decode(&m); err != nil {
		return nil, nil, fmt.Errorf("firmware manifest: %w", err)
	}
	key, err := identity.ParsePublicKey(m.MSPKey)
	if err != nil {
		return nil, nil, fmt.Errorf("firmware msp_key: %w", err)
	}
	if !ed25519.Verify(key, firmwareSigned(mb), sig) {
		return nil, nil, errors.New("firmware signature does not verify: the manifest was changed after signing")
	}
	if err := m.check(); err != nil {
		return nil, nil, err
	}
	return &Firmware{FirmwareManifest: m, Key: key}, br, nil
}

// Copy copies the binary from rest (what ReadFirmware returned) to dst:
// exactly Size bytes and nothing after them, with the SHA-256 the
// manifest names. On an error dst holds a partial or wrong binary and
// must be thrown away.
func (f *Firmware) Copy(dst io.Writer, rest io.Reader) error {
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(dst, h), io.LimitReader(rest, f.Size))
	if err != nil {
		return fmt.Errorf("reading the firmware binary: %w", err)
	}
	if n < f.Size {
		return fmt.Errorf("firmware bundle is truncated: the binary has %d of its %d bytes", n, f.Size)
	}
	var one [1]byte
	if k, _ := io.ReadFull(rest, one[:]); k > 0 {
		return fmt.Errorf("firmware bundle has bytes after its %d-byte binary: not the file that was signed", f.Size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != f.SHA256 {
		return fmt.Errorf("firmware binary SHA-256 is %s, the signed manifest says %s: the binary was changed after signing", got, f.SHA256)
	}
	return nil
}

func (m FirmwareManifest) check() error {
	switch {
	case !versionRex.MatchString(m.Version):
		return fmt.Errorf("firmware version %q is not a release version (1.4.0, v1.4.0, v1.4.0-rc1)", abbreviate(m.Version))
	case m.MinVersion != "" && !versionRex.MatchString(m.MinVersion):
		return fmt.Errorf("firmware min_version %q is not a release version", abbreviate(m.MinVersion))
	case !goName.MatchString(m.OS) || !goName.MatchString(m.Arch):
		return fmt.Errorf("firmware os/arch %q/%q are not Go platform names", abbreviate(m.OS), abbreviate(m.Arch))
	case m.Size <= 0 || m.Size > MaxFirmwareBinary:
		return fmt.Errorf("firmware binary size %d is not between 1 and %d bytes", m.Size, MaxFirmwareBinary)
	case !hexSHA256.MatchString(m.SHA256):
		return errors.New("firmware sha256 is not 64 lowercase hex digits")
	case m.Created.IsZero() || m.Expires.IsZero():
		return errors.New("firmware bundle needs created and expires times")
	case !m.Expires.After(m.Created):
		return fmt.Errorf("firmware bundle expires (%s) before it was created (%s)", m.Expires.Format(time.RFC3339), m.Created.Format(time.RFC3339))
	}
	if m.MinVersion != "" {
		if c, _ := CompareVersions(m.MinVersion, m.Version); c > 0 {
			return fmt.Errorf("firmware min_version %s is above its version %s", m.MinVersion, m.Version)
		}
	}
	return nil
}

// CompareVersions compares two release versions ("v1.4.0", "1.4.0",
// "v1.4.0-rc1"; a pre-release sorts before its release): -1, 0 or 1. A
// version that is not a release version ("dev") is an error.
func CompareVersions(a, b string) (int, error) {
	pa, err := parseVersion(a)
	if err != nil {
		return 0, err
	}
	pb, err := parseVersion(b)
	if err != nil {
		return 0, err
	}
	for i := range 3 {
		if pa.n[i] != pb.n[i] {
			if pa.n[i] < pb.n[i] {
				return -1, nil
			}
			return 1, nil
		}
	}
	switch {
	case pa.pre == pb.pre:
		return 0, nil
	case pa.pre == "":
		return 1, nil
	case pb.pre == "":
		return -1, nil
	}
	return strings.Compare(pa.pre, pb.pre), nil
}

type version struct {
	n   [3]uint64
	pre string
}

func parseVersion(s string) (version, error) {
	m := versionRex.FindStringSubmatch(s)
	if m == nil {
		return version{}, fmt.Errorf("%q is not a release version (1.4.0, v1.4.0)", abbreviate(s))
	}
	var v version
	for i := range 3 {
		v.n[i], _ = strconv.ParseUint(m[i+1], 10, 64)
	}
	v.pre = m[4]
	return v, nil
}
