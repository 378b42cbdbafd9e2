package store

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"

	"outpost/checks"
)

var (
	bucketAgents    = []byte("agents")     // agent name -> AgentRecord
	bucketAgentInv  = []byte("agent-inv")  // agent name -> AgentInventory
	bucketAgentSeen = []byte("agent-seen") // agent name -> last contact (RFC 3339), kept apart so polls rewrite little
)

func init() {
	registerBucket(string(bucketAgents))
	registerBucket(string(bucketAgentInv))
	registerBucket(string(bucketAgentSeen))
}

// AgentRecord is one paired agent as the box remembers it; the type is
// the vocabulary's (checks.AgentPairing), so checks/agent reaches the
// store through its own interface. Its JSON is what the bucket holds.
type AgentRecord = checks.AgentPairing

// AgentInventory is the latest inventory an agent sent
// (checks.AgentInventory), kept as JSON the store does not interpret.
type AgentInventory = checks.AgentInventory

// PutAgent records a pairing, replacing an earlier one under that name
// (re-pairing clears a revocation).
func (s *Store) PutAgent(r AgentRecord) error {
	r.LastSeen = time.Time{}
	return s.db.Update(func(tx *bolt.Tx) error { return putJSON(tx.Bucket(bucketAgents), r.Name, r) })
}

// GetAgent returns the named agent's record.
func (s *Store) GetAgent(name string) (AgentRecord, bool, error) {
	var r AgentRecord
	ok := false
	err := s.db.View(func(tx *bolt.Tx) error {
		data := tx.Bucket(bucketAgents).Get([]byte(name))
		if data == nil {
			return nil
		}
		ok = true
		if err := json.Unmarshal(data, &r); err != nil {
			return fmt.Errorf("agent %s record: %w", name, err)
		}
		r.LastSeen = seenAt(tx, name)
		return nil
	})
	return r, ok, err
}

func seenAt(tx *bolt.Tx, name string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, string(tx.Bucket(bucketAgentSeen).Get([]byte(name))))
	return t
}

// ListAgents returns every agent ever paired, revoked ones included,
// sorted by name.
func (s *Store) ListAgents() ([]AgentRecord, error) {
	var out []AgentRecord
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketAgents).ForEach(func(k, v []byte) error {
			var r AgentRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("agent %s record: %w", k, err)
			}
			r.LastSeen = seenAt(tx, string(k))
			out = append(out, r)
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

// RevokeAgent marks the agent's pairing revoked at the given time and
// returns the updated record; an unknown name is an error.
func (s *Store) RevokeAgent(name string, at time.Time) (AgentRecord, error) {
	var r AgentRecord
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAgents)
		data := b.Get([]byte(name))
		if data == nil {
			return fmt.Errorf("no agent named %q was ever paired with this box", name)
		}
		if err := json.Unmarshal(data, &r); err != nil {
			return err
		}
		if r.RevokedAt.IsZero() {
			r.RevokedAt = at.UTC()
		}
		return putJSON(b, name, r)
	})
	return r, err
}

// TouchAgent records a successful contact.
func (s *Store) TouchAgent(name string, at time.Time) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketAgentSeen).Put([]byte(name), []byte(at.UTC().Format(time.RFC3339Nano)))
	})
}

// PutAgentInventory keeps an agent's latest inventory.
func (s *Store) PutAgentInventory(inv AgentInventory) error {
	return s.db.Update(func(tx *bolt.Tx) error { return putJSON(tx.Bucket(bucketAgentInv), inv.Name, inv) })
}

// GetAgentInventory returns the agent's latest inventory.
func (s *Store) GetAgentInventory(name string) (AgentInventory, bool, error) {
	var inv AgentInventory
	ok, err := s.getJSON(bucketAgentInv, name, &inv)
	return inv, ok, err
}
