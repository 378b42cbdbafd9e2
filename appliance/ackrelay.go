package appliance

import (
	"errors"
	"fmt"
	"strings"
	"unicode"

	"outpost/appliance/incidents"
	phwire "outpost/appliance/phonehome/wire"
	"outpost/notify"
)

// Acknowledging from anywhere (docs/notifications.md#acknowledge-links):
// while phone home runs and its receiver serves acknowledge pages
// (`hq run --public-url`), the box's acknowledge links point at the
// receiver, which relays an acknowledgement in its next reply. The link
// carries the box's own signed token, which the receiver cannot make;
// the box checks it here as its own page does (signature, expiry, single
// use in the same used-token store), so a link works once whichever
// page it is used on.

// relayAckLink is an incident's acknowledge link at the receiver while
// phone home runs and the receiver serves acknowledge pages; ok is false
// otherwise, and ackURL makes the box's own link (notify.ack_base_url).
func (a *Appliance) relayAckLink(id uint64) (link string, ok bool) {
	a.mu.RLock()
	p := a.phone
	a.mu.RUnlock()
	if p == nil {
		return "", false
	}
	base := p.AckBase()
	if base == "" {
		return "", false
	}
	tok := notify.MakeAckToken(a.ackKey, id, a.o.Clock.Now().Add(notify.ConfigOf(a.Config()).AckValid))
	return base + phwire.AckPath(a.id.ID(), tok), true
}

// ackRelay acknowledges for phone home's receiver (phonehome.Acks).
type ackRelay struct{ a *Appliance }

// Acknowledge acts on an acknowledgement made at the receiver: a link's
// token must verify with the box's key, be unexpired by the box's clock
// and unused; a receiver user's names an incident. The incident must be
// open and not acknowledged. The box records who, and that it came
// through the receiver.
func (r ackRelay) Acknowledge(c phwire.Ack) (string, error) {
	a := r.a
	name := relayName(c.By)
	var id uint64
	var by string
	switch c.Via {
	case phwire.AckViaLink:
		if len(c.Token) > phwire.MaxAckToken {
			return "", errors.New("the acknowledge link's token is too long to be one of this box's")
		}
		tokID, exp, err := notify.VerifyAckToken(a.ackKey, c.Token, a.o.Clock.Now())
		if err != nil {
			return "", fmt.Errorf("acknowledge link refused: %w", err)
		}
		if _, err := a.inc.Get(tokID); err != nil {
			return "", fmt.Errorf("acknowledge link for incident %d refused: %w", tokID, err)
		}
		fresh, err := a.store.UseToken(c.Token, exp)
		if err != nil {
			return "", fmt.Errorf("acknowledge link for incident %d: recording it as used failed: %w", tokID, err)
		}
		if !fresh {
			return "", fmt.Errorf("acknowledge link for incident %d refused: it was used already", tokID)
		}
		id, by = tokID, name+" via hq (link)"
	case phwire.AckViaUser:
		if c.Incident == 0 {
			return "", errors.New("the acknowledgement names no incident")
		}
		id, by = c.Incident, name+" via hq (hq user)"
	default:
		return "", fmt.Errorf("acknowledgement made %q at the receiver: this box knows link and user", relayName(c.Via))
	}
	inc, err := a.inc.Acknowledge(id, by, "")
	if err != nil {
		if errors.Is(err, incidents.ErrNotFound) {
			return "", fmt.Errorf("incident %d: no such incident on this box", id)
		}
		return "", err
	}
	a.log.Info("incident acknowledged through phone home's receiver", "id", inc.ID, "by", by)
	return fmt.Sprintf("incident %d (%s on %s) acknowledged by %s", inc.ID, inc.Check, inc.Device, by), nil
}

// relayName is a name from the receiver as the box records it: no
// control characters, at most wire.MaxAckBy bytes, "someone" when empty.
func relayName(s string) string {
	s = strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s))
	if len(s) > phwire.MaxAckBy {
		s = strings.ToValidUTF8(s[:phwire.MaxAckBy], "")
	}
	if s == "" {
		return "someone"
	}
	return s
}
