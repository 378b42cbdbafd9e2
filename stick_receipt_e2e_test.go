//go:build linux

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"outpost/firmware/provision"
)

// TestReinsertedStickKeepsItsAppliedReceipt: a stick whose bundle the
// running box applied, inserted again (the automounter gives it another
// mount point), is not applied twice and keeps saying it was applied, and
// when: the receipt it carries is left as it is; a copy of the stick
// without its receipt gets one again, "applied", with the original time
// and "already applied on". A different, older bundle is still refused.
func TestReinsertedStickKeepsItsAppliedReceipt(t *testing.T) {
	keys := mspKeys(t)
	sticks := t.TempDir()
	watch := "provisioning: {mount_roots: ['" + sticks + "'], block_devices: false, interval: 500ms}\n"
	site := filepath.Join(t.TempDir(), "site.yaml")
	os.WriteFile(site, []byte("site: Acme Dental\n"+watch+"checks:\n  - {id: provisioned-check, kind: tcp, target: 127.0.0.1:1, interval: 1s}\n"), 0o644)
	data := t.TempDir()
	if out, code := outpost(t, "bundle", "trust", filepath.Join(keys, "msp.pub"), "--data", data); code != 0 {
		t.Fatalf("bundle trust: %s", out)
	}
	cfg := writeConfig(t, "site: Factory\n"+watch+"checks: []\n")
	box, lt := startBox(t, cfg, data)
	defer kill(box)

	// First insertion: applied.
	staging := t.TempDir()
	makeBundle(t, keys, site, staging, 10)
	bundleBytes, err := os.ReadFile(filepath.Join(staging, "outpost-provision.bundle"))
	if err != nil {
		t.Fatal(err)
	}
	first := filepath.Join(sticks, "OUTPOST")
	insert(t, first, map[string][]byte{"outpost-provision.bundle": bundleBytes})
	raw := stickReceipt(t, first, 10, lt)
	var applied provision.Receipt
	if err := json.Unmarshal([]byte(raw), &applied); err != nil || applied.Result != provision.Applied || applied.Time.IsZero() {
		t.Fatalf("first insertion's receipt (%v):\n%s", err, raw)
	}
	receiptName := "outpost-receipt-" + applied.BoxID + ".json"
	os.RemoveAll(first) // pulled out

	// Inserted again, receipt and all: the receipt is kept as it is.
	second := filepath.Join(sticks, "OUTPOST1")
	insert(t, second, map[string][]byte{receiptName: []byte(raw), "outpost-provision.bundle": bundleBytes})
	waitFor(t, "the box to see the stick inserted again", patience, func() string {
		if !strings.Contains(lt.String(), "bundle already applied; its receipt is kept") || !strings.Contains(lt.String(), second) {
			if rc, _ := os.ReadFile(filepath.Join(second, receiptName)); string(rc) != raw {
				t.Fatalf("the stick's receipt was rewritten:\n%s\nwas:\n%s", rc, raw)
			}
			return "box log:\n" + lt.String()
		}
		return ""
	})
	if rc, _ := os.ReadFile(filepath.Join(second, receiptName)); string(rc) != raw {
		t.Fatalf("the stick's receipt was rewritten:\n%s\nwas:\n%s", rc, raw)
	}
	os.RemoveAll(second)

	// Inserted again without its receipt: one is written, saying applied
	// at the original time.
	third := filepath.Join(sticks, "OUTPOST2")
	insert(t, third, map[string][]byte{"outpost-provision.bundle": bundleBytes})
	var again provision.Receipt
	rc := stickReceipt(t, third, 10, lt)
	if err := json.Unmarshal([]byte(rc), &again); err != nil {
		t.Fatal(err)
	}
	want := "already applied on " + applied.Time.UTC().Format(time.RFC3339)
	if again.Result != provision.Applied || !again.Time.Equal(applied.Time) || again.AppliedVersion != 10 || len(again.Reasons) != 0 ||
		len(again.Notes) != 1 || !strings.HasPrefix(again.Notes[0], want) {
		t.Fatalf("receipt for the applied bundle inserted again, want applied at %s saying %q:\n%s", applied.Time, want, rc)
	}
	os.RemoveAll(third)

	// A different, older bundle: refused.
	fourth := filepath.Join(sticks, "OUTPOST3")
	os.MkdirAll(fourth, 0o755)
	makeBundle(t, keys, site, fourth, 9)
	if rc := stickReceipt(t, fourth, 9, lt); !strings.Contains(rc, `"result": "refused"`) || !strings.Contains(rc, "version 9 is not newer than the applied version 10 (a replayed or older bundle)") {
		t.Fatalf("older bundle's receipt:\n%s", rc)
	}
	if out, _ := outpost(t, "bundle", "status", "--data", data); !strings.Contains(out, "applied bundle: version 10 (site Acme Dental)") {
		t.Fatalf("bundle status:\n%s", out)
	}
}

// insert puts a stick's files under dir, the bundle last, as a stick the
// OS mounts there appears whole.
func insert(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	tmp := dir + ".tmp"
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(tmp, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		t.Fatal(err)
	}
}
