package wire

import "crypto/ed25519"

// Reply is the receiver's answer to an accepted summary.
type Reply struct {
	// Ack is the sequence number stored (or already stored).
	Ack       uint64 `json:"ack"`
	Duplicate bool   `json:"duplicate,omitempty"`
	// Bundle is a signed provisioning bundle (the USB format), applied
	// only when signed by the MSP key the box pinned.
	Bundle []byte `json:"bundle,omitempty"`
	// Firmware announces a firmware version, signed by the MSP key.
	Firmware *FirmwareNotice `json:"firmware,omitempty"`
	// Inventory asks for a full inventory in the next summary.
	Inventory bool `json:"inventory,omitempty"`
}

// FirmwareNotice says a firmware version is available.
type FirmwareNotice struct {
	Version string `json:"version"`
	URL     string `json:"url"`
	SHA256  string `json:"sha256"`
	// Signature is ed25519 over NoticeBytes, by the MSP key.
	Signature []byte `json:"signature"`
}

// NoticeBytes is what a firmware notice's signature covers.
func (n FirmwareNotice) NoticeBytes() []byte {
	return []byte("outpost-firmware-notice/1\n" + n.Version + "\n" + n.URL + "\n" + n.SHA256)
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
// old backup repeats numbers it had used, and would number its queue on
// from past LastSeq.
type Conflict struct {
	Error   string `json:"error"`
	Seq     uint64 `json:"seq"`
	LastSeq uint64 `json:"last_seq"`
}
