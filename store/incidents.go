package store

import (
	bolt "go.etcd.io/bbolt"
)

var (
	bucketIncidents = []byte("incidents")      // id -> incident JSON
	bucketOpenIdx   = []byte("incidents_open") // id -> nothing, for open ones
)

func init() {
	registerBucket(string(bucketIncidents))
	registerBucket(string(bucketOpenIdx))
}

// NextIncidentID allocates an incident number (1, 2, 3 ... never reused).
func (s *Store) NextIncidentID() (uint64, error) {
	var id uint64
	err := s.db.Update(func(tx *bolt.Tx) error {
		var err error
		id, err = tx.Bucket(bucketIncidents).NextSequence()
		return err
	})
	return id, err
}

// PutIncident stores an incident document and keeps the open index. Each
// call is one commit: incidents change rarely and must not be lost.
func (s *Store) PutIncident(id uint64, open bool, doc []byte) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketIncidents).Put(u64Key(id), doc); err != nil {
			return err
		}
		if open {
			return tx.Bucket(bucketOpenIdx).Put(u64Key(id), nil)
		}
		return tx.Bucket(bucketOpenIdx).Delete(u64Key(id))
	})
}

// GetIncident returns an incident document.
func (s *Store) GetIncident(id uint64) ([]byte, bool, error) {
	var out []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketIncidents).Get(u64Key(id)); v != nil {
			out = append([]byte(nil), v...)
		}
		return nil
	})
	return out, out != nil, err
}

// ListIncidents calls fn with incident documents, newest first, until fn
// returns false. With openOnly it walks the open index only.
func (s *Store) ListIncidents(openOnly bool, fn func(doc []byte) bool) error {
	return s.db.View(func(tx *bolt.Tx) error {
		inc := tx.Bucket(bucketIncidents)
		c := inc.Cursor()
		if openOnly {
			c = tx.Bucket(bucketOpenIdx).Cursor()
		}
		for k, _ := c.Last(); k != nil; k, _ = c.Prev() {
			v := inc.Get(k)
			if v == nil {
				continue
			}
			if !fn(append([]byte(nil), v...)) {
				return nil
			}
		}
		return nil
	})
}
