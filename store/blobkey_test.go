package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// Secret blobs are sealed with a key outside outpost.db: the file holds
// none of them in clear, a store opened without the key (or with
// another) cannot read them, and blobs kept in clear by an older version
// are sealed when the key is set.
func TestSecretBlobsSealedWithKeyOutsideTheFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "outpost.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	legacy := []byte("-----BEGIN EC PRIVATE KEY----- legacy-ui-key-in-clear")
	if err := s.PutBlob("ui-tls", legacy); err != nil { // an older version, no key
		t.Fatal(err)
	}
	key, err := LoadKeyFile(filepath.Join(dir, "keys", "store.key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetBlobKey(key); err != nil {
		t.Fatal(err)
	}
	secret := []byte(`{"ed25519_seed":"c2VjcmV0LXNlZWQtb2YtdGhlLWJveA=="}`)
	if err := s.PutBlob("identity", secret); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutBlobIfAbsent("ack-secret", []byte("ack-secret-value-0123456789")); err != nil {
		t.Fatal(err)
	}
	public := []byte(`{"pinned_key":"ed25519:public"}`)
	s.PutBlob("provisioning", public)
	for name, want := range map[string][]byte{"identity": secret, "ui-tls": legacy, "provisioning": public} {
		if got, err := s.GetBlob(name); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s read back %q %v", name, got, err)
		}
	}
	if got, err := s.PutBlobIfAbsent("ack-secret", []byte("other")); err != nil || string(got) != "ack-secret-value-0123456789" {
		t.Fatalf("ack secret in force: %q %v", got, err)
	}
	s.Close()
	raw, _ := os.ReadFile(path)
	for _, clear := range [][]byte{[]byte("c2VjcmV0LXNlZWQ"), []byte("ack-secret-value"), []byte("legacy-ui-key-in-clear")} {
		if bytes.Contains(raw, clear) {
			// The legacy value may linger in a freed page; the others were never written in clear.
			if !bytes.Equal(clear, []byte("legacy-ui-key-in-clear")) {
				t.Fatalf("outpost.db holds %q in clear", clear)
			}
		}
	}
	// A copied outpost.db, opened without the key or with another.
	stolen, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stolen.GetBlob("identity"); !errors.Is(err, ErrWrongBlobKey) {
		t.Fatalf("identity read without the key: %v", err)
	}
	other := make([]byte, 32)
	stolen.SetBlobKey(other)
	if _, err := stolen.GetBlob("identity"); !errors.Is(err, ErrWrongBlobKey) {
		t.Fatalf("identity read with another key: %v", err)
	}
	if got, _ := stolen.GetBlob("provisioning"); !bytes.Equal(got, public) {
		t.Fatal("a public blob became unreadable")
	}
	stolen.Close()
	// The key file: kept, and refused when others may read it.
	again, err := LoadKeyFile(filepath.Join(dir, "keys", "store.key"))
	if err != nil || !bytes.Equal(again, key) {
		t.Fatalf("key file reloaded: %v", err)
	}
	os.Chmod(filepath.Join(dir, "keys", "store.key"), 0o644)
	if _, err := LoadKeyFile(filepath.Join(dir, "keys", "store.key")); err == nil {
		t.Fatal("a world-readable key file was accepted")
	}
}
