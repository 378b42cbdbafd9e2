//go:build !windows

package appliance

import "log/slog"

// protectDataDir has nothing to do on Unix: the data directory is
// created 0750 and the store refuses key files other users can read
// (store/blobkey.go); see private for Windows.
func protectDataDir(string, *slog.Logger) error { return nil }
