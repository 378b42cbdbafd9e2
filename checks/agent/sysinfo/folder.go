package sysinfo

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"outpost/checks/agent/wire"
)

// MaxFolderEntries bounds the entries FolderSize visits: a folder of
// millions of files must not keep the agent's disk busy for minutes.
const MaxFolderEntries = 500_000

// FolderSize adds up the sizes of the regular files in path and below,
// at most max entries (MaxFolderEntries when max is 0), within ctx.
// Symbolic links (and Windows junctions) are counted as entries, never
// followed, so the walk stays inside the folder; unreadable entries are
// counted in Skipped. A path that is not a directory is an error. The
// newest regular file seen (by modification time) is reported in Newest,
// time and size only.
func FolderSize(ctx context.Context, path string, max int) (wire.Folder, error) {
	if max <= 0 {
		max = MaxFolderEntries
	}
	out := wire.Folder{Path: path}
	st, err := os.Lstat(path)
	if err != nil {
		return out, err
	}
	if !st.IsDir() {
		return out, errors.New(path + " is not a folder")
	}
	seen := 0
	stop := errors.New("stop")
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == path {
				return err
			}
			out.Skipped++
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		seen++
		if seen > max || (seen%1024 == 0 && ctx.Err() != nil) {
			out.Truncated = true
			return stop
		}
		if !d.Type().IsRegular() {
			return nil // directories, links, devices: not followed, not counted
		}
		info, err := d.Info()
		if err != nil {
			out.Skipped++
			return nil
		}
		out.Files++
		out.Bytes += uint64(info.Size())
		if out.Newest == nil || info.ModTime().After(out.Newest.Modified) {
			out.Newest = &wire.NewestFile{Modified: info.ModTime(), Bytes: uint64(info.Size())}
		}
		return nil
	})
	if err != nil && !errors.Is(err, stop) {
		return out, err
	}
	return out, nil
}
