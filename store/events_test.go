package store

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"outpost/checks"
	"outpost/checks/clock"
)

func eventDevices(t *testing.T, s *Store) (devices, events int) {
	t.Helper()
	s.db.View(func(tx *bolt.Tx) error {
		eb := tx.Bucket(bucketEvents)
		return eb.ForEachBucket(func(k []byte) error {
			devices++
			events += eb.Bucket(k).Stats().KeyN
			return nil
		})
	})
	return
}

// A flood of spoofed traps (thousands of source addresses, huge
// varbinds) is bounded by the store: events per device, devices, the size
// of one event and the buffer waiting for a commit, and old events go
// after the retention.
func TestEventFloodIsBounded(t *testing.T) {
	fc := clock.NewFake(time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC))
	s := mustOpen(t, filepath.Join(t.TempDir(), "o.db"), Options{Clock: fc, EventsPerDevice: 100, EventDevices: 50})
	huge := strings.Repeat("x", 64<<10)
	fields := map[string]string{}
	for i := 0; i < 500; i++ {
		fields[fmt.Sprintf("1.3.6.1.4.1.9.%d", i)] = huge
	}
	for round := 0; round < 3; round++ {
		for i := 0; i < 12_000; i++ {
			s.AppendEvent(checks.Event{Time: fc.Now(), Device: fmt.Sprintf("10.%d.%d.%d", round, i/250, i%250), Source: "trap", Name: "spoofed", Detail: huge, Fields: fields})
		}
		fc.Advance(time.Second)
		if err := s.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	if dropped := s.EventsDropped(); dropped < 3*2_000 {
		t.Fatalf("%d dropped, want at least the 2,000 a round over the pending buffer", dropped)
	}
	devices, events := eventDevices(t, s)
	if devices > 50 || events > 50*100 {
		t.Fatalf("store holds %d devices, %d events; caps are 50 and 100 each", devices, events)
	}
	// The real device keeps its newest events, cut to size.
	for i := 0; i < 150; i++ {
		fc.Advance(time.Millisecond)
		s.AppendEvent(checks.Event{Time: fc.Now(), Device: "core-switch", Source: "trap", Name: fmt.Sprintf("linkDown %d", i), Detail: huge, Fields: fields})
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	evs, err := s.Events("core-switch", time.Unix(0, 0), fc.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 100 || evs[0].Name != "linkDown 50" || evs[99].Name != "linkDown 149" {
		t.Fatalf("core-switch events: %d, first %q", len(evs), evs[0].Name)
	}
	if len(evs[0].Detail) > maxEventDetail+4 || len(evs[0].Fields) > maxEventFields {
		t.Fatalf("an event kept %d bytes of detail and %d fields", len(evs[0].Detail), len(evs[0].Fields))
	}
	if st := s.Stats(); st.FileSize > 64<<20 {
		t.Fatalf("store grew to %d bytes", st.FileSize)
	}
	// Past the retention (with a check, so maintenance runs) events go.
	s.Append("web", checks.Result{Time: fc.Now(), Status: checks.OK})
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	fc.Advance(DefaultEventRetention + time.Hour)
	s.Append("web", checks.Result{Time: fc.Now(), Status: checks.OK})
	if err := s.Maintain(); err != nil {
		t.Fatal(err)
	}
	if devices, events := eventDevices(t, s); devices != 0 || events != 0 {
		t.Fatalf("after the retention: %d devices, %d events", devices, events)
	}
}
