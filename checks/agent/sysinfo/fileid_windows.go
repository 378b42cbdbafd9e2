//go:build windows

package sysinfo

import "os"

// fileID identifies a file across polls. Windows' os.FileInfo carries no
// file index, so rotation is caught by the file shrinking below the
// cursor instead.
func fileID(os.FileInfo) string { return "0" }
