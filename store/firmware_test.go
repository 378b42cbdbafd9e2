package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"
)

func TestFirmwareStateSurvivesReopenAndIsBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outpost.db")
	s := mustOpen(t, path, Options{})
	if f, err := s.Firmware(); err != nil || f.Highest != "" || f.Last() != nil {
		t.Fatalf("fresh store: %+v %v", f, err)
	}
	for i := range MaxFirmwareEvents + 7 {
		if err := s.UpdateFirmware(func(f *FirmwareState) error {
			f.Highest = "v1.4.0"
			f.Events = append(f.Events, FirmwareEvent{Time: t0, Result: "refused", To: fmt.Sprintf("v1.%d.0", i)})
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	// A change that fails writes nothing.
	if err := s.UpdateFirmware(func(f *FirmwareState) error {
		f.Highest = "v9.0.0"
		return errors.New("no")
	}); err == nil {
		t.Fatal("failed change reported no error")
	}
	s.Close()
	s = mustOpen(t, path, Options{})
	f, err := s.Firmware()
	if err != nil {
		t.Fatal(err)
	}
	if f.Highest != "v1.4.0" || len(f.Events) != MaxFirmwareEvents || f.Last().To != fmt.Sprintf("v1.%d.0", MaxFirmwareEvents+6) || f.Events[0].To != "v1.7.0" {
		t.Fatalf("after reopen: highest %s, %d events, first %s, last %+v", f.Highest, len(f.Events), f.Events[0].To, f.Last())
	}
}
