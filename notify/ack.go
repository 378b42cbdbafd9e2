package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Ack links carry a token: incident id and expiry, signed with the box's
// secret (HMAC-SHA256). It cannot be forged, cannot be moved to another
// incident, and expires; the appliance also refuses a token used before.

// ErrBadToken is returned for a forged, damaged or expired token.
var ErrBadToken = errors.New("this acknowledge link is not valid")

// MakeAckToken signs an acknowledge token for incident id until expires.
func MakeAckToken(secret []byte, id uint64, expires time.Time) string {
	b := make([]byte, 16, 48)
	binary.BigEndian.PutUint64(b, id)
	binary.BigEndian.PutUint64(b[8:], uint64(expires.Unix()))
	mac := hmac.New(sha256.New, secret)
	mac.Write(b)
	return base64.RawURLEncoding.EncodeToString(mac.Sum(b))
}

// CheckAckToken verifies a token at now and returns its incident id.
func CheckAckToken(secret []byte, token string, now time.Time) (uint64, error) {
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(b) != 48 {
		return 0, ErrBadToken
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(b[:16])
	if !hmac.Equal(mac.Sum(nil), b[16:]) {
		return 0, ErrBadToken
	}
	if exp := time.Unix(int64(binary.BigEndian.Uint64(b[8:16])), 0); now.After(exp) {
		return 0, fmt.Errorf("%w: it expired on %s", ErrBadToken, exp.Format("2006-01-02 15:04"))
	}
	return binary.BigEndian.Uint64(b[:8]), nil
}
