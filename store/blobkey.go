package store

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/crypto/chacha20poly1305"
)

// Secret blobs (the box's private keys, the agent pairing keys, the
// acknowledge-link secret, the config file seed with its communities and
// passwords) are sealed with a key kept outside outpost.db (SetBlobKey;
// the daemon reads it from a root-only key file or systemd credentials):
// a copied outpost.db alone (a stolen SD card, a backup) yields none of
// them, and since the box's age key is one of them, the sealed config
// versions stay sealed too. Without a key (tests, tools on a copied file)
// blobs are stored as they are.

// sealedMagic starts a sealed blob: magic, a 24-byte nonce, then the
// XChaCha20-Poly1305 box of the value with the blob's name as data.
var sealedMagic = []byte("OSK1")

// ErrWrongBlobKey is returned for a sealed blob the key in force cannot
// open: the file was copied from another box, or its key file was lost.
var ErrWrongBlobKey = errors.New("sealed with a key this box does not have (outpost.db copied from another box, or its store key file lost)")

// secretBlob says which blobs are sealed.
func secretBlob(name string) bool {
	switch name {
	case "identity", "ui-tls", "ack-secret", "config-file-seed", "agent-box-identity":
		return true
	}
	return strings.HasPrefix(name, "agent-box-identity/")
}

// SetBlobKey sets the 32-byte key that seals secret blobs, and seals any
// stored in clear by an older version, in one transaction.
func (s *Store) SetBlobKey(key []byte) error {
	if len(key) != chacha20poly1305.KeySize {
		return fmt.Errorf("store key: %d bytes, want %d", len(key), chacha20poly1305.KeySize)
	}
	if _, err := chacha20poly1305.NewX(key); err != nil {
		return err
	}
	s.blobMu.Lock()
	s.blobKey = append([]byte(nil), key...)
	s.blobMu.Unlock()
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketBlobs)
		type kv struct{ k, v []byte }
		var clear []kv
		b.ForEach(func(k, v []byte) error {
			if secretBlob(string(k)) && len(v) > 0 && !bytes.HasPrefix(v, sealedMagic) {
				clear = append(clear, kv{append([]byte(nil), k...), append([]byte(nil), v...)})
			}
			return nil
		})
		for _, x := range clear {
			sealed, err := s.seal(string(x.k), x.v)
			if err != nil {
				return err
			}
			if err := b.Put(x.k, sealed); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *Store) key() []byte {
	s.blobMu.Lock()
	defer s.blobMu.Unlock()
	return s.blobKey
}

// seal boxes value for name, or returns it as it is without a key or for
// a blob that is not secret (or empty: a deletion marker).
func (s *Store) seal(name string, value []byte) ([]byte, error) {
	key := s.key()
	if key == nil || !secretBlob(name) || len(value) == 0 {
		return value, nil
	}
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, err
	}
	out := append([]byte(nil), sealedMagic...)
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	out = append(out, nonce...)
	return aead.Seal(out, nonce, value, []byte(name)), nil
}

// open unseals a stored value (a clear one is returned as it is).
func (s *Store) open(name string, v []byte) ([]byte, error) {
	if !bytes.HasPrefix(v, sealedMagic) {
		return v, nil
	}
	key := s.key()
	if key == nil {
		return nil, fmt.Errorf("blob %s: %w", name, ErrWrongBlobKey)
	}
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, err
	}
	rest := v[len(sealedMagic):]
	if len(rest) < aead.NonceSize() {
		return nil, fmt.Errorf("blob %s: %w", name, ErrWrongBlobKey)
	}
	out, err := aead.Open(nil, rest[:aead.NonceSize()], rest[aead.NonceSize():], []byte(name))
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", name, ErrWrongBlobKey)
	}
	return out, nil
}

// LoadKeyFile reads the 32-byte store key from path, making it (mode
// 0600, in a directory of mode 0700) on first use. A key readable by
// group or others is refused.
func LoadKeyFile(path string) ([]byte, error) {
	if b, err := os.ReadFile(path); err == nil {
		// Windows reports no Unix modes: its protection is the folder's ACL.
		if fi, err := os.Stat(path); err == nil && runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
			return nil, fmt.Errorf("store key %s: mode %v lets others read it (chmod 600)", path, fi.Mode().Perm())
		}
		if len(b) != chacha20poly1305.KeySize {
			return nil, fmt.Errorf("store key %s: %d bytes, want %d", path, len(b), chacha20poly1305.KeySize)
		}
		return b, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("store key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("store key: %w", err)
	}
	key := make([]byte, chacha20poly1305.KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store key: %w", err)
	}
	if _, err := f.Write(key); err != nil {
		f.Close()
		return nil, fmt.Errorf("store key: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("store key: %w", err)
	}
	return key, f.Close()
}
