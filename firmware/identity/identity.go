// Package identity is who this box is: a stable box id, an ed25519 key
// pair it signs with (phone home, receipts) and an age X25519 key pair
// that provisioning bundles encrypt secrets to. It is made on first start
// and kept in the store; the private parts never leave the box.
package identity

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"filippo.io/age"

	"outpost/appliance/phonehome/wire"
)

// Blob is the store blob holding the identity.
const Blob = "identity"

// Identity is the box's keys. It is safe for concurrent use.
type Identity struct {
	id      string
	sign    ed25519.PrivateKey
	age     *age.X25519Identity
	created time.Time
}

type record struct {
	Seed    []byte    `json:"ed25519_seed"`
	Age     string    `json:"age_identity"`
	Created time.Time `json:"created"`
}

// Blobs is where the identity is kept: the store's named blobs
// (*store.Store implements it).
type Blobs interface {
	// GetBlob returns the named value, or nil when there is none.
	GetBlob(name string) ([]byte, error)
	// PutBlobIfAbsent stores value unless one exists and returns the
	// value in force.
	PutBlobIfAbsent(name string, value []byte) ([]byte, error)
}

// Load returns the box's identity, making it on first use. Two racing
// first starts agree on one (the store keeps the first written).
func Load(st Blobs) (*Identity, error) {
	data, err := st.GetBlob(Blob)
	if err != nil {
		return nil, err
	}
	if data == nil {
		fresh, err := newRecord()
		if err != nil {
			return nil, err
		}
		if data, err = st.PutBlobIfAbsent(Blob, fresh); err != nil {
			return nil, err
		}
	}
	return parse(data)
}

func newRecord() ([]byte, error) {
	seed := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		return nil, err
	}
	ai, err := age.GenerateX25519Identity()
	if err != nil {
		return nil, err
	}
	return json.Marshal(record{Seed: seed, Age: ai.String(), Created: time.Now().UTC()})
}

func parse(data []byte) (*Identity, error) {
	var r record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("box identity unreadable: %w", err)
	}
	if len(r.Seed) != ed25519.SeedSize {
		return nil, errors.New("box identity unreadable: bad signing key")
	}
	ai, err := age.ParseX25519Identity(r.Age)
	if err != nil {
		return nil, fmt.Errorf("box identity unreadable: %w", err)
	}
	priv := ed25519.NewKeyFromSeed(r.Seed)
	sum := sha256.Sum256(priv.Public().(ed25519.PublicKey))
	return &Identity{id: "ob-" + hex.EncodeToString(sum[:8]), sign: priv, age: ai, created: r.Created}, nil
}

// ID is the stable box id: "ob-" and 16 hex digits of the signing key's
// SHA-256.
func (i *Identity) ID() string { return i.id }

// Created is when the identity was made.
func (i *Identity) Created() time.Time { return i.created }

// PublicKey is the signing key's public half.
func (i *Identity) PublicKey() ed25519.PublicKey { return i.sign.Public().(ed25519.PublicKey) }

// PublicKeyString is the public key as written in receipts and configs.
func (i *Identity) PublicKeyString() string { return FormatPublicKey(i.PublicKey()) }

// Sign signs msg with the box's key.
func (i *Identity) Sign(msg []byte) []byte { return ed25519.Sign(i.sign, msg) }

// Recipient is the age recipient ("age1...") secrets for this box are
// encrypted to.
func (i *Identity) Recipient() string { return i.age.Recipient().String() }

// Encrypt encrypts plaintext to the box itself (secrets at rest).
func (i *Identity) Encrypt(plaintext []byte) ([]byte, error) {
	return Encrypt(i.Recipient(), plaintext)
}

// Decrypt opens what was encrypted to the box's recipient.
func (i *Identity) Decrypt(ciphertext []byte) ([]byte, error) {
	r, err := age.Decrypt(bytes.NewReader(ciphertext), i.age)
	if err != nil {
		return nil, fmt.Errorf("decrypting for box %s: %w", i.id, err)
	}
	return io.ReadAll(r)
}

// Encrypt encrypts plaintext to an age recipient ("age1...").
func Encrypt(recipient string, plaintext []byte) ([]byte, error) {
	rc, err := age.ParseX25519Recipient(recipient)
	if err != nil {
		return nil, fmt.Errorf("recipient %q: %w", recipient, err)
	}
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, rc)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(plaintext); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// FormatPublicKey writes an ed25519 public key in its text form,
// "ed25519:" and base64 (wire.FormatPublicKey: the form is phone home's
// too).
func FormatPublicKey(pub ed25519.PublicKey) string { return wire.FormatPublicKey(pub) }

// ParsePublicKey reads a key written by FormatPublicKey
// (wire.ParsePublicKey).
func ParsePublicKey(s string) (ed25519.PublicKey, error) { return wire.ParsePublicKey(s) }

// KeyID is a short, stable name for a public key for logs and pages
// (wire.KeyID).
func KeyID(pub ed25519.PublicKey) string { return wire.KeyID(pub) }
