package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ConfigVersion is one applied configuration.
type ConfigVersion struct {
	Version int       `json:"version"`
	Applied time.Time `json:"applied"`
	Source  string    `json:"source"`
	Raw     []byte    `json:"raw,omitempty"`
}

// SaveConfig records raw as a new version if it differs from the current
// one, and returns the version in force either way.
func (s *Store) SaveConfig(source string, raw []byte) (ConfigVersion, error) {
	var cv ConfigVersion
	err := s.db.Update(func(tx *bolt.Tx) error {
		var err error
		cv, err = SaveConfigTx(tx, s.o.Clock.Now(), source, raw)
		return err
	})
	return cv, err
}

// SaveConfigTx is SaveConfig inside a caller's transaction, so that
// provisioning can switch config and its own state atomically.
func SaveConfigTx(tx *bolt.Tx, now time.Time, source string, raw []byte) (ConfigVersion, error) {
	b := tx.Bucket(bucketConfig)
	if k, v := b.Cursor().Last(); k != nil {
		var cur ConfigVersion
		if err := json.Unmarshal(v, &cur); err != nil {
			return cur, fmt.Errorf("config version %d: %w", keyU64(k), err)
		}
		if bytes.Equal(cur.Raw, raw) {
			return cur, nil
		}
	}
	seq, err := b.NextSequence()
	if err != nil {
		return ConfigVersion{}, err
	}
	cv := ConfigVersion{Version: int(seq), Applied: now, Source: source, Raw: raw}
	v, err := json.Marshal(cv)
	if err != nil {
		return cv, err
	}
	return cv, b.Put(u64Key(seq), v)
}

// CurrentConfig returns the newest recorded config.
func (s *Store) CurrentConfig() (ConfigVersion, bool, error) {
	var cv ConfigVersion
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		_, v := tx.Bucket(bucketConfig).Cursor().Last()
		if v == nil {
			return nil
		}
		ok = true
		return json.Unmarshal(v, &cv)
	})
	return cv, ok, err
}

// ConfigHistory lists every recorded version, oldest first, without the
// config text.
func (s *Store) ConfigHistory() ([]ConfigVersion, error) {
	var out []ConfigVersion
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketConfig).ForEach(func(k, v []byte) error {
			var cv ConfigVersion
			if err := json.Unmarshal(v, &cv); err != nil {
				return err
			}
			cv.Raw = nil
			out = append(out, cv)
			return nil
		})
	})
	return out, err
}

func keyU64(k []byte) uint64 {
	if len(k) < 8 {
		return 0
	}
	return uint64(k[0])<<56 | uint64(k[1])<<48 | uint64(k[2])<<40 | uint64(k[3])<<32 | uint64(k[4])<<24 | uint64(k[5])<<16 | uint64(k[6])<<8 | uint64(k[7])
}
