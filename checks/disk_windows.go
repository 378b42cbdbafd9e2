//go:build windows

package checks

import "golang.org/x/sys/windows"

func statFS(path string) (fsUsage, error) {
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return fsUsage{}, err
	}
	var avail, total, free uint64
	if err := windows.GetDiskFreeSpaceEx(p, &avail, &total, &free); err != nil {
		return fsUsage{}, err
	}
	return fsUsage{total: total, free: free, avail: avail}, nil
}
