package agent

import (
	"strings"

	"outpost/checks/agent/wire"
)

// What an agent's inventory says in the few figures a device page shows.

// OSName is the inventory's operating system in words, e.g. "Windows
// Server 2022 (build 20348)" or "Debian GNU/Linux 12".
func OSName(w wire.Inventory) string {
	s := strings.TrimSpace(w.OS.Name + " " + w.OS.Version)
	if w.OS.Build != "" {
		s += " (build " + w.OS.Build + ")"
	}
	return s
}

// PatchCounts counts the inventory's installed and pending patches.
func PatchCounts(w wire.Inventory) (installed, pending int) {
	for _, p := range w.Patches {
		if p.Pending {
			pending++
		} else {
			installed++
		}
	}
	return installed, pending
}
