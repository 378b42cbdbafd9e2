package notify_test

import (
	"errors"
	"testing"
	"time"

	"outpost/appliance/phonehome/wire"
	"outpost/notify"
)

// TestVerifyAckTokenForRelay: the token a relayed acknowledgement carries
// is checked as on the box's own page (its expiry returned for the
// used-token record), and phone home's receiver reads the same incident
// and expiry from it without being able to check it.
func TestVerifyAckTokenForRelay(t *testing.T) {
	secret := []byte("box secret")
	now := time.Date(2031, 3, 1, 8, 0, 0, 0, time.UTC)
	exp := now.Add(72 * time.Hour)
	tok := notify.MakeAckToken(secret, 42, exp)
	id, got, err := notify.VerifyAckToken(secret, tok, now)
	if err != nil || id != 42 || !got.Equal(exp) {
		t.Fatalf("VerifyAckToken = %d, %v, %v", id, got, err)
	}
	if inc, e, ok := wire.AckTokenInfo(tok); !ok || inc != 42 || !e.Equal(exp) {
		t.Fatalf("wire.AckTokenInfo = %d, %v, %v", inc, e, ok)
	}
	if _, _, err := notify.VerifyAckToken([]byte("another box"), tok, now); !errors.Is(err, notify.ErrBadToken) {
		t.Fatalf("another box's key: %v", err)
	}
	if _, _, err := notify.VerifyAckToken(secret, tok, exp.Add(time.Second)); !errors.Is(err, notify.ErrBadToken) {
		t.Fatalf("expired: %v", err)
	}
}
