//go:build windows

package appliance

import (
	"fmt"
	"log/slog"

	"outpost/appliance/private"
)

// protectDataDir restricts the box's data folder to SYSTEM and
// Administrators on every start (it holds the store, the store key and
// the trusted MSP key; %ProgramData% lets every user create files) and
// reads the access list back. A folder whose access list cannot be set
// stops the daemon instead of running with it open; one that reads back
// otherwise (a file system that keeps no Windows access lists, as under
// Wine, which derives them from Unix modes) is logged as a warning.
func protectDataDir(dir string, log *slog.Logger) error {
	if err := private.Restrict(dir); err != nil {
		return fmt.Errorf("data folder: %w", err)
	}
	if err := private.Verify(dir); err != nil {
		log.Warn("data folder not restricted to SYSTEM and Administrators: check it with icacls", "err", err)
		return nil
	}
	log.Info("data folder restricted to SYSTEM and Administrators", "dir", dir)
	return nil
}
