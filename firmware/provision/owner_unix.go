//go:build unix

package provision

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// checkOwner refuses a key file that someone else than root or the
// daemon's own user owns, or that group or others may write: whoever can
// write it chooses the MSP key a box without one trusts.
func checkOwner(path string, fi fs.FileInfo) error {
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("%s is writable by group or others (mode %v); it must be writable by its owner only", path, fi.Mode().Perm())
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid != 0 && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("%s is owned by uid %d, neither root nor this daemon's user", path, st.Uid)
	}
	return nil
}
