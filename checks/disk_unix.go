//go:build !windows

package checks

import "golang.org/x/sys/unix"

func statFS(path string) (fsUsage, error) {
	var s unix.Statfs_t
	if err := unix.Statfs(path, &s); err != nil {
		return fsUsage{}, err
	}
	bs := uint64(s.Bsize)
	return fsUsage{total: uint64(s.Blocks) * bs, free: uint64(s.Bfree) * bs, avail: uint64(s.Bavail) * bs, files: uint64(s.Files), filesFree: uint64(s.Ffree)}, nil
}
