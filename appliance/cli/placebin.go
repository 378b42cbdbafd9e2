package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
)

// DefaultBinDir is where `outpost install` puts the service's binary on
// Linux: a directory of its own, so the unit can let the service write
// there (firmware updates stage, keep outpost.prev and rename beside the
// binary) without opening /usr/local/bin to it. Empty elsewhere: Windows
// runs the service from where it was installed.
func DefaultBinDir() string {
	if runtime.GOOS == "linux" {
		return "/usr/local/lib/outpost"
	}
	return ""
}

// DefaultLinkDir holds the `outpost` command technicians type: a link to
// the service's binary, so the command and the daemon stay one version
// across firmware updates.
const DefaultLinkDir = "/usr/local/bin"

// placeBinary copies the running binary src to dir/outpost (through a
// synced temporary file and a rename, the directory synced) unless src is
// that file already, and returns the placed path.
func placeBinary(src, dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("binary directory: %w", err)
	}
	dst := filepath.Join(dir, "outpost")
	if same(src, dst) {
		return dst, nil
	}
	in, err := os.Open(src)
	if err != nil {
		return "", fmt.Errorf("reading the running binary: %w", err)
	}
	defer in.Close()
	tmp, err := os.CreateTemp(dir, ".outpost-install-*")
	if err != nil {
		return "", fmt.Errorf("binary directory: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = io.Copy(tmp, in)
	if err == nil {
		err = tmp.Chmod(0o755)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), dst)
	}
	if err != nil {
		return "", fmt.Errorf("installing the binary as %s: %w", dst, err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return dst, nil
}

// linkCommand makes linkDir/outpost a symbolic link to bin when it is
// missing, a link already, or the very file installed from (ran, the
// running binary: replacing it with the link keeps one copy). Any other
// file there is left alone and named in the returned note.
func linkCommand(bin, ran, linkDir string) (string, error) {
	link := filepath.Join(linkDir, "outpost")
	fi, err := os.Lstat(link)
	switch {
	case os.IsNotExist(err):
	case err != nil:
		return "", err
	case fi.Mode()&os.ModeSymlink != 0:
		if to, _ := os.Readlink(link); to == bin {
			return link + " links to " + bin, nil
		}
	case !same(link, ran):
		return fmt.Sprintf("%s is another outpost binary, left as it is: run %s for the service's version", link, bin), nil
	}
	if err := os.MkdirAll(linkDir, 0o755); err != nil {
		return "", err
	}
	tmp := filepath.Join(linkDir, ".outpost-link-"+fmt.Sprint(os.Getpid()))
	os.Remove(tmp)
	if err := os.Symlink(bin, tmp); err != nil {
		return "", fmt.Errorf("linking %s: %w", link, err)
	}
	if err := os.Rename(tmp, link); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("linking %s: %w", link, err)
	}
	return link + " links to " + bin, nil
}

// same reports whether a and b are one file (b may be missing).
func same(a, b string) bool {
	fa, err := os.Stat(a)
	if err != nil {
		return false
	}
	fb, err := os.Stat(b)
	return err == nil && os.SameFile(fa, fb)
}
