package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestPhoneRenumber: the queued summaries move past the receiver's
// newest number, in order, with bodies made for their new numbers, and
// numbering goes on after them; an outbox already above it is left as
// it is, and a failed rewrite changes nothing.
func TestPhoneRenumber(t *testing.T) {
	s := mustOpen(t, filepath.Join(t.TempDir(), "outpost.db"), Options{})
	build := func(seq uint64, _ PhoneMeta) ([]byte, map[string]string, error) {
		return fmt.Appendf(nil, "summary %d", seq), nil, nil
	}
	for range 5 {
		if _, err := s.PhoneAppend(1<<20, "", build, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PhoneAcked(1, ""); err != nil { // 2..5 queued, next 6
		t.Fatal(err)
	}
	rewrite := func(body []byte, seq uint64) ([]byte, error) {
		return fmt.Appendf(nil, "%s as %d", body, seq), nil
	}
	if n, _, err := s.PhoneRenumber(1, rewrite); err != nil || n != 0 {
		t.Fatalf("past 1 with 2..5 queued: moved %d, %v", n, err)
	}
	if _, _, err := s.PhoneRenumber(40, func([]byte, uint64) ([]byte, error) { return nil, errors.New("unreadable") }); err == nil || !strings.Contains(err.Error(), "renumbering queued summary 2 as 41: unreadable") {
		t.Fatalf("failed rewrite: %v", err)
	}
	n, from, err := s.PhoneRenumber(40, rewrite)
	if err != nil || n != 4 || from != 2 {
		t.Fatalf("moved %d from %d: %v", n, from, err)
	}
	if m, _ := s.PhoneMeta(); m.Bytes != int64(len("summary 2 as 41"))*4 || m.NextSeq != 45 {
		t.Fatalf("after renumbering: outbox bytes %d, next seq %d", m.Bytes, m.NextSeq)
	}
	var got []string
	for {
		e, ok, err := s.PhoneOldest()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		got = append(got, fmt.Sprintf("%d:%s", e.Seq, e.Body))
		s.PhoneAcked(e.Seq, "")
	}
	want := "[41:summary 2 as 41 42:summary 3 as 42 43:summary 4 as 43 44:summary 5 as 44]"
	if fmt.Sprint(got) != want {
		t.Fatalf("queue after renumbering:\n%v\nwant\n%s", got, want)
	}
	m, _ := s.PhoneMeta()
	if m.NextSeq != 45 || m.Bytes != 0 {
		t.Fatalf("next seq %d, bytes %d after draining", m.NextSeq, m.Bytes)
	}
	if seq, _ := s.PhoneAppend(1<<20, "", build, nil); seq != 45 {
		t.Fatalf("next summary numbered %d, want 45", seq)
	}
}
