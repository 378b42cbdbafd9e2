//go:build linux

package checks_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"outpost/checks"
)

func TestDiskMatchesStatfs(t *testing.T) {
	tmp := t.TempDir()
	for _, path := range []string{"/", tmp} {
		t.Run(path, func(t *testing.T) {
			r := runLocal(t, buildLocal(t, "disk", path, ""), 2*time.Second)
			var s unix.Statfs_t
			if err := unix.Statfs(path, &s); err != nil {
				t.Fatal(err)
			}
			used := float64(s.Blocks-s.Bfree) * float64(s.Bsize)
			avail := float64(s.Bavail) * float64(s.Bsize)
			pct := 100 * used / (used + avail)
			// Other tests write to the same disks meanwhile: allow a
			// hair of movement.
			if !r.HasValue || r.Value < pct-0.2 || r.Value > pct+0.2 {
				t.Fatalf("check says %.3f%% used, statfs says %.3f%%", r.Value, pct)
			}
			prefix := fmt.Sprintf("%s: %.1f%% used, ", path, r.Value)
			if !strings.HasPrefix(r.Detail, prefix) || !strings.Contains(r.Detail, " free of ") {
				t.Fatalf("detail %q, want it to start %q", r.Detail, prefix)
			}
			if path == "/" && strings.Contains(r.Detail, "not a mount point") {
				t.Fatalf("/ is a mount point: %q", r.Detail)
			}
			if pct > 0.1 {
				wantLocal(t, runLocal(t, buildLocal(t, "disk", path, "{warning: 0, critical: 0.05}"), time.Second), checks.Critical, "% used")
				wantLocal(t, runLocal(t, buildLocal(t, "disk", path, "{warning: 0.05, critical: 100}"), time.Second), checks.Warning, "% used")
			}
			wantLocal(t, runLocal(t, buildLocal(t, "disk", path, "{warning: 100, critical: 100}"), time.Second), checks.OK, "% used")
		})
	}
}

func TestDiskNotAMountPoint(t *testing.T) {
	// A directory made by the test is never a mount point itself: the
	// detail must say which file system is really measured.
	dir := filepath.Join(t.TempDir(), "usb-backup")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	wantLocal(t, runLocal(t, buildLocal(t, "disk", dir, ""), time.Second), checks.OK, "(not a mount point: this is the file system on /")
}

func TestDiskMinFreeAndInodes(t *testing.T) {
	dir := t.TempDir()
	var s unix.Statfs_t
	if err := unix.Statfs(dir, &s); err != nil {
		t.Fatal(err)
	}
	avail := s.Bavail * uint64(s.Bsize)
	// min_free just above and just below what is really free.
	over := fmt.Sprintf("%d", avail+1<<30)
	wantLocal(t, runLocal(t, buildLocal(t, "disk", dir, "{min_free: "+over+"}"), time.Second), checks.Critical, "below the minimum ")
	wantLocal(t, runLocal(t, buildLocal(t, "disk", dir, "{warning: 100, critical: 100, min_free: 1KiB}"), time.Second), checks.OK, "% used")
	wantLocal(t, runLocal(t, buildLocal(t, "disk", dir, "{min_free: 100000TiB}"), time.Second), checks.Critical, "below the minimum 97.7 PiB")

	if s.Files == 0 {
		t.Logf("%s reports no inode counts (statfs f_files = 0); inode thresholds not exercised", dir)
		return
	}
	ip := 100 * float64(s.Files-s.Ffree) / float64(s.Files)
	r := runLocal(t, buildLocal(t, "disk", dir, "{warning: 100, critical: 100, inode_warning: 0, inode_critical: 100}"), time.Second)
	if ip > 0 {
		wantLocal(t, r, checks.Warning, fmt.Sprintf(", inodes %.1f%% used", ip))
	}
	wantLocal(t, runLocal(t, buildLocal(t, "disk", dir, "{warning: 100, critical: 100, inode_warning: 100, inode_critical: 100}"), time.Second), checks.OK, "inodes ")
}

func TestDiskMissingPath(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "not-mounted")
	wantLocal(t, runLocal(t, buildLocal(t, "disk", missing, ""), time.Second), checks.Critical, missing+": no such file or directory")
}
