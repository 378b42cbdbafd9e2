package store

import (
	"bytes"
	"crypto/sha256"
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
	// Sealed is Raw encrypted with the store's Sealer (the box's own key)
	// when one is set: configs carry SNMP communities, v3 keys and SMTP
	// passwords. Raw is then not stored; Sum tells versions apart.
	Sealed []byte `json:"sealed,omitempty"`
	Sum    []byte `json:"sum,omitempty"`
}

// Sealer encrypts secrets at rest (the box identity implements it).
type Sealer interface {
	Encrypt(plaintext []byte) ([]byte, error)
	Decrypt(ciphertext []byte) ([]byte, error)
}

// SetSealer makes config versions recorded from now on stored encrypted
// with sl, and lets the sealed ones be read.
func (s *Store) SetSealer(sl Sealer) {
	s.mu.Lock()
	s.sealer = sl
	s.mu.Unlock()
}

func (s *Store) getSealer() Sealer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sealer
}

// SaveConfig records raw as a new version if it differs from the current
// one, and returns the version in force either way.
func (s *Store) SaveConfig(source string, raw []byte) (ConfigVersion, error) {
	return s.switchConfig(source, raw, nil)
}

// SwitchConfig records raw as SaveConfig does and, in the same
// transaction, stores the given blobs: provisioning switches the config
// and its own state (pinned key, applied version) together, so a power
// cut leaves both old or both new. It returns the number of the config
// version in force (firmware/provision.Store).
func (s *Store) SwitchConfig(source string, raw []byte, blobs map[string][]byte) (version int, err error) {
	cv, err := s.switchConfig(source, raw, blobs)
	return cv.Version, err
}

func (s *Store) switchConfig(source string, raw []byte, blobs map[string][]byte) (ConfigVersion, error) {
	var cv ConfigVersion
	sl := s.getSealer()
	err := s.db.Update(func(tx *bolt.Tx) error {
		var err error
		if cv, err = saveConfigTx(tx, sl, s.o.Clock.Now(), source, raw); err != nil {
			return err
		}
		for name, v := range blobs {
			sealed, err := s.seal(name, v)
			if err != nil {
				return err
			}
			if err := tx.Bucket(bucketBlobs).Put([]byte(name), sealed); err != nil {
				return err
			}
		}
		return nil
	})
	cv.Raw = raw
	return cv, err
}

func saveConfigTx(tx *bolt.Tx, sl Sealer, now time.Time, source string, raw []byte) (ConfigVersion, error) {
	b := tx.Bucket(bucketConfig)
	sum := sha256.Sum256(raw)
	if k, v := b.Cursor().Last(); k != nil {
		var cur ConfigVersion
		if err := json.Unmarshal(v, &cur); err != nil {
			return cur, fmt.Errorf("config version %d: %w", keyU64(k), err)
		}
		if bytes.Equal(cur.Sum, sum[:]) || (cur.Sealed == nil && bytes.Equal(cur.Raw, raw)) {
			return cur, nil
		}
	}
	seq, err := b.NextSequence()
	if err != nil {
		return ConfigVersion{}, err
	}
	cv := ConfigVersion{Version: int(seq), Applied: now, Source: source, Raw: raw, Sum: sum[:]}
	if sl != nil {
		if cv.Sealed, err = sl.Encrypt(raw); err != nil {
			return cv, fmt.Errorf("sealing config version %d: %w", seq, err)
		}
		cv.Raw = nil
	}
	v, err := json.Marshal(cv)
	if err != nil {
		return cv, err
	}
	return cv, b.Put(u64Key(seq), v)
}

// CurrentConfig returns the newest recorded config, opened when sealed.
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
	if err != nil || cv.Sealed == nil {
		return cv, ok, err
	}
	sl := s.getSealer()
	if sl == nil {
		return cv, ok, fmt.Errorf("config version %d is sealed and no key is loaded", cv.Version)
	}
	if cv.Raw, err = sl.Decrypt(cv.Sealed); err != nil {
		return cv, ok, fmt.Errorf("config version %d: %w", cv.Version, err)
	}
	return cv, ok, nil
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
			cv.Raw, cv.Sealed = nil, nil
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
