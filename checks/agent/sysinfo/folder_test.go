package sysinfo

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestFolderSize: files below the folder are added up; a symbolic link
// to a big file outside is not followed; the entry bound truncates; the
// newest file is the one modified last, links not counted.
func TestFolderSize(t *testing.T) {
	dir := t.TempDir()
	logs := filepath.Join(dir, "logs")
	os.MkdirAll(filepath.Join(logs, "sub"), 0o755)
	os.WriteFile(filepath.Join(logs, "E00.log"), make([]byte, 1000), 0o644)
	os.WriteFile(filepath.Join(logs, "sub", "E01.log"), make([]byte, 24), 0o644)
	big := filepath.Join(dir, "outside.bin")
	os.WriteFile(big, make([]byte, 1<<20), 0o644)
	if err := os.Symlink(big, filepath.Join(logs, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(dir, filepath.Join(logs, "up")); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-72 * time.Hour).Truncate(time.Second)
	os.Chtimes(filepath.Join(logs, "E00.log"), old, old)
	f, err := FolderSize(context.Background(), logs, 0)
	if err != nil || f.Bytes != 1024 || f.Files != 2 || f.Truncated {
		t.Fatalf("folder %+v, %v: want 1024 bytes in 2 files, links not followed", f, err)
	}
	if f.Newest == nil || f.Newest.Bytes != 24 || !f.Newest.Modified.After(old) {
		t.Fatalf("newest %+v: want sub/E01.log (24 bytes, written now), not the link or the 3-day-old file", f.Newest)
	}
	if doc, _ := json.Marshal(f); strings.Contains(string(doc), "E01") || strings.Contains(string(doc), "E00") {
		t.Fatalf("the answer names a file: %s", doc)
	}
	if f, err := FolderSize(context.Background(), filepath.Join(logs, "sub"), 0); err != nil || f.Newest == nil || f.Newest.Bytes != 24 {
		t.Fatalf("sub: %+v, %v", f, err)
	}
	empty := filepath.Join(dir, "empty")
	os.Mkdir(empty, 0o755)
	if f, err := FolderSize(context.Background(), empty, 0); err != nil || f.Newest != nil || f.Files != 0 {
		t.Fatalf("an empty folder has no newest file: %+v, %v", f, err)
	}
	if f, err := FolderSize(context.Background(), logs, 3); err != nil || !f.Truncated {
		t.Fatalf("bounded to 3 entries: %+v, %v", f, err)
	}
	if _, err := FolderSize(context.Background(), big, 0); err == nil || !strings.Contains(err.Error(), "not a folder") {
		t.Fatalf("a file: %v", err)
	}
	if _, err := FolderSize(context.Background(), filepath.Join(logs, "up"), 0); err == nil {
		t.Fatalf("a link to a folder is not a folder to walk")
	}
}
