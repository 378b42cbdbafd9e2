package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

var (
	bucketUsers    = []byte("users")
	bucketSessions = []byte("sessions")
)

func init() {
	registerBucket(string(bucketUsers))
	registerBucket(string(bucketSessions))
}

// UserRecord is a UI account as stored.
type UserRecord struct {
	Name    string    `json:"name"`
	Role    string    `json:"role"`
	Hash    []byte    `json:"hash"`
	Created time.Time `json:"created"`
}

// SessionRecord is a UI login. The store keeps only a hash of its ID
// (sessionKey): a copy of outpost.db (a stolen SD card, a backup) holds
// no cookie that logs anyone in.
type SessionRecord struct {
	ID      string    `json:"id,omitempty"`
	User    string    `json:"user"`
	Role    string    `json:"role"`
	CSRF    string    `json:"csrf"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
}

// CountUsers returns how many accounts exist.
func (s *Store) CountUsers() (int, error) {
	n := 0
	err := s.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucketUsers).Stats().KeyN
		return nil
	})
	return n, err
}

// CreateFirstAdmin stores u only if no account exists, in one
// transaction, so two first-boot browsers cannot both become admin.
func (s *Store) CreateFirstAdmin(u UserRecord) (bool, error) {
	created := false
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketUsers)
		if k, _ := b.Cursor().First(); k != nil {
			return nil
		}
		created = true
		return putJSON(b, u.Name, u)
	})
	return created, err
}

// PutUser creates or replaces an account.
func (s *Store) PutUser(u UserRecord) error {
	return s.db.Update(func(tx *bolt.Tx) error { return putJSON(tx.Bucket(bucketUsers), u.Name, u) })
}

// GetUser returns an account.
func (s *Store) GetUser(name string) (UserRecord, bool, error) {
	var u UserRecord
	ok, err := s.getJSON(bucketUsers, name, &u)
	return u, ok, err
}

// ListUsers returns every account by name.
func (s *Store) ListUsers() ([]UserRecord, error) {
	var out []UserRecord
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketUsers).ForEach(func(k, v []byte) error {
			var u UserRecord
			if err := json.Unmarshal(v, &u); err != nil {
				return fmt.Errorf("user %s: %w", k, err)
			}
			out = append(out, u)
			return nil
		})
	})
	return out, err
}

// DeleteUser removes an account.
func (s *Store) DeleteUser(name string) error {
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketUsers).Delete([]byte(name)) })
}

// sessionKeyPrefix marks hashed session keys; keys without it were
// stored in clear by older versions and are dropped (those browsers log
// in again once).
const sessionKeyPrefix = "sha256:"

// sessionKey is how a session id is stored: its SHA-256. The id is 256
// random bits, so a plain hash cannot be reversed or guessed.
func sessionKey(id string) string {
	sum := sha256.Sum256([]byte(id))
	return sessionKeyPrefix + hex.EncodeToString(sum[:])
}

// PutSession stores a login session, and drops expired ones and any
// kept in clear by an older version.
func (s *Store) PutSession(r SessionRecord) error {
	now := s.o.Clock.Now()
	key := sessionKey(r.ID)
	r.ID = ""
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSessions)
		var expired [][]byte
		b.ForEach(func(k, v []byte) error {
			var old SessionRecord
			if !bytes.HasPrefix(k, []byte(sessionKeyPrefix)) || (json.Unmarshal(v, &old) == nil && now.After(old.Expires)) {
				expired = append(expired, append([]byte(nil), k...))
			}
			return nil
		})
		for _, k := range expired {
			b.Delete(k)
		}
		return putJSON(b, key, r)
	})
}

// GetSession returns a session by id.
func (s *Store) GetSession(id string) (SessionRecord, bool, error) {
	var r SessionRecord
	ok, err := s.getJSON(bucketSessions, sessionKey(id), &r)
	if ok {
		r.ID = id
	}
	return r, ok, err
}

// DeleteSession ends one session.
func (s *Store) DeleteSession(id string) error {
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketSessions).Delete([]byte(sessionKey(id))) })
}

// DeleteUserSessions ends every session of a user (logout everywhere).
func (s *Store) DeleteUserSessions(user string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSessions)
		var victims [][]byte
		b.ForEach(func(k, v []byte) error {
			var r SessionRecord
			if json.Unmarshal(v, &r) == nil && r.User == user {
				victims = append(victims, append([]byte(nil), k...))
			}
			return nil
		})
		for _, k := range victims {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}

func putJSON(b *bolt.Bucket, key string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put([]byte(key), data)
}

func (s *Store) getJSON(bucket []byte, key string, v any) (bool, error) {
	ok := false
	err := s.db.View(func(tx *bolt.Tx) error {
		data := tx.Bucket(bucket).Get([]byte(key))
		if data == nil {
			return nil
		}
		ok = true
		return json.Unmarshal(data, v)
	})
	return ok, err
}
