//go:build !linux

package usb

import "errors"

// withMount: only the Linux box mounts block devices itself.
func (w *Watcher) withMount(d device, dir string, ro bool, f func() error) (string, error) {
	return "", errors.New("mounting block devices is only supported on Linux")
}
