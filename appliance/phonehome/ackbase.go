package phonehome

// The receiver says in every reply where it serves acknowledge pages
// (wire.Reply.AckBase, `hq run --public-url`); the box's acknowledge
// links point there while it does. The address is checked like any
// input from the receiver: https, a host, no user, query or fragment,
// bounded; anything else is ignored and the box's own links are used.

import "outpost/appliance/phonehome/wire"

// AckBase is where the receiver serves acknowledge pages, without a
// trailing slash; "" when it serves none (the box's own links then).
func (p *Phone) AckBase() string {
	p.cmdMu.Lock()
	defer p.cmdMu.Unlock()
	return p.ackBase
}

func (p *Phone) setAckBase(base string) {
	clean, err := wire.CleanAckBase(base)
	if base != "" && err != nil {
		p.o.Log.Warn("phone home: the receiver's acknowledge page address is not usable; links point at the box", "err", err)
		clean = ""
	}
	if base == "" {
		clean = ""
	}
	p.cmdMu.Lock()
	defer p.cmdMu.Unlock()
	if clean == p.ackBase {
		return
	}
	p.ackBase = clean
	p.saveCommandsLocked()
	if clean != "" {
		p.o.Log.Info("phone home: acknowledge links point at the receiver", "ack_base", clean)
	} else {
		p.o.Log.Info("phone home: the receiver serves no acknowledge pages; links point at the box")
	}
}
