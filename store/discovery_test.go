package store

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

func kinds(cs []InventoryChange) map[string][]InventoryChange {
	m := map[string][]InventoryChange{}
	for _, c := range cs {
		m[c.Kind] = append(m[c.Kind], c)
	}
	return m
}

func TestSweepsBecomeInventoryChanges(t *testing.T) {
	s := mustOpen(t, filepath.Join(t.TempDir(), "o.db"), Options{})
	const net = "10.200.9.0/24"
	a := Sighting{IP: "10.200.9.10", MAC: "02:00:00:00:00:0a", Class: "server"}
	b := Sighting{IP: "10.200.9.11", MAC: "02:00:00:00:00:0b", Class: "printer"}
	c := Sighting{IP: "10.200.9.12", MAC: "02:00:00:00:00:0c", Class: "unknown"}
	other := Sighting{IP: "10.200.10.5", MAC: "02:00:00:00:00:ff"} // another subnet

	t.Run("first sweep: every device is new", func(t *testing.T) {
		if _, err := s.RecordSweep("10.200.10.0/24", t0, []Sighting{other}); err != nil {
			t.Fatal(err)
		}
		cs, err := s.RecordSweep(net, t0, []Sighting{a, b, c})
		if err != nil {
			t.Fatal(err)
		}
		if k := kinds(cs); len(k[ChangeNewDevice]) != 3 || len(cs) != 3 {
			t.Fatalf("changes %+v", cs)
		}
	})
	t.Run("same sweep again: nothing changed", func(t *testing.T) {
		cs, _ := s.RecordSweep(net, t0.Add(time.Hour), []Sighting{a, b, c})
		if len(cs) != 0 {
			t.Fatalf("changes %+v", cs)
		}
	})
	t.Run("gone, moved, claimed, new", func(t *testing.T) {
		movedA := a
		movedA.IP = "10.200.9.20"                               // a's MAC answers on another IP
		claimer := Sighting{IP: b.IP, MAC: "02:00:00:00:00:0d"} // b's IP, a second MAC; b is gone
		cs, err := s.RecordSweep(net, t0.Add(2*time.Hour), []Sighting{movedA, claimer})
		if err != nil {
			t.Fatal(err)
		}
		k := kinds(cs)
		if m := k[ChangeMACMoved]; len(m) != 1 || m[0].OldIP != a.IP || m[0].IP != movedA.IP || m[0].MAC != a.MAC {
			t.Errorf("mac_moved %+v", m)
		}
		if m := k[ChangeIPClaimed]; len(m) != 1 || m[0].IP != b.IP || m[0].MAC != claimer.MAC || m[0].OtherMAC != b.MAC {
			t.Errorf("ip_claimed %+v", m)
		}
		if m := k[ChangeNewDevice]; len(m) != 1 || m[0].MAC != claimer.MAC {
			t.Errorf("new_device %+v", m)
		}
		if m := k[ChangeGone]; len(m) != 2 {
			t.Errorf("device_gone %+v (want b and c)", m)
		}
		if len(cs) != 5 {
			t.Errorf("%d changes: %+v", len(cs), cs)
		}
	})
	t.Run("back again", func(t *testing.T) {
		cs, _ := s.RecordSweep(net, t0.Add(3*time.Hour), []Sighting{{IP: c.IP, MAC: c.MAC}})
		if k := kinds(cs); len(k[ChangeBack]) != 1 || len(k[ChangeGone]) != 2 {
			t.Fatalf("changes %+v", cs)
		}
	})
	t.Run("history and first/last seen", func(t *testing.T) {
		inv, err := s.Inventory()
		if err != nil {
			t.Fatal(err)
		}
		byKey := map[string]InventoryDevice{}
		for _, d := range inv {
			byKey[d.Key] = d
		}
		da := byKey[a.MAC]
		if !da.FirstSeen.Equal(t0) || !da.LastSeen.Equal(t0.Add(2*time.Hour)) || da.IP != "10.200.9.20" || len(da.Addresses) != 2 || !da.Gone {
			t.Errorf("a: %+v", da)
		}
		if d := byKey[other.MAC]; d.Gone {
			t.Errorf("a sweep of another subnet marked %s gone", other.IP)
		}
		if last, err := s.LastSweep(net); err != nil || !last.Equal(t0.Add(3*time.Hour)) {
			t.Errorf("last sweep %v %v", last, err)
		}
		all, _ := s.InventoryChangesSince(time.Time{}, 100)
		if len(all) != 1+3+5+3 {
			t.Errorf("%d changes kept", len(all))
		}
	})
}

func TestInventoryChangesAreBounded(t *testing.T) {
	s := mustOpen(t, filepath.Join(t.TempDir(), "o.db"), Options{})
	var on []Sighting
	for i := 0; i < 200; i++ {
		on = append(on, Sighting{IP: fmt.Sprintf("10.200.%d.%d", 8+i/250, 1+i%250), MAC: fmt.Sprintf("02:00:00:00:%02x:%02x", i/256, i%256)})
	}
	at := t0
	for i := 0; i < InventoryChanges/400+3; i++ { // each pair of sweeps: 200 gone, 200 back
		at = at.Add(time.Minute)
		s.RecordSweep("10.200.8.0/23", at, nil)
		at = at.Add(time.Minute)
		if _, err := s.RecordSweep("10.200.8.0/23", at, on); err != nil {
			t.Fatal(err)
		}
	}
	all, _ := s.InventoryChangesSince(time.Time{}, 2*InventoryChanges)
	if len(all) != InventoryChanges {
		t.Fatalf("%d changes kept, want %d", len(all), InventoryChanges)
	}
}
