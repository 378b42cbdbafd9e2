//go:build linux

package main

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"outpost/appliance/scheduler"
	"outpost/firmware/identity"
	"outpost/firmware/provision"
	"outpost/store"
)

// TestStatusPrintsNoZeroTimes: what `outpost status` and `outpost bundle
// status` say about a time that has not happened (or was not recorded)
// reads as such, never as 0001-01-01: a daemon that has not written a
// result yet says "not yet", and a provisioning record without its times
// says they were not recorded.
func TestStatusPrintsNoZeroTimes(t *testing.T) {
	// Checks whose first run is hours away (their slots are fixed by id
	// and interval, so pick ids that are not due soon), replacing the
	// built-in clock and store checks: nothing is written during the test.
	now := time.Now()
	farID := func(prefix string) string {
		for i := 0; ; i++ {
			id := fmt.Sprintf("%s-%d", prefix, i)
			if scheduler.NextRun(id, 24*time.Hour, now).Sub(now) > 2*time.Hour {
				return id
			}
		}
	}
	cfg := writeConfig(t, fmt.Sprintf("site: Acme\nprovisioning: {mount_roots: [], block_devices: false}\nchecks:\n  - {id: %s, kind: clock, interval: 24h}\n  - {id: %s, kind: store, interval: 24h}\n",
		farID("clock"), farID("store")))
	data := t.TempDir()
	box, lt := startBox(t, cfg, data)
	out, code := outpost(t, "status", "--data", data)
	if code != 0 || !strings.Contains(out, "last store commit not yet (nothing written since the daemon started)") || strings.Contains(out, "0001-01-01") {
		t.Fatalf("status of a daemon that has written nothing yet: exit %d\n%s\nlog:\n%s", code, out, lt.String())
	}
	kill(box)

	// A provisioning record without its times (kept by hand, or by a
	// version that did not record them).
	st, err := store.Open(filepath.Join(data, "outpost.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pub, _, _ := ed25519.GenerateKey(nil)
	rec, _ := json.Marshal(provision.State{PinnedKey: identity.FormatPublicKey(pub), PinnedBy: "a technician at the box", Version: 7, Site: "Acme",
		Last: &provision.Receipt{Result: provision.Refused, BundleVersion: 6, Source: "/media/OUTPOST/outpost-provision.bundle", Reasons: []string{"version 6 is not newer than the applied version 7"}}})
	if err := st.PutBlob(provision.StateBlob, rec); err != nil {
		t.Fatal(err)
	}
	st.Close()
	box, lt = startBox(t, cfg, data)
	defer kill(box)
	out, code = outpost(t, "bundle", "status", "--data", data)
	for _, want := range []string{", pinned (when: not recorded)", "applied bundle: version 7 (site Acme), when: not recorded", "last bundle:    refused, version 6 from /media/OUTPOST/outpost-provision.bundle at a time not recorded"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("bundle status, want %q: exit %d\n%s\nlog:\n%s", want, code, out, lt.String())
		}
	}
	if strings.Contains(out, "0001-01-01") {
		t.Fatalf("bundle status prints a zero time:\n%s", out)
	}
}
