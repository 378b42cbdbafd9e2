package syslog

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"outpost/checks"
)

// Entries as journalctl --output=json writes them: text, binary values
// as byte arrays, a field given twice as an array; and what is no entry.
func TestParseJournalEntry(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	e, cur, why := ParseJournalEntry([]byte(`{"__CURSOR":"s=1;i=2","__REALTIME_TIMESTAMP":"1796227738725068","PRIORITY":"3","SYSLOG_FACILITY":"0","_TRANSPORT":"kernel","SYSLOG_IDENTIFIER":"kernel","_HOSTNAME":"box","_SYSTEMD_UNIT":"x.service","_PID":"42","MESSAGE":"EXT4-fs error (device sda1)"}`), "outpost", now)
	if why != "" || cur != "s=1;i=2" || e.Source != checks.SourceJournal || e.Device != "outpost" || e.Name != "kernel" || e.Detail != "EXT4-fs error (device sda1)" ||
		e.Fields[checks.FieldFacility] != "kern" || e.Fields[checks.FieldSeverity] != "err" || e.Fields[checks.FieldUnit] != "x.service" || e.Fields[checks.FieldProcID] != "42" ||
		e.Fields[checks.FieldHost] != "box" || e.Fields[checks.FieldCursor] != "s=1;i=2" || e.Fields[checks.FieldTimestamp] != "2026-12-02T16:08:58.725068Z" || !e.Time.Equal(now) {
		t.Fatalf("parsed %+v cursor %q dropped %q", e, cur, why)
	}
	if checks.EventText(e) != "kernel: EXT4-fs error (device sda1)" || checks.EventSeverity(e) != 3 {
		t.Errorf("text %q severity %d", checks.EventText(e), checks.EventSeverity(e))
	}
	// MESSAGE as bytes (not UTF-8, a newline), a field given twice, no
	// identifier: the unit names it.
	e, _, why = ParseJournalEntry([]byte(`{"__CURSOR":"c","MESSAGE":[104,105,10,255,7],"PRIORITY":["4","5"],"_SYSTEMD_UNIT":"nut-monitor.service"}`), "outpost", now)
	if why != "" || e.Detail != "hi \uFFFD " || e.Name != "nut-monitor" || e.Fields[checks.FieldSeverity] != "warning" || e.Fields[checks.FieldFacility] != "daemon" {
		t.Errorf("binary entry: %+v dropped %q", e, why)
	}
	// A local user's entry that claims the kern facility is user's.
	if e, _, _ := ParseJournalEntry([]byte(`{"__CURSOR":"c","MESSAGE":"I/O error, dev sda","SYSLOG_FACILITY":"0","_TRANSPORT":"syslog"}`), "outpost", now); e.Fields[checks.FieldFacility] != "user" {
		t.Errorf("a syslog entry claiming kern is %s", e.Fields[checks.FieldFacility])
	}
	for _, c := range []struct{ line, why, cursor string }{
		{`not json`, JournalGarbage, ""},
		{`["an","array"]`, JournalGarbage, ""},
		{`{"MESSAGE":"no cursor"}`, JournalGarbage, ""},
		{`{"__CURSOR":"` + strings.Repeat("c", 251) + `","MESSAGE":"a cursor the store would cut"}`, JournalGarbage, ""},
		{`{"__CURSOR":"c2","MESSAGE":null}`, JournalTooLong, "c2"},
		{`{"__CURSOR":"c5","PRIORITY":"3"}`, JournalEmpty, "c5"},
		{`{"__CURSOR":"c3","MESSAGE":[300,1]}`, JournalEmpty, "c3"},
		{`{"__CURSOR":"c4","MESSAGE":"   "}`, JournalEmpty, "c4"},
	} {
		if _, cur, why := ParseJournalEntry([]byte(c.line), "outpost", now); why != c.why || cur != c.cursor {
			t.Errorf("%s: dropped %q cursor %q, want %q %q", c.line, why, cur, c.why, c.cursor)
		}
	}
}

func TestReadBounded(t *testing.T) {
	r := bufio.NewReaderSize(strings.NewReader("short\n"+strings.Repeat("y", 300)+"\nlast"), 16)
	for _, want := range []struct {
		line string
		long bool
	}{{"short", false}, {strings.Repeat("y", 100), true}, {"last", false}} {
		line, long, _ := readBounded(r, 100)
		if string(line) != want.line || long != want.long {
			t.Errorf("read %q long %v, want %q %v", line, long, want.line, want.long)
		}
	}
}

func TestJournalConfigErrors(t *testing.T) {
	for _, c := range []struct {
		cfg  JournalConfig
		want string
	}{
		{JournalConfig{Units: []string{"--output=cat"}}, "journal.units[0]"},
		{JournalConfig{Priority: "loud"}, "journal.priority"},
		{JournalConfig{Interval: time.Millisecond}, "journal.interval"},
		{JournalConfig{Directory: "rel/dir"}, "journal.directory"},
		{JournalConfig{Directory: "/a", File: "/b"}, "journal.file"},
	} {
		if err := checkJournal(&c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want an error naming %s", c.cfg, err, c.want)
		}
	}
	c := JournalConfig{Units: []string{"ssh.service"}, Priority: "warning"}
	if err := checkJournal(&c); err != nil || c.Interval != DefaultJournalInterval {
		t.Fatal(err, c.Interval)
	}
	args := strings.Join(c.Args("s=1", time.Time{}), " ")
	if args != "--output=json --no-pager --quiet --priority=0..4 --unit=ssh.service --cursor=s=1" {
		t.Errorf("args %s", args)
	}
}

// A journalctl that fails (a journal directory that is not there) is
// retried with backoff and said in the stats; the follower never stops
// on it.
func TestJournalFailureIsRetried(t *testing.T) {
	if _, err := exec.LookPath("journalctl"); err != nil {
		t.Fatalf("journalctl (Debian's systemd, the Makefile's TEST_DEBS): %v", err)
	}
	c := JournalConfig{Interval: time.Second, Directory: "/nonexistent/journal"}
	if err := checkJournal(&c); err != nil {
		t.Fatal(err)
	}
	var logged []string
	var mu sync.Mutex
	j := NewJournal(c, "outpost", "", time.Now(), func(checks.Event) { t.Error("an event from nothing") }, nil, func(f string, args ...any) {
		mu.Lock()
		logged = append(logged, fmt.Sprintf(f, args...))
		mu.Unlock()
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); j.Run(ctx) }()
	deadline := time.Now().Add(30 * time.Second)
	for j.Stats().Failed < 2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	<-done
	st := j.Stats()
	mu.Lock()
	defer mu.Unlock()
	if st.Failed < 2 || !strings.Contains(st.Error, "/nonexistent/journal") || len(logged) != 1 || !strings.Contains(logged[0], "trying again in 2s") {
		t.Errorf("stats %+v, logged %q", st, logged)
	}
}
