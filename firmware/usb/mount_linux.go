package usb

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// withMount mounts d on dir (read-only when ro), trying each filesystem,
// runs f and unmounts whatever f did. It returns the filesystem that
// mounted ("" when none would).
func (w *Watcher) withMount(d device, dir string, ro bool, f func() error) (string, error) {
	flags := uintptr(unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC | unix.MS_NOATIME)
	if ro {
		flags |= unix.MS_RDONLY
	}
	var errs mountErrors
	for _, fs := range w.o.Filesystems {
		if err := unix.Mount(d.dev, dir, fs, flags, ""); err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", fs, err))
			continue
		}
		ferr := f()
		if !ro {
			unix.Sync()
		}
		if err := unix.Unmount(dir, 0); err != nil {
			// Busy: detach now, the kernel finishes when it can.
			unix.Unmount(dir, unix.MNT_DETACH)
		}
		return fs, ferr
	}
	return "", errs
}
