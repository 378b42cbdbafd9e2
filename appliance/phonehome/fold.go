package phonehome

import "outpost/appliance/phonehome/wire"

// Names of the coalesced figures in the outbox bookkeeping.
const (
	lostIncidentsClosed  = "incidents_closed"
	lostInventoryNew     = "inventory_new"
	lostInventoryGone    = "inventory_gone"
	lostInventoryChanged = "inventory_changed"
	lostDiscovered       = "inventory_discovered"
)

// lostOf is the loss as summaries report it.
func lostOf(m Meta) wire.Lost {
	return wire.Lost{Total: m.Lost, FirstSeq: m.LostFirst, LastSeq: m.LostLast,
		IncidentsClosed:  m.LostCounts[lostIncidentsClosed],
		InventoryNew:     m.LostCounts[lostInventoryNew],
		InventoryGone:    m.LostCounts[lostInventoryGone],
		InventoryChanged: m.LostCounts[lostInventoryChanged], InventoryDiscovered: m.LostCounts[lostDiscovered]}
}

// Fold is what a summary dropped by the quota leaves behind: its
// one-time figures, and whether it carried inventory changes (the box
// then sends a full inventory next). A summary that cannot be read
// leaves only its count.
func Fold(body []byte) (map[string]uint64, bool) {
	s, err := wire.Decode(body)
	if err != nil {
		return nil, false
	}
	inv := s.Inventory
	return map[string]uint64{
		lostIncidentsClosed:  uint64(len(s.ClosedIncidents)),
		lostInventoryNew:     uint64(len(inv.New)),
		lostInventoryGone:    uint64(len(inv.Gone)),
		lostInventoryChanged: uint64(len(inv.Changed)),
		lostDiscovered:       uint64(len(inv.Discovered) + inv.DiscoveredOmitted),
	}, len(inv.New)+len(inv.Gone)+len(inv.Changed) > 0
}
