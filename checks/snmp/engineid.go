package snmp

import "encoding/binary"

// Blobs keeps small named values across restarts (the store's blobs).
type Blobs interface {
	// GetBlob returns the value under name, nil when there is none.
	GetBlob(name string) ([]byte, error)
	// PutBlob stores value under name, replacing what was there.
	PutBlob(name string, value []byte) error
}

// The names the engine's values are kept under.
const (
	engineIDBlob    = "snmp-engine-id"
	engineBootsBlob = "snmp-engine-boots"
)

// KeepEngine returns the box's SNMPv3 engine ID (made once with
// NewEngineID and kept in b, so devices configured to send informs to it
// keep working) and counts this start in its snmpEngineBoots (kept in b
// as 4 big-endian bytes). On an error reading or writing the boots
// counter the engine ID is still returned.
func KeepEngine(b Blobs) (id []byte, boots uint32, err error) {
	if id, err = b.GetBlob(engineIDBlob); err != nil {
		return nil, 0, err
	}
	if len(id) == 0 {
		id = NewEngineID()
		if err := b.PutBlob(engineIDBlob, id); err != nil {
			return nil, 0, err
		}
	}
	old, err := b.GetBlob(engineBootsBlob)
	if err != nil {
		return id, 1, err
	}
	boots = 1
	if len(old) == 4 {
		boots = binary.BigEndian.Uint32(old) + 1
	}
	return id, boots, b.PutBlob(engineBootsBlob, binary.BigEndian.AppendUint32(nil, boots))
}
