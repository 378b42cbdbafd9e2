package store

import (
	"fmt"
	"path/filepath"
	"testing"

	"outpost/checks/clock"
)

// TestIncidentsAndAuditSurviveReopen: documents, the open index and the
// audit trail come back from the file in the order callers rely on
// (newest first), and ids are never reused after a reopen.
func TestIncidentsAndAuditSurviveReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "o.db")
	clk := clock.NewFake(t0)
	s, err := Open(path, Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		id, err := s.NextIncidentID()
		if err != nil || id != uint64(i) {
			t.Fatalf("id %d, %v; want %d", id, err, i)
		}
		if err := s.PutIncident(id, true, []byte(fmt.Sprintf(`{"id":%d}`, id))); err != nil {
			t.Fatal(err)
		}
		clk.Advance(1)
		if err := s.AppendAudit([]byte(fmt.Sprintf(`{"n":%d}`, i))); err != nil {
			t.Fatal(err)
		}
	}
	// Incident 2 resolves: it leaves the open index but stays readable.
	if err := s.PutIncident(2, false, []byte(`{"id":2,"state":"resolved"}`)); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = mustOpen(t, path, Options{Clock: clk})
	collect := func(open bool) (out []string) {
		if err := s.ListIncidents(open, func(doc []byte) bool { out = append(out, string(doc)); return true }); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if got := fmt.Sprint(collect(true)); got != `[{"id":3} {"id":1}]` {
		t.Fatalf("open after reopen: %s", got)
	}
	if got := fmt.Sprint(collect(false)); got != `[{"id":3} {"id":2,"state":"resolved"} {"id":1}]` {
		t.Fatalf("all after reopen: %s", got)
	}
	if doc, ok, err := s.GetIncident(2); err != nil || !ok || string(doc) != `{"id":2,"state":"resolved"}` {
		t.Fatalf("get 2: %q %v %v", doc, ok, err)
	}
	if _, ok, err := s.GetIncident(99); err != nil || ok {
		t.Fatalf("get 99: found=%v err=%v", ok, err)
	}
	if id, _ := s.NextIncidentID(); id != 4 {
		t.Fatalf("id after reopen %d, want 4 (never reused)", id)
	}
	var audit []string
	if err := s.ListAudit(func(doc []byte) bool { audit = append(audit, string(doc)); return len(audit) < 2 }); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(audit) != `[{"n":3} {"n":2}]` {
		t.Fatalf("audit newest first, stopped at 2: %v", audit)
	}
}
