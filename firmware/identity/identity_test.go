package identity_test

import (
	"crypto/ed25519"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"outpost/firmware/identity"
	"outpost/store"
)

func open(t *testing.T, path string) *store.Store {
	t.Helper()
	st, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestLoadIsStable: the identity made on first start is the one every
// later start (and every racing first start) gets.
func TestLoadIsStable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outpost.db")
	st := open(t, path)
	var wg sync.WaitGroup
	ids := make([]*identity.Identity, 8)
	for i := range ids {
		wg.Go(func() {
			id, err := identity.Load(st)
			if err != nil {
				t.Error(err)
			}
			ids[i] = id
		})
	}
	wg.Wait()
	for _, id := range ids[1:] {
		if id.ID() != ids[0].ID() || id.Recipient() != ids[0].Recipient() {
			t.Fatalf("racing first starts made two identities: %s %s", ids[0].ID(), id.ID())
		}
	}
	st.Close()
	st = open(t, path)
	defer st.Close()
	again, err := identity.Load(st)
	if err != nil {
		t.Fatal(err)
	}
	if again.ID() != ids[0].ID() || again.PublicKeyString() != ids[0].PublicKeyString() || again.Recipient() != ids[0].Recipient() {
		t.Fatal("the identity changed across a restart")
	}
	if !regexp.MustCompile(`^ob-[0-9a-f]{16}$`).MatchString(again.ID()) || !strings.HasPrefix(again.Recipient(), "age1") {
		t.Fatalf("id %q recipient %q", again.ID(), again.Recipient())
	}
	if !ed25519.Verify(again.PublicKey(), []byte("summary"), ids[0].Sign([]byte("summary"))) {
		t.Fatal("a signature made before the restart does not verify after it")
	}
}

func load(t *testing.T) *identity.Identity {
	st := open(t, filepath.Join(t.TempDir(), "outpost.db"))
	t.Cleanup(func() { st.Close() })
	id, err := identity.Load(st)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestEncryptDecrypt(t *testing.T) {
	a, b := load(t), load(t)
	ct, err := a.Encrypt([]byte("community: s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(ct), "s3cret") {
		t.Fatal("ciphertext holds the plaintext")
	}
	if pt, err := a.Decrypt(ct); err != nil || string(pt) != "community: s3cret" {
		t.Fatalf("round trip: %q %v", pt, err)
	}
	if _, err := b.Decrypt(ct); err == nil || !strings.Contains(err.Error(), b.ID()) {
		t.Fatalf("another box opened it: %v", err)
	}
	toB, err := identity.Encrypt(b.Recipient(), []byte("for b"))
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := b.Decrypt(toB); err != nil || string(pt) != "for b" {
		t.Fatalf("encrypted to b's recipient: %q %v", pt, err)
	}
	if _, err := identity.Encrypt("age1nothing", nil); err == nil || !strings.Contains(err.Error(), `recipient "age1nothing"`) {
		t.Fatalf("bad recipient: %v", err)
	}
}
