package phonehome

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"outpost/appliance/phonehome/wire"
	"outpost/checks/clock"
	"outpost/store"
)

type storeCommands struct{ *store.Store }

func (c storeCommands) LoadPhoneCommands() ([]byte, error) { return c.GetBlob("phonehome-commands") }
func (c storeCommands) SavePhoneCommands(state []byte) error {
	return c.PutBlob("phonehome-commands", state)
}

// TestCommandsHandledOnceAcrossRestart: what became of a command is kept
// in the store, so a box restarted before hq let the command go neither
// handles it again nor forgets to report it; a reply that no longer
// carries it settles it; another receiver's command with the same id is
// its own.
func TestCommandsHandledOnceAcrossRestart(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "outpost.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	phone := func(url string) *Phone {
		p, err := New(Options{URL: url, Commands: storeCommands{st}, Clock: clock.Real{}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	ask := wire.Reply{Ack: 1, Commands: []wire.Command{{ID: 7, Inventory: true}}}
	p := phone("https://hq.example/v1/summaries")
	p.handleReply(context.Background(), ask)
	if !p.full.Load() || len(p.commandResults()) != 1 {
		t.Fatalf("inventory request not handled: %+v", p.commandResults())
	}
	// Restarted: the result is still reported, and the request, carried
	// again, is not handled again.
	p = phone("https://hq.example/v1/summaries")
	if res := p.commandResults(); len(res) != 1 || res[0].ID != 7 || res[0].Result != wire.CommandDone {
		t.Fatalf("after a restart: %+v", res)
	}
	p.handleReply(context.Background(), ask)
	if p.full.Load() {
		t.Fatal("the inventory request was handled again after the restart")
	}
	// Another receiver numbers its own commands: its 7 is new.
	other := phone("https://other-hq.example/v1/summaries")
	if len(other.commandResults()) != 0 {
		t.Fatal("another receiver's phone home took this receiver's command results")
	}
	// A reply without it: hq let it go; so does the box, for good.
	p.handleReply(context.Background(), wire.Reply{Ack: 2})
	if len(p.commandResults()) != 0 || len(phone("https://hq.example/v1/summaries").commandResults()) != 0 {
		t.Fatal("a command hq no longer carries is still reported")
	}
}
