package checks

import "time"

// Kinds of inventory change (what discovery sweeps saw), as the store
// records them and inventory_change checks select them.
const (
	ChangeNewDevice = "new_device"
	ChangeGone      = "device_gone"
	ChangeBack      = "device_back"
	ChangeMACMoved  = "mac_moved"  // a known MAC answered on another IP
	ChangeIPClaimed = "ip_claimed" // an IP another device held answered with a second MAC
	ChangeFirmware  = "firmware_changed"
)

// InventoryChangeKinds lists the kinds of inventory change.
var InventoryChangeKinds = []string{ChangeNewDevice, ChangeGone, ChangeBack, ChangeMACMoved, ChangeIPClaimed, ChangeFirmware}

// InventoryChange is one change a sweep saw (or, for a device gone a
// while, the device's last sighting).
type InventoryChange struct {
	Time   time.Time
	Kind   string
	Key    string
	IP     string
	MAC    string
	Detail string
}

// InventoryReader reads the inventory the discovery sweeps keep (the
// store, through the wiring). Errors are the store's.
type InventoryReader interface {
	// InventoryChangesSince lists the changes at or after since, oldest
	// first, at most n. Ignored devices have none.
	InventoryChangesSince(since time.Time, n int) ([]InventoryChange, error)
	// GoneDevices lists the devices not found since before, other than
	// ignored ones, as ChangeGone entries timed at their last sighting.
	GoneDevices(before time.Time) ([]InventoryChange, error)
}
