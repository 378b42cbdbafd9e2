package store

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestDecisionsSurviveSweepsAndReopen: a class override, a name, labels,
// an ignored device and a merge are kept by later sweeps and by a
// reopened store, and an ignored device's changes are not reported.
func TestDecisionsSurviveSweepsAndReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "o.db")
	s := mustOpen(t, path, Options{})
	const net = "10.200.9.0/24"
	pr := Sighting{IP: "10.200.9.20", MAC: "02:00:00:00:00:20", Class: "unknown"}
	tv := Sighting{IP: "10.200.9.30", MAC: "02:00:00:00:00:30", Class: "iot"}
	offLink := Sighting{IP: "10.200.9.40", Class: "server"} // no MAC: keyed by address
	nic2 := Sighting{IP: "10.200.9.41", MAC: "02:00:00:00:00:41", Class: "server"}
	if _, err := s.RecordSweep(net, t0, []Sighting{pr, tv, offLink, nic2}); err != nil {
		t.Fatal(err)
	}
	class, name, yes := "printer", "reception-printer", true
	if _, err := s.Decide("10.200.9.20", DecisionEdit{Class: &class, Name: &name, Labels: map[string]string{"room": "front desk"}, By: "ann"}, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Decide(tv.MAC, DecisionEdit{Ignored: &yes, By: "ann"}, t0); err != nil {
		t.Fatal(err)
	}
	m, err := s.MergeInventory(nic2.MAC, "ip:10.200.9.40", "ann", t0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(m.Merged, "ip:10.200.9.40") || len(m.Addresses) != 2 {
		t.Errorf("merged %+v", m)
	}
	if _, err := s.Decide("10.200.9.99", DecisionEdit{Name: &name}, t0); !errors.Is(err, ErrNoInventoryDevice) {
		t.Errorf("unknown device: %v", err)
	}
	if _, err := s.MergeInventory(nic2.MAC, nic2.IP, "ann", t0); err == nil || !strings.Contains(err.Error(), "same device") {
		t.Errorf("merge with itself: %v", err)
	}

	s.Close()
	s = mustOpen(t, path, Options{})
	// The TV leaves (ignored: no change), the printer is seen again as
	// unknown, the MAC-less address answers again (merged: no new device).
	cs, err := s.RecordSweep(net, t0.Add(time.Hour), []Sighting{pr, offLink, nic2})
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 0 {
		t.Errorf("changes %+v, want none", cs)
	}
	inv, _ := s.Inventory()
	if len(inv) != 3 {
		t.Fatalf("%d devices: %+v", len(inv), inv)
	}
	p, err := s.InventoryDeviceOf("reception-printer")
	if err != nil || p.EffectiveClass() != "printer" || p.Class != "unknown" || p.Label() != name || p.Decision.Labels["room"] != "front desk" || p.Decision.By != "ann" {
		t.Errorf("printer %+v %v", p, err)
	}
	if d, _ := s.InventoryDeviceOf(tv.MAC); !d.Gone || d.Decision == nil || !d.Decision.Ignored {
		t.Errorf("tv %+v", d)
	}
	if d, _ := s.InventoryDeviceOf("ip:10.200.9.40"); d.Key != nic2.MAC {
		t.Errorf("the merged key leads to %q", d.Key)
	}
	// Un-ignoring reports its changes again.
	no := false
	s.Decide(tv.MAC, DecisionEdit{Ignored: &no}, t0)
	cs, _ = s.RecordSweep(net, t0.Add(2*time.Hour), []Sighting{pr, tv, offLink, nic2})
	if len(cs) != 1 || cs[0].Kind != ChangeBack {
		t.Errorf("changes %+v", cs)
	}
	// A label set to "" is removed; bounds are enforced.
	s.Decide(name, DecisionEdit{Labels: map[string]string{"room": ""}}, t0)
	if d, _ := s.InventoryDeviceOf(name); len(d.Decision.Labels) != 0 {
		t.Errorf("labels %v", d.Decision.Labels)
	}
	long := strings.Repeat("x", 300)
	if _, err := s.Decide(name, DecisionEdit{Name: &long}, t0); err == nil {
		t.Error("a 300-byte name was taken")
	}
}

// TestFirmwareChanges: ENTITY-MIB's revision when both sightings have
// one, else the sysDescr; a device that only starts answering ENTITY-MIB
// has not changed its firmware.
func TestFirmwareChanges(t *testing.T) {
	s := mustOpen(t, filepath.Join(t.TempDir(), "o.db"), Options{})
	const net = "10.200.9.0/24"
	sw := func(descr, fw string) []Sighting {
		return []Sighting{{IP: "10.200.9.2", MAC: "02:00:00:00:00:02", Class: "switch", SNMP: &SNMPFacts{Descr: descr, Firmware: fw}}}
	}
	at := t0
	for i, c := range []struct {
		descr, fw string
		want      int
	}{
		{"Switch 1.0", "", 1},     // new device
		{"Switch 1.0", "", 0},     // same
		{"Switch 1.1", "", 1},     // sysDescr changed
		{"Switch 1.1", "FW 7", 0}, // ENTITY-MIB appears: no change
		{"Switch 1.1", "FW 8", 1}, // firmware revision changed
		{"Switch 9.9", "FW 8", 0}, // sysDescr alone does not count while a revision is known
	} {
		at = at.Add(time.Hour)
		cs, err := s.RecordSweep(net, at, sw(c.descr, c.fw))
		if err != nil {
			t.Fatal(err)
		}
		if len(cs) != c.want {
			t.Errorf("sweep %d (%q, %q): changes %+v, want %d", i, c.descr, c.fw, cs, c.want)
		}
		if i == 4 && (len(cs) != 1 || cs[0].Kind != ChangeFirmware || !strings.Contains(cs[0].Detail, "firmware FW 8, was FW 7")) {
			t.Errorf("firmware change %+v", cs)
		}
	}
}
