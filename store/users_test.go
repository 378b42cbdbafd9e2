package store

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"outpost/checks/clock"
)

// A copy of outpost.db (a stolen SD card, a backup) holds no session id
// that a browser could present: only their hashes. The live store still
// finds, ends and expires sessions.
func TestSessionsStoredAsHashes(t *testing.T) {
	fc := clock.NewFake(time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC))
	path := filepath.Join(t.TempDir(), "o.db")
	s := mustOpen(t, path, Options{Clock: fc})
	// An older version's session, kept in clear: dropped at the next login.
	s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSessions).Put([]byte("legacy-clear-id-0123456789abcdef"), []byte(`{"id":"legacy-clear-id-0123456789abcdef","user":"admin"}`))
	})
	id := "p1ZyF2Wq7v0mVhS1c3bXkJx4nE9uQ8tR6yL5aD2gH0s"
	if err := s.PutSession(SessionRecord{ID: id, User: "alice", Role: "admin", CSRF: "c", Created: fc.Now(), Expires: fc.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if r, ok, err := s.GetSession(id); err != nil || !ok || r.ID != id || r.User != "alice" {
		t.Fatalf("get: %+v %v %v", r, ok, err)
	}
	if _, ok, _ := s.GetSession("legacy-clear-id-0123456789abcdef"); ok {
		t.Fatal("a session kept in clear still logs in")
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// (The legacy id may linger in a freed page until bbolt reuses it;
	// a new id is never written at all.)
	if bytes.Contains(raw, []byte(id)) {
		t.Fatalf("outpost.db holds the session id %q in clear", id)
	}
	if err := s.DeleteSession(id); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.GetSession(id); ok {
		t.Fatal("deleted session still found")
	}
}
