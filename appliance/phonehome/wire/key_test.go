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
