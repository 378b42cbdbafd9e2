package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBundleKeygenCreatesItsDirectory: `outpost bundle keygen --out DIR`
// on a directory that does not exist yet creates it (and its missing
// parents) for the owner only, and writes the key pair there; a file in
// the way is named.
func TestBundleKeygenCreatesItsDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "msp", "keys")
	out, code := outpost(t, "bundle", "keygen", "--out", dir)
	if code != 0 || !strings.Contains(out, "created "+dir+" (mode 0700)") {
		t.Fatalf("keygen into a missing directory: exit %d\n%s", code, out)
	}
	for _, p := range []string{dir, filepath.Dir(dir)} {
		fi, err := os.Stat(p)
		if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
			t.Fatalf("%s: %v %v, want a directory with mode 0700", p, fi.Mode(), err)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "msp.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("msp.key: %v %v", fi, err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "msp.pub")); err != nil || !strings.HasPrefix(string(b), "ed25519:") {
		t.Fatalf("msp.pub: %q %v", b, err)
	}
	// An existing directory is used as it is (and its key kept).
	if out, code := outpost(t, "bundle", "keygen", "--out", dir); code != 1 || !strings.Contains(out, "refusing to overwrite") || strings.Contains(out, "created") {
		t.Fatalf("keygen again: exit %d\n%s", code, out)
	}
	file := filepath.Join(t.TempDir(), "not-a-dir")
	os.WriteFile(file, nil, 0o600)
	if out, code := outpost(t, "bundle", "keygen", "--out", file); code != 1 || !strings.Contains(out, "--out "+file+" is a file, not a directory") {
		t.Fatalf("keygen onto a file: exit %d\n%s", code, out)
	}
}
