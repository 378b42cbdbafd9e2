//go:build !windows

package sysinfo

import (
	"os"
	"strconv"
	"syscall"
)

// fileID identifies a file across polls so rotation is noticed.
func fileID(st os.FileInfo) string {
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return strconv.FormatUint(uint64(s.Ino), 10)
	}
	return "0"
}
