package sysinfo

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"time"

	"outpost/checks/agent/wire"
)

// maxFolderEntries bounds what one folder query reads: a backup target
// holds tens to thousands of files; a query stops (and says so) rather
// than walk a whole disk.
const maxFolderEntries = 100_000

// Folder reports what q's folder holds: the regular files (matching
// q.Pattern), their total size, and the newest by modification time.
// Symbolic links are not followed. The caller has already checked the
// allow-list. Errors: the folder cannot be read, or the pattern is bad.
func Folder(ctx context.Context, q wire.FolderQuery) (wire.Folder, error) {
	out := wire.Folder{Path: q.Path, Read: time.Now().UTC()}
	if q.Pattern != "" {
		if _, err := path.Match(q.Pattern, ""); err != nil {
			return out, fmt.Errorf("pattern %q: %v", q.Pattern, err)
		}
	}
	root := filepath.Clean(q.Path)
	seen := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == root {
				return err
			}
			return nil // an unreadable subfolder does not hide the rest
		}
		if seen++; seen > maxFolderEntries {
			out.Cut = true
			return filepath.SkipAll
		}
		if seen%1024 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		if d.IsDir() {
			if p != root && !q.Recursive {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		if q.Pattern != "" {
			if ok, _ := path.Match(q.Pattern, d.Name()); !ok {
				return nil
			}
		}
		info, err := d.Info()
		if err != nil {
			return nil // removed meanwhile
		}
		out.Files++
		out.TotalBytes += uint64(info.Size())
		if out.Newest == nil || info.ModTime().After(out.Newest.Modified) {
			rel, _ := filepath.Rel(root, p)
			out.Newest = &wire.FileInfo{Name: filepath.ToSlash(rel), Size: uint64(info.Size()), Modified: info.ModTime().UTC()}
		}
		return nil
	})
	if err != nil {
		return out, fmt.Errorf("reading folder %s: %w", q.Path, err)
	}
	return out, nil
}
