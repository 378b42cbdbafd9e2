package phonehome

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"time"

	"outpost/appliance/phonehome/wire"
	"outpost/firmware/bundle"
)

// The receiver keeps each command it queued for the box pending, and
// sends every pending one with every reply, until a summary from the box
// lists the command's result. So the box handles each command id once,
// lists what became of it in every summary it builds from then on, and
// forgets it when a reply no longer carries it: the receiver has let it
// go. A reply lost on the way, or a box restarted in between, loses
// nothing and repeats nothing.

// commandState is what the box keeps of the receiver's commands, in the
// CommandLog. URL names the receiver that numbered them: another
// receiver numbers its own commands.
type commandState struct {
	URL     string               `json:"url"`
	Handled []wire.CommandResult `json:"handled"`
	// AckBase is the receiver's acknowledge pages (Reply.AckBase), kept
	// so that links made after a restart point there before the first
	// reply.
	AckBase string `json:"ack_base,omitempty"`
}

// maxDetail bounds the text of a command's result.
const maxDetail = 500

func (p *Phone) loadCommands() {
	if p.o.Commands == nil {
		return
	}
	data, err := p.o.Commands.LoadPhoneCommands()
	if err != nil {
		p.o.Log.Error("phone home: what became of the receiver's commands could not be read; a command the box handled may be handled again", "err", err)
		return
	}
	if data == nil {
		return
	}
	var st commandState
	if err := json.Unmarshal(data, &st); err != nil {
		p.o.Log.Error("phone home: the record of the receiver's commands is unreadable; a command the box handled may be handled again", "err", err)
		return
	}
	if st.URL != p.o.URL {
		return
	}
	if len(st.Handled) > wire.MaxCommandResults {
		st.Handled = st.Handled[len(st.Handled)-wire.MaxCommandResults:]
	}
	p.cmds = st.Handled
	if base, err := wire.CleanAckBase(st.AckBase); err == nil && st.AckBase != "" {
		p.ackBase = base
	}
}

// saveCommandsLocked records p.cmds; cmdMu is held.
func (p *Phone) saveCommandsLocked() {
	if p.o.Commands == nil {
		return
	}
	data, err := json.Marshal(commandState{URL: p.o.URL, Handled: p.cmds, AckBase: p.ackBase})
	if err == nil {
		err = p.o.Commands.SavePhoneCommands(data)
	}
	if err != nil {
		p.o.Log.Error("phone home: what became of the receiver's commands could not be recorded; after a restart a command may be handled again", "err", err)
	}
}

// commandResults is what the next summary lists.
func (p *Phone) commandResults() []wire.CommandResult {
	p.cmdMu.Lock()
	defer p.cmdMu.Unlock()
	if len(p.cmds) == 0 {
		return nil
	}
	return append([]wire.CommandResult(nil), p.cmds...)
}

// handleCommands acts on a reply's commands: those handled before that
// the reply no longer carries are forgotten, each new one is handled and
// its result recorded before the next, and a summary is asked for at
// once so the receiver hears of them soon.
func (p *Phone) handleCommands(ctx context.Context, cmds []wire.Command) {
	if len(cmds) > wire.MaxCommands {
		p.o.Log.Warn("phone home: the reply carries more commands than a box reads; the first are handled", "commands", len(cmds), "read", wire.MaxCommands)
		cmds = cmds[:wire.MaxCommands]
	}
	listed := map[uint64]bool{}
	for _, c := range cmds {
		listed[c.ID] = true
	}
	p.cmdMu.Lock()
	known := map[uint64]bool{}
	kept := p.cmds[:0:0]
	for _, r := range p.cmds {
		if listed[r.ID] {
			kept = append(kept, r)
			known[r.ID] = true
		}
	}
	if len(kept) != len(p.cmds) {
		p.cmds = kept
		p.saveCommandsLocked()
	}
	p.cmdMu.Unlock()
	reason := ""
	for _, c := range cmds {
		if known[c.ID] {
			continue
		}
		known[c.ID] = true
		if c.ID == 0 {
			p.o.Log.Warn("phone home: a command without an id in the reply; ignored (the receiver numbers its commands from 1)")
			continue
		}
		r := p.handleCommand(ctx, c)
		p.cmdMu.Lock()
		p.cmds = append(p.cmds, r)
		if len(p.cmds) > wire.MaxCommandResults {
			p.cmds = p.cmds[len(p.cmds)-wire.MaxCommandResults:]
		}
		p.saveCommandsLocked()
		p.cmdMu.Unlock()
		if r.Kind == wire.KindInventory && r.Result == wire.CommandDone {
			reason = "inventory_request"
		} else if reason == "" {
			reason = "command"
		}
	}
	if reason != "" {
		p.Kick(reason)
	}
}

// handleCommand handles one command: a bundle is applied with the USB
// rules and only under the pinned MSP key, a firmware notice is taken
// only when signed by it, an inventory request makes the next summary
// list every device.
func (p *Phone) handleCommand(ctx context.Context, c wire.Command) wire.CommandResult {
	r := wire.CommandResult{ID: c.ID, Time: p.o.Clock.Now().UTC()}
	kind, err := c.Kind()
	r.Kind = kind
	done := func(format string, args ...any) wire.CommandResult {
		r.Result, r.Detail = wire.CommandDone, clip(fmt.Sprintf(format, args...))
		p.o.Log.Info("phone home: command from the receiver done", "command", c.ID, "kind", kind, "detail", r.Detail)
		return r
	}
	refuse := func(format string, args ...any) wire.CommandResult {
		r.Result, r.Detail = wire.CommandRefused, clip(fmt.Sprintf(format, args...))
		p.o.Log.Error("phone home: command from the receiver refused", "command", c.ID, "kind", kind, "reason", r.Detail)
		return r
	}
	if err != nil {
		return refuse("%v", err)
	}
	if kind == wire.KindInventory {
		p.full.Store(true)
		return done("a full inventory follows in the next summary")
	}
	if kind == wire.KindAck {
		// Not under the MSP key: an acknowledgement reconfigures nothing.
		// A link's token is the box's own and verified by it; a receiver
		// user's is taken from the verified channel (docs/security.md).
		if p.o.Acks == nil {
			return refuse("this box takes no acknowledgements from the receiver")
		}
		detail, err := p.o.Acks.Acknowledge(*c.Ack)
		if err != nil {
			return refuse("%v", err)
		}
		return done("%s", detail)
	}
	var pinned ed25519.PublicKey
	ok := false
	if p.o.Bundles != nil {
		pinned, ok = p.o.Bundles.PinnedKey()
	}
	if !ok {
		return refuse("this box trusts no MSP key yet, so it takes no %s from the receiver (outpost install --msp-key, or outpost bundle trust at the box)", kind)
	}
	switch kind {
	case wire.KindBundle:
		b, err := bundle.Parse(c.Bundle)
		switch {
		case err != nil:
			return refuse("bundle: %v", err)
		case !b.Key.Equal(pinned):
			return refuse("bundle v%d is not signed by the MSP key this box trusts", b.Version)
		}
		if err := p.o.Bundles.Apply(ctx, c.Bundle, fmt.Sprintf("phone home %s, command %d", p.o.URL, c.ID)); err != nil {
			return refuse("bundle v%d: %v", b.Version, err)
		}
		return done("bundle v%d (site %q) applied", b.Version, b.Site)
	default: // wire.KindFirmware
		n := c.Firmware
		if !n.Verify(pinned) {
			return refuse("firmware notice for version %q is not signed by the MSP key this box trusts", clip(n.Version))
		}
		if now := p.o.Clock.Now(); !now.Before(n.Expires) {
			return refuse("firmware notice for %s expired at %s (box clock %s)", clip(n.Version), n.Expires.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
		}
		if p.o.OnFirmware != nil {
			if err := p.o.OnFirmware(*n); err != nil {
				return refuse("firmware notice for %s: %v", clip(n.Version), err)
			}
		}
		return done("firmware %s: downloading and applying it (box_health.last_firmware follows)", clip(n.Version))
	}
}

func clip(s string) string {
	if len(s) > maxDetail {
		return s[:maxDetail] + "…"
	}
	return s
}
