//go:build !windows

package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// ownerOK is root or the agent's own user.
func ownerOK(st os.FileInfo) (uint32, bool) {
	s, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return s.Uid, s.Uid == 0 || int(s.Uid) == os.Geteuid()
}

// secureDir makes the data directory private (mode 0700) and refuses one
// that another user owns: its files decide what the agent runs as root.
func secureDir(dir string) error {
	st, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if uid, ok := ownerOK(st); !ok {
		return fmt.Errorf("data directory %s is owned by uid %d: it must belong to root (or the user the agent runs as)", dir, uid)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return os.Chmod(dir, 0o700)
	}
	return nil
}

// checkPrivate refuses a file (or its directory) that a user other than
// root or the agent's own could have written, and a symbolic link.
func checkPrivate(path string) error {
	st, err := os.Lstat(path)
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", path)
	}
	for _, fi := range []struct {
		name string
		st   os.FileInfo
	}{{path, st}, {filepath.Dir(path), nil}} {
		if fi.st == nil {
			if fi.st, err = os.Stat(fi.name); err != nil {
				return err
			}
		}
		if uid, ok := ownerOK(fi.st); !ok {
			return fmt.Errorf("%s is owned by uid %d, not root: refusing it", fi.name, uid)
		}
		if fi.st.Mode().Perm()&0o022 != 0 {
			return fmt.Errorf("%s is writable by group or others (mode %v): refusing it (chmod go-w)", fi.name, fi.st.Mode().Perm())
		}
	}
	return nil
}

// checkScript refuses to run a program that someone other than root (or
// the agent's user) could have changed: a file owned by another user or
// writable by group or others, or one in a directory where others may
// replace it.
func checkScript(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", path)
	}
	if uid, ok := ownerOK(st); !ok {
		return fmt.Errorf("%s is owned by uid %d, not root: refusing to run it as root", path, uid)
	}
	if st.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("%s is writable by group or others (mode %v): refusing to run it as root", path, st.Mode().Perm())
	}
	dir, err := os.Stat(filepath.Dir(path))
	if err != nil {
		return err
	}
	if dir.Mode().Perm()&0o002 != 0 && dir.Mode()&os.ModeSticky == 0 {
		return fmt.Errorf("%s is in a directory anyone can write to: refusing to run it as root", path)
	}
	return nil
}
