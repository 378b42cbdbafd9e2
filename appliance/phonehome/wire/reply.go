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
