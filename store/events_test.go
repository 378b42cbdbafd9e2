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

// logLine is a syslog line event as the receiver makes them.
func logLine(at time.Time, device, msg string) checks.Event {
	return checks.Event{Time: at, Device: device, Source: checks.SourceSyslog, Name: "sshd", Severity: checks.Warning, Detail: msg,
		Fields: map[string]string{checks.FieldFacility: "auth", checks.FieldSeverity: "warning", checks.FieldApp: "sshd"}}
}

// storedLogs counts what the logs bucket holds, by walking it.
func storedLogs(t *testing.T, s *Store) (devices int, lines, size uint64) {
	t.Helper()
	s.db.View(func(tx *bolt.Tx) error {
		lb := tx.Bucket(bucketLogs)
		return lb.ForEachBucket(func(k []byte) error {
			devices++
			return lb.Bucket(k).ForEach(func(k, v []byte) error {
				lines++
				size += uint64(len(k) + len(v))
				return nil
			})
		})
	})
	return
}

// A flood of syslog lines (a chatty device, hundreds of spoofed
// sources) stays within the log bounds, never touches the traps, and a
// quiet device keeps its few lines; the usage the store keeps is what it
// holds.
func TestLogFloodIsBoundedApartFromTraps(t *testing.T) {
	fc := clock.NewFake(time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC))
	s := mustOpen(t, filepath.Join(t.TempDir(), "o.db"), Options{Clock: fc})
	const devBytes, totalBytes = 64 << 10, 256 << 10
	if err := s.SetLogBounds(LogBounds{DeviceBytes: devBytes, TotalBytes: totalBytes, MaxAge: time.Hour}); err != nil {
		t.Fatal(err)
	}
	s.AppendEvent(checks.Event{Time: fc.Now(), Device: "core-switch", Source: checks.SourceTrap, Name: "linkDown", Detail: "interface went down"})
	for i := 0; i < 3; i++ {
		s.AppendEvent(logLine(fc.Now(), "printer", fmt.Sprintf("quiet line %d", i)))
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", 20_000)
	for round := 0; round < 4; round++ {
		fc.Advance(time.Second)
		for i := 0; i < 2_000; i++ {
			s.AppendEvent(logLine(fc.Now(), "firewall", fmt.Sprintf("round %d line %d %s", round, i, long[:i%900])))
			if i%100 == 0 {
				s.AppendEvent(logLine(fc.Now(), fmt.Sprintf("10.9.%d.%d", round, i/100), long))
			}
		}
		if err := s.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	devices, lines, size := storedLogs(t, s)
	u, err := s.LogUsage()
	if err != nil {
		t.Fatal(err)
	}
	if u.Devices != devices || u.Lines != lines || u.Bytes != size {
		t.Fatalf("usage says %d devices, %d lines, %d bytes; the bucket holds %d, %d, %d", u.Devices, u.Lines, u.Bytes, devices, lines, size)
	}
	if size > totalBytes {
		t.Fatalf("logs hold %d bytes; the bound is %d", size, totalBytes)
	}
	if u.Evicted == 0 {
		t.Fatal("nothing counted as evicted")
	}
	var fw, printer int
	var longest int
	err = s.ScanEvents(checks.EventQuery{Source: checks.SourceSyslog, Devices: []string{"firewall", "printer"}}, func(e checks.Event) bool {
		switch e.Device {
		case "firewall":
			fw++
		case "printer":
			printer++
		}
		longest = max(longest, len(e.Detail))
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	if fw == 0 || printer != 3 {
		t.Fatalf("firewall kept %d lines, printer %d (want its 3)", fw, printer)
	}
	if longest > maxLogDetail+4 {
		t.Fatalf("a line kept %d bytes", longest)
	}
	if evs, _ := s.Events("core-switch", time.Unix(0, 0), fc.Now()); len(evs) != 1 {
		t.Fatalf("the trap is gone: %v", evs)
	}
	// A device's own bound: the firewall alone is cut to devBytes.
	var fwBytes uint64
	s.db.View(func(tx *bolt.Tx) error {
		fwBytes = readLogUsage(tx.Bucket(bucketLogMeta), []byte("firewall")).bytes
		return nil
	})
	if fwBytes > devBytes {
		t.Fatalf("firewall holds %d bytes, over its %d", fwBytes, devBytes)
	}

	// Past MaxAge (maintenance runs with a check) every line goes, and
	// the usage says so; the trap (35 days) stays.
	fc.Advance(2 * time.Hour)
	s.Append("web", checks.Result{Time: fc.Now(), Status: checks.OK})
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := s.Maintain(); err != nil {
		t.Fatal(err)
	}
	if devices, lines, _ := storedLogs(t, s); devices != 0 || lines != 0 {
		t.Fatalf("after MaxAge: %d devices, %d lines", devices, lines)
	}
	if u, _ := s.LogUsage(); u.Lines != 0 || u.Bytes != 0 || u.Devices != 0 || u.Expired == 0 {
		t.Fatalf("usage after MaxAge: %+v", u)
	}
	if evs, _ := s.Events("core-switch", time.Unix(0, 0), fc.Now()); len(evs) != 1 {
		t.Fatalf("the trap went with the lines: %v", evs)
	}
}

// ScanEvents merges devices, traps and lines, stored and pending, in time
// order either way, and honours the source, device, time range and an
// early stop.
func TestScanEventsMergesInTimeOrder(t *testing.T) {
	fc := clock.NewFake(time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC))
	s := mustOpen(t, filepath.Join(t.TempDir(), "o.db"), Options{Clock: fc})
	t0 := fc.Now()
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) }
	var want []string
	for i := 0; i < 30; i++ {
		dev := []string{"a", "b", "c"}[i%3]
		if i%4 == 0 {
			s.AppendEvent(checks.Event{Time: at(i), Device: dev, Source: checks.SourceTrap, Name: fmt.Sprint("trap", i)})
			want = append(want, fmt.Sprint("trap", i))
		} else {
			e := logLine(at(i), dev, fmt.Sprint(i))
			e.Name = fmt.Sprint("line", i)
			s.AppendEvent(e)
			want = append(want, fmt.Sprint("line", i))
		}
		if i == 19 {
			if err := s.Flush(); err != nil { // the last ten stay pending
				t.Fatal(err)
			}
		}
	}
	scan := func(q checks.EventQuery, stopAt int) []string {
		t.Helper()
		var got []string
		if err := s.ScanEvents(q, func(e checks.Event) bool {
			got = append(got, e.Name)
			return len(got) != stopAt
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := scan(checks.EventQuery{}, 0); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("oldest first:\n got %v\nwant %v", got, want)
	}
	got := scan(checks.EventQuery{Newest: true}, 0)
	for i := range got {
		if got[i] != want[len(want)-1-i] {
			t.Fatalf("newest first: %v", got)
		}
	}
	if got := scan(checks.EventQuery{Newest: true}, 3); strings.Join(got, " ") != "line29 trap28 line27" {
		t.Fatalf("stopped after 3: %v", got)
	}
	if got := scan(checks.EventQuery{Source: checks.SourceTrap, Devices: []string{"a", "a"}}, 0); strings.Join(got, " ") != "trap0 trap12 trap24" {
		t.Fatalf("traps of a: %v", got)
	}
	if got := scan(checks.EventQuery{Source: checks.SourceSyslog, Device: func(d string) bool { return d == "b" }, From: at(10), To: at(25)}, 0); strings.Join(got, " ") != "line10 line13 line19 line22 line25" {
		t.Fatalf("lines of b in [10s, 25s]: %v", got)
	}
	if got := scan(checks.EventQuery{Devices: []string{"nobody"}}, 0); len(got) != 0 {
		t.Fatalf("unknown device: %v", got)
	}
}

// Past the device bound, the devices heard from least recently go.
func TestLogDevicesBounded(t *testing.T) {
	fc := clock.NewFake(time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC))
	s := mustOpen(t, filepath.Join(t.TempDir(), "o.db"), Options{Clock: fc})
	if err := s.SetLogBounds(LogBounds{Devices: 4}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 6; i++ {
		fc.Advance(time.Second)
		s.AppendEvent(logLine(fc.Now(), fmt.Sprint("dev", i), "hello"))
		if i == 3 {
			fc.Advance(time.Second)
			s.AppendEvent(logLine(fc.Now(), "dev0", "still here")) // dev0 is heard again: dev1 and dev2 are the oldest
		}
		if err := s.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]bool{}
	s.ScanEvents(checks.EventQuery{}, func(e checks.Event) bool { got[e.Device] = true; return true })
	if len(got) != 4 || !got["dev0"] || got["dev1"] || got["dev2"] || !got["dev5"] {
		t.Fatalf("devices kept: %v", got)
	}
	if u, _ := s.LogUsage(); u.Devices != 4 || u.Evicted != 2 {
		t.Fatalf("usage: %+v", u)
	}
}

// TestEventsAreTrapsOnly: Events reads the trap buckets, so a syslog
// line waiting for the next commit must not show among a device's
// traps either (after the commit it is in the syslog buckets).
func TestEventsAreTrapsOnly(t *testing.T) {
	s := mustOpen(t, filepath.Join(t.TempDir(), "o.db"), Options{})
	now := time.Now()
	s.AppendEvent(checks.Event{Time: now, Device: "gw", Source: checks.SourceTrap, Name: "linkDown"})
	s.AppendEvent(checks.Event{Time: now, Device: "gw", Source: checks.SourceSyslog, Name: "sshd", Detail: "Failed password"})
	for _, when := range []string{"waiting", "committed"} {
		evs, err := s.Events("gw", now.Add(-time.Minute), now.Add(time.Minute))
		if err != nil || len(evs) != 1 || evs[0].Name != "linkDown" {
			t.Fatalf("%s: %+v %v", when, evs, err)
		}
		if err := s.Flush(); err != nil {
			t.Fatal(err)
		}
	}
}
