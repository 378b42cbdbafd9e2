package phonehome

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"log/slog"
	"testing"

	"outpost/appliance/phonehome/wire"
	"outpost/checks/clock"
)

// pinnedOnly trusts one key and records what reaches Apply.
type pinnedOnly struct {
	key     ed25519.PublicKey
	applied int
}

func (b *pinnedOnly) PinnedKey() (ed25519.PublicKey, bool) { return b.key, true }
func (b *pinnedOnly) Apply(context.Context, []byte, string) error {
	b.applied++
	return nil
}

// FuzzReply feeds hq's reply, as it arrives from the network, to the
// code that acts on it: whatever it holds, nothing panics, and nothing
// not signed by the pinned key is applied or announced.
func FuzzReply(f *testing.F) {
	pub, _, _ := ed25519.GenerateKey(nil)
	f.Add([]byte(`{"ack":1}`))
	f.Add([]byte(`{"ack":1,"duplicate":true,"inventory":true}`))
	f.Add([]byte(`{"ack":1,"bundle":"b3V0cG9zdA=="}`))
	f.Add([]byte(`{"ack":1,"firmware":{"version":"9.9","url":"https://x/y","sha256":"00","signature":"AAAA"}}`))
	f.Add([]byte(`{"ack":1,"bundle":null,"firmware":{}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var rep wire.Reply
		if json.Unmarshal(data, &rep) != nil {
			return
		}
		b := &pinnedOnly{key: pub}
		announced := 0
		p := &Phone{o: Options{Bundles: b, Clock: clock.Real{}, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), URL: "https://hq.test/v1/summaries",
			OnFirmware: func(wire.FirmwareNotice) { announced++ }}, kick: make(chan string, 8), wake: make(chan struct{}, 1)}
		p.handleReply(context.Background(), rep)
		if b.applied != 0 || announced != 0 {
			t.Fatalf("a reply not signed by the pinned key was acted on (%d bundles, %d notices): %s", b.applied, announced, data)
		}
	})
}
