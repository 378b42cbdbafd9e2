package wire_test

import (
	"crypto/ed25519"
	"strings"
	"testing"

	"outpost/appliance/phonehome/wire"
)

func TestParsePublicKey(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(nil)
	s := wire.FormatPublicKey(pub)
	if got, err := wire.ParsePublicKey(" " + s + "\n"); err != nil || !got.Equal(pub) {
		t.Fatalf("round trip: %v", err)
	}
	for in, want := range map[string]string{
		"ssh-ed25519 AAAAC3": `does not start with "ed25519:"`,
		"ed25519:%%%":        "is not 32 bytes of base64",
		"ed25519:AAAA":       "is not 32 bytes of base64",
		"":                   "does not start with",
	} {
		_, err := wire.ParsePublicKey(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: want %q, got %v", in, want, err)
		}
	}
}

func TestBoxID(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(nil)
	id := wire.BoxID(pub)
	if !wire.ValidBoxID(id) || id != "ob-"+wire.KeyID(pub) {
		t.Fatalf("BoxID %q", id)
	}
	for _, bad := range []string{"", "ob-", "ob-0123456789abcde", "ob-0123456789abcdeF", "ob-0123456789abcdef0", "xb-0123456789abcdef", "ob-0123456789abcdeg"} {
		if wire.ValidBoxID(bad) {
			t.Errorf("ValidBoxID(%q)", bad)
		}
	}
}
