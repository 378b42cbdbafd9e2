package store

import (
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

var (
	bucketFirmware = []byte("firmware")
	keyFirmware    = []byte("state")
)

func init() { registerBucket(string(bucketFirmware)) }

// MaxFirmwareEvents bounds the firmware history kept.
const MaxFirmwareEvents = 50

// FirmwareEvent is one thing that happened to the box's firmware: an
// update applied, confirmed healthy, refused, interrupted or rolled back.
type FirmwareEvent struct {
	Time time.Time `json:"time"`
	// Result is "applied" (swapped in, health window running),
	// "confirmed", "refused", "interrupted" or "rolled back".
	Result string `json:"result"`
	From   string `json:"from,omitempty"`
	To     string `json:"to,omitempty"`
	Reason string `json:"reason,omitempty"`
	Source string `json:"source,omitempty"`
}

// FirmwareState is what the store keeps about firmware: the highest
// version ever running healthy on the box (an update below it is a
// downgrade, refused without --force at the box) and the recent history,
// newest last.
type FirmwareState struct {
	Highest string          `json:"highest,omitempty"`
	Events  []FirmwareEvent `json:"events,omitempty"`
	// LastNotice is the signed creation time of the newest firmware
	// notice the box took from phone home: an older one is refused.
	LastNotice time.Time `json:"last_notice,omitzero"`
}

// Last is the newest event, or nil.
func (f FirmwareState) Last() *FirmwareEvent {
	if len(f.Events) == 0 {
		return nil
	}
	e := f.Events[len(f.Events)-1]
	return &e
}

// Firmware returns the firmware state (empty on a box never updated).
func (s *Store) Firmware() (FirmwareState, error) {
	var f FirmwareState
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketFirmware).Get(keyFirmware)
		if v == nil {
			return nil
		}
		return json.Unmarshal(v, &f)
	})
	if err != nil {
		return FirmwareState{}, fmt.Errorf("reading the firmware state: %w", err)
	}
	return f, nil
}

// UpdateFirmware changes the firmware state in one transaction: change
// gets the current state and edits it (it may return an error, and then
// nothing is written). The history is cut to MaxFirmwareEvents.
func (s *Store) UpdateFirmware(change func(*FirmwareState) error) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketFirmware)
		var f FirmwareState
		if v := b.Get(keyFirmware); v != nil {
			if err := json.Unmarshal(v, &f); err != nil {
				return fmt.Errorf("reading the firmware state: %w", err)
			}
		}
		if err := change(&f); err != nil {
			return err
		}
		if n := len(f.Events); n > MaxFirmwareEvents {
			f.Events = append([]FirmwareEvent(nil), f.Events[n-MaxFirmwareEvents:]...)
		}
		data, err := json.Marshal(f)
		if err != nil {
			return err
		}
		return b.Put(keyFirmware, data)
	})
}
