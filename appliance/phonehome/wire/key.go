package wire

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

// keyPrefix starts the text form of an ed25519 public key.
const keyPrefix = "ed25519:"

// FormatPublicKey writes an ed25519 public key as "ed25519:" and
// base64: the form of a summary's box.public_key, of the key the MSP
// registers a box with, and of keys in receipts, bundles and configs.
func FormatPublicKey(pub ed25519.PublicKey) string {
	return keyPrefix + base64.StdEncoding.EncodeToString(pub)
}

// ParsePublicKey reads a key written by FormatPublicKey (surrounding
// space allowed); the error quotes the start of what it could not read.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, keyPrefix) {
		return nil, fmt.Errorf("public key %q does not start with %q", abbreviate(s), keyPrefix)
	}
	b, err := base64.StdEncoding.DecodeString(s[len(keyPrefix):])
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("public key %q is not %d bytes of base64", abbreviate(s), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}

// KeyID is a short, stable name for a public key (its SHA-256, 16 hex
// digits) for logs and pages.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

func abbreviate(s string) string {
	if len(s) > 24 {
		return s[:24] + "…"
	}
	return s
}

// BoxID is the id of the box whose signing key is pub: "ob-" and its
// KeyID. The id is the key's name, so a receiver that checks it binds
// the id to the key: nobody can register another key under a box's id.
func BoxID(pub ed25519.PublicKey) string { return "ob-" + KeyID(pub) }

// ValidBoxID reports whether s has the form of a box id ("ob-" and 16
// lowercase hex digits).
func ValidBoxID(s string) bool {
	if len(s) != 19 || s[:3] != "ob-" {
		return false
	}
	for _, c := range s[3:] {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
