//go:build linux

package sysinfo

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"outpost/checks/agent/wire"
)

// TestJournalRecorded: the journal path on recorded `journalctl -o json`
// output (a stand-in journalctl on PATH replays it and records its
// arguments): the first poll only learns the cursor, the next one reads
// from it, filters by level and pattern, reads byte-array messages, and
// skips lines it cannot read.
func TestJournalRecorded(t *testing.T) {
	dir := t.TempDir()
	rec, _ := filepath.Abs("testdata/journal.json")
	args := filepath.Join(dir, "args")
	script := "#!/bin/sh\necho \"$@\" >> " + args + "\ncase \"$*\" in\n*--after-cursor*) cat " + rec + " ;;\n*) echo '{\"__CURSOR\":\"s=abc;i=9\",\"MESSAGE\":\"older\"}' ;;\nesac\n"
	if err := os.WriteFile(filepath.Join(dir, "journalctl"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+":"+os.Getenv("PATH"))
	l := &Linux{}
	ctx := context.Background()
	b, err := l.Events(ctx, wire.EventQuery{Log: "journal", Level: "warning", Pattern: "I/O error|unreadable", Unit: "smartd.service"})
	if err != nil || b.Cursor != "s=abc;i=9" || b.Count != 0 {
		t.Fatalf("first poll: %+v %v", b, err)
	}
	b, err = l.Events(ctx, wire.EventQuery{Log: "journal", Level: "warning", Pattern: "I/O error|unreadable", Unit: "smartd.service", Cursor: b.Cursor})
	if err != nil {
		t.Fatal(err)
	}
	if b.Cursor != "s=abc;i=13" || b.Count != 3 || len(b.Entries) != 3 {
		t.Fatalf("second poll: %+v", b)
	}
	if e := b.Entries[0]; e.Source != "smartd" || e.Level != "error" || !strings.Contains(e.Message, "pending") || e.Time.Unix() != 1795510801 {
		t.Fatalf("first match: %+v", e)
	}
	if e := b.Entries[1]; e.Source != "kernel" || e.Level != "warning" {
		t.Fatalf("second match: %+v", e)
	}
	// journalctl writes a message with control characters as a byte array.
	if e := b.Entries[2]; e.Level != "critical" || e.Message != "Buffer I/O error" {
		t.Fatalf("byte-array message: %+v", e)
	}
	calls, _ := os.ReadFile(args)
	if !strings.Contains(string(calls), "-n 1 -u smartd.service") || !strings.Contains(string(calls), "--after-cursor s=abc;i=9 -n 10000 -u smartd.service") {
		t.Fatalf("journalctl called with:\n%s", calls)
	}
}
