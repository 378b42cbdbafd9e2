package wire

import (
	"crypto/ed25519"
	"errors"
	"time"
)

// Reply is the receiver's answer to an accepted summary.
type Reply struct {
	// Ack is the sequence number stored (or already stored).
	Ack       uint64 `json:"ack"`
	Duplicate bool   `json:"duplicate,omitempty"`
	// Commands are every command the receiver holds for the box, oldest
	// first. The receiver sends them with every reply, a duplicate's too,
	// until a summary from the box lists them in Summary.Commands: a
	// reply lost on the way loses nothing. A box handles each id once and
	// forgets it when a reply no longer lists it.
	Commands []Command `json:"commands,omitempty"`
	// AckBase is where the receiver serves acknowledge pages (`hq run
	// --public-url`): while a reply names one, the box's acknowledge
	// links point at AckBase + AckPath(box, token), so a technician
	// off-site acknowledges through the receiver. Empty: the box's own
	// links (notify.ack_base_url).
	AckBase string `json:"ack_base,omitempty"`
}

// MaxCommands bounds the commands a box reads from one reply (the
// receiver keeps at most one of each kind pending).
const MaxCommands = 8

// Command is one thing the receiver asks of a box, exactly one of
// Bundle, Firmware and Inventory.
type Command struct {
	// ID names the command for the box's confirmation; the receiver
	// numbers a box's commands from 1 and never reuses a number.
	ID uint64 `json:"id"`
	// Bundle is a signed provisioning bundle (the USB format), applied
	// only when signed by the MSP key the box pinned.
	Bundle []byte `json:"bundle,omitempty"`
	// Firmware announces a firmware version, signed by the MSP key.
	Firmware *FirmwareNotice `json:"firmware,omitempty"`
	// Inventory asks for a full inventory in the next summary.
	Inventory bool `json:"inventory,omitempty"`
	// Ack relays an acknowledgement made at the receiver.
	Ack *Ack `json:"ack,omitempty"`
}

// Command kinds.
const (
	KindBundle    = "bundle"
	KindFirmware  = "firmware"
	KindInventory = "inventory"
	KindAck       = "ack"
)

// Kind names what the command carries; the error says when it carries
// nothing, or more than one thing.
func (c Command) Kind() (string, error) {
	var kinds []string
	if len(c.Bundle) > 0 {
		kinds = append(kinds, KindBundle)
	}
	if c.Firmware != nil {
		kinds = append(kinds, KindFirmware)
	}
	if c.Inventory {
		kinds = append(kinds, KindInventory)
	}
	if c.Ack != nil {
		kinds = append(kinds, KindAck)
	}
	switch len(kinds) {
	case 1:
		return kinds[0], nil
	case 0:
		return "", errors.New("the command carries nothing (a bundle, a firmware notice, an inventory request or an acknowledgement)")
	}
	return "", errors.New("the command carries more than one of a bundle, a firmware notice, an inventory request and an acknowledgement")
}

// FirmwareNotice says a firmware version is available. Created and
// Expires are signed with the rest: a box refuses a notice past its
// expiry, and one created before the newest it took (a notice held back
// and replayed to freeze or roll back the box).
type FirmwareNotice struct {
	Version string    `json:"version"`
	URL     string    `json:"url"`
	SHA256  string    `json:"sha256"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	// Signature is ed25519 over NoticeBytes, by the MSP key.
	Signature []byte `json:"signature"`
}

// NoticeBytes is what a firmware notice's signature covers.
func (n FirmwareNotice) NoticeBytes() []byte {
	return []byte("outpost-firmware-notice/2\n" + n.Version + "\n" + n.URL + "\n" + n.SHA256 + "\n" +
		n.Created.UTC().Format(time.RFC3339Nano) + "\n" + n.Expires.UTC().Format(time.RFC3339Nano))
}

// Verify reports whether the notice is signed by pub (the MSP key the
// box pinned).
func (n FirmwareNotice) Verify(pub ed25519.PublicKey) bool {
	return len(pub) == ed25519.PublicKeySize && ed25519.Verify(pub, n.NoticeBytes(), n.Signature)
}

// Conflict is the body of the receiver's 409 answer: it already holds a
// different summary under this box's sequence number Seq (or has expired
// that number), keeps what it holds and stores nothing. LastSeq is the
// newest sequence number it holds for the box: a box restored from an
// old backup repeats numbers it had used, and numbers its queue on from
// past LastSeq (phone home does, on this answer).
type Conflict struct {
	Error   string `json:"error"`
	Seq     uint64 `json:"seq"`
	LastSeq uint64 `json:"last_seq"`
}
