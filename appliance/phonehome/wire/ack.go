package wire

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Acknowledging from anywhere: with phone home on and the receiver
// serving acknowledge pages (Reply.AckBase), the box's acknowledge links
// point at the receiver, AckBase + AckPath(box, token). The token is the
// box's own (notify.MakeAckToken: HMAC-SHA256 under a key only the box
// holds), so the receiver cannot make one; it relays what it is given in
// an Ack command and the box verifies it (signature, expiry, single
// use) before acknowledging. A person logged in at the receiver
// acknowledges without a token (Via AckViaUser): the box takes that from
// its receiver's verified TLS channel, as it takes inventory requests.

// Ack is an acknowledgement made at the receiver, relayed to the box.
type Ack struct {
	// Via is AckViaLink (Token is a box's acknowledge link token) or
	// AckViaUser (a person logged in at the receiver; Incident names the
	// incident).
	Via   string `json:"via"`
	Token string `json:"token,omitempty"`
	// Incident is the incident acknowledged; for a link the receiver
	// reads it from the token unverified, and the box uses the verified
	// token's.
	Incident uint64 `json:"incident,omitempty"`
	// By is who acknowledged: the name typed on the page, or the
	// receiver's user name.
	By string `json:"by"`
}

// How an acknowledgement was made at the receiver.
const (
	AckViaLink = "link"
	AckViaUser = "user"
)

// Bounds on what an Ack carries.
const (
	MaxAckToken = 128
	MaxAckBy    = 80
	// MaxAckBase bounds Reply.AckBase.
	MaxAckBase = 200
)

// AckPath is the path of a box's acknowledge link at the receiver.
func AckPath(box, token string) string { return "/ack/" + box + "/" + token }

// ackTokenLen is the length of notify.MakeAckToken's token decoded:
// incident id and expiry (8 bytes each, big-endian), then the HMAC.
const ackTokenLen = 16 + 32

// AckTokenInfo reads the incident id and expiry a box's acknowledge
// token carries, without verifying it (only the box can): for the
// receiver's page. ok is false for a token that is not one's shape.
func AckTokenInfo(token string) (incident uint64, expires time.Time, ok bool) {
	if len(token) > MaxAckToken {
		return 0, time.Time{}, false
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(b) != ackTokenLen {
		return 0, time.Time{}, false
	}
	return binary.BigEndian.Uint64(b), time.Unix(int64(binary.BigEndian.Uint64(b[8:16])), 0), true
}

// CleanAckBase checks an acknowledge page base (`hq run --public-url`,
// Reply.AckBase): an https URL with a host, no user, query or fragment,
// at most MaxAckBase bytes; it returns it without a trailing slash.
func CleanAckBase(s string) (string, error) {
	if len(s) > MaxAckBase {
		return "", fmt.Errorf("acknowledge page address is over %d bytes", MaxAckBase)
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return "", fmt.Errorf("acknowledge page address %q: %v", s, err)
	case u.Scheme != "https" || u.Host == "" || u.Opaque != "":
		return "", fmt.Errorf("acknowledge page address %q must be https://host[:port][/path]", s)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(s, "?#\\ \t\r\n"):
		return "", fmt.Errorf("acknowledge page address %q must carry no user, query or fragment", s)
	}
	for _, r := range s {
		if r < 0x21 || r > 0x7e {
			return "", errors.New("acknowledge page address must be printable ASCII")
		}
	}
	return strings.TrimRight(s, "/"), nil
}
