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

// countAcks counts the acknowledgements relayed to the box.
type countAcks struct{ n int }

func (a *countAcks) Acknowledge(wire.Ack) (string, error) { a.n++; return "acknowledged", nil }

// FuzzReply feeds hq's reply, as it arrives from the network, to the
// code that acts on it: whatever it holds, nothing panics, and nothing
// not signed by the pinned key is applied or announced.
func FuzzReply(f *testing.F) {
	pub, _, _ := ed25519.GenerateKey(nil)
	f.Add([]byte(`{"ack":1}`))
	f.Add([]byte(`{"ack":1,"duplicate":true,"commands":[{"id":1,"inventory":true}]}`))
	f.Add([]byte(`{"ack":1,"commands":[{"id":2,"bundle":"b3V0cG9zdA=="}]}`))
	f.Add([]byte(`{"ack":1,"commands":[{"id":3,"firmware":{"version":"9.9","url":"https://x/y","sha256":"00","signature":"AAAA"}}]}`))
	f.Add([]byte(`{"ack":1,"commands":[{"id":4,"bundle":null,"firmware":{}},{"id":4,"inventory":true},{"id":0,"inventory":true}]}`))
	f.Add([]byte(`{"ack":1,"commands":[{"id":5,"bundle":"b3V0cG9zdA==","inventory":true},{}]}`))
	f.Add([]byte(`{"ack":1,"ack_base":"https://hq.example:8444/","commands":[{"id":6,"ack":{"via":"link","token":"AAAA","by":"bob"}}]}`))
	f.Add([]byte(`{"ack":1,"ack_base":"javascript:alert(1)","commands":[{"id":7,"ack":{"via":"user","incident":3,"by":"x"},"inventory":true}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var rep wire.Reply
		if json.Unmarshal(data, &rep) != nil {
			return
		}
		b := &pinnedOnly{key: pub}
		announced := 0
		p := &Phone{o: Options{Bundles: b, Clock: clock.Real{}, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), URL: "https://hq.test/v1/summaries",
			OnFirmware: func(wire.FirmwareNotice) error { announced++; return nil }}, kick: make(chan string, 8), wake: make(chan struct{}, 1)}
		acks := &countAcks{}
		p.o.Acks = acks
		p.handleReply(context.Background(), rep)
		if base := p.AckBase(); base != "" {
			if clean, err := wire.CleanAckBase(base); err != nil || clean != base {
				t.Fatalf("acknowledge pages %q taken from %s", base, data)
			}
		}
		if b.applied != 0 || announced != 0 {
			t.Fatalf("a reply not signed by the pinned key was acted on (%d bundles, %d notices): %s", b.applied, announced, data)
		}
		// Every command is answered once, by id, within the bounds.
		res := p.commandResults()
		seen := map[uint64]bool{}
		for _, r := range res {
			if seen[r.ID] || r.ID == 0 || (r.Result != wire.CommandDone && r.Result != wire.CommandRefused) || len(r.Detail) > maxDetail+len("…") {
				t.Fatalf("command results %+v for %s", res, data)
			}
			seen[r.ID] = true
		}
		if len(res) > wire.MaxCommands {
			t.Fatalf("%d command results from one reply", len(res))
		}
		// The same reply again is handled once: nothing new.
		p.handleReply(context.Background(), rep)
		if again := p.commandResults(); len(again) != len(res) || acks.n > len(res) {
			t.Fatalf("the same reply twice gave %d results, then %d", len(res), len(again))
		}
	})
}
