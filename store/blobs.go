package store

import (
	"bytes"

	bolt "go.etcd.io/bbolt"
)

var bucketBlobs = []byte("blobs")

func init() { registerBucket(string(bucketBlobs)) }

// GetBlob returns a small named value (the UI certificate, keys), or nil.
func (s *Store) GetBlob(name string) ([]byte, error) {
	var out []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketBlobs).Get([]byte(name)); v != nil {
			out = append([]byte(nil), v...)
		}
		return nil
	})
	if err != nil || out == nil {
		return out, err
	}
	return s.open(name, out)
}

// PutBlobIfAbsent stores value under name unless one exists, and returns
// the value in force: two racing first boots agree on one certificate.
func (s *Store) PutBlobIfAbsent(name string, value []byte) ([]byte, error) {
	sealed, err := s.seal(name, value)
	if err != nil {
		return nil, err
	}
	var out []byte
	err = s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketBlobs)
		if v := b.Get([]byte(name)); v != nil {
			out = append([]byte(nil), v...)
			return nil
		}
		out = value
		return b.Put([]byte(name), sealed)
	})
	if err != nil || bytes.Equal(out, value) {
		return out, err
	}
	return s.open(name, out)
}

// PutBlob stores value under name, replacing what was there.
func (s *Store) PutBlob(name string, value []byte) error {
	sealed, err := s.seal(name, value)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketBlobs).Put([]byte(name), sealed) })
}
