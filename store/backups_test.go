package store_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"outpost/checks"
	"outpost/store"
)

const job = "3f2b8c1e-9a4d-4e6f-8b21-5c7d9e0a1b2c"

// TestBackupPingsSurviveRestarts: a job's state (when it was first
// watched, its run in progress, its last success with its duration) and
// its pings read back after the store is closed and opened again.
func TestBackupPingsSurviveRestarts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outpost.db")
	s, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2031, 2, 3, 2, 0, 0, 0, time.UTC)
	st, err := s.BackupJob(job, t0)
	if err != nil || !st.Watched.Equal(t0) || st.Pings != 0 {
		t.Fatalf("new job: %+v %v", st, err)
	}
	if st, _ := s.BackupJob(job, t0.Add(time.Hour)); !st.Watched.Equal(t0) {
		t.Fatalf("watched moved: %+v", st)
	}
	if _, err := s.AddBackupPing(job, checks.BackupPing{Time: t0.Add(time.Hour), Signal: checks.BackupStart, Source: "10.0.0.5"}); err != nil {
		t.Fatal(err)
	}
	kept, err := s.AddBackupPing(job, checks.BackupPing{Time: t0.Add(time.Hour + 3*time.Minute), Signal: checks.BackupSuccess, Output: "archive saved\n"})
	if err != nil || kept.Duration != 3*time.Minute {
		t.Fatalf("finish kept as %+v, %v", kept, err)
	}
	if _, err := s.AddBackupPing(job, checks.BackupPing{Time: t0.Add(25 * time.Hour), Signal: checks.BackupStart}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s, err = store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st, err = s.BackupJob(job, t0.Add(48*time.Hour))
	if err != nil || !st.Watched.Equal(t0) || st.Pings != 3 || st.LastSuccess == nil || st.LastSuccess.Duration != 3*time.Minute ||
		st.LastSuccess.Output != "archive saved\n" || st.Running() == nil || !st.Running().Time.Equal(t0.Add(25*time.Hour)) {
		t.Fatalf("after restart: %+v %v", st, err)
	}
	ps, err := s.BackupPings(job, 0)
	if err != nil || len(ps) != 3 || ps[0].Source != "10.0.0.5" || ps[1].Signal != checks.BackupSuccess || ps[2].Signal != checks.BackupStart {
		t.Fatalf("pings after restart: %+v %v", ps, err)
	}
	if ps, _ := s.BackupPings(job, 2); len(ps) != 2 || ps[1].Signal != checks.BackupStart {
		t.Fatalf("newest 2: %+v", ps)
	}
	if ps, err := s.BackupPings("11111111-2222-4333-8444-555555555555", 0); err != nil || len(ps) != 0 {
		t.Fatalf("unknown job: %+v %v", ps, err)
	}
}

// TestBackupHistoryIsBounded: a job keeps its newest BackupPingsPerJob
// pings, each with at most BackupOutputMax bytes of valid UTF-8, whatever
// it sends; the store keeps at most BackupJobs jobs.
func TestBackupHistoryIsBounded(t *testing.T) {
	s, err := store.Open(filepath.Join(t.TempDir(), "outpost.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t0 := time.Date(2031, 2, 3, 2, 0, 0, 0, time.UTC)
	long := strings.Repeat("é", checks.BackupOutputMax) + "\xff the end"
	for i := range store.BackupPingsPerJob + 50 {
		if _, err := s.AddBackupPing(job, checks.BackupPing{Time: t0.Add(time.Duration(i) * time.Second), Signal: checks.BackupLog, Output: long, UserAgent: strings.Repeat("x", 10_000)}); err != nil {
			t.Fatal(err)
		}
	}
	ps, err := s.BackupPings(job, 0)
	if err != nil || len(ps) != store.BackupPingsPerJob {
		t.Fatalf("kept %d pings, %v", len(ps), err)
	}
	if !ps[0].Time.Equal(t0.Add(50 * time.Second)) {
		t.Fatalf("oldest kept is %s: the oldest should go first", ps[0].Time)
	}
	for _, p := range ps {
		if len(p.Output) > checks.BackupOutputMax || !utf8.ValidString(p.Output) || !strings.HasPrefix(p.Output, "…") || !strings.HasSuffix(p.Output, "\uFFFD the end") || len(p.UserAgent) > 300 {
			t.Fatalf("ping kept with %d bytes of output (%q...), %d of user agent", len(p.Output), p.Output[:12], len(p.UserAgent))
		}
	}
	if st, _ := s.BackupJob(job, t0); st.Pings != uint64(store.BackupPingsPerJob+50) {
		t.Fatalf("pings counted: %d", st.Pings)
	}
	if _, err := s.AddBackupPing("", checks.BackupPing{Time: t0}); err == nil {
		t.Fatal("an empty job key was accepted")
	}
	if _, err := s.AddBackupPing(strings.Repeat("a", 65), checks.BackupPing{Time: t0}); err == nil {
		t.Fatal("a 65-byte job key was accepted")
	}
}

func TestBackupJobsAreBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("a thousand commits")
	}
	s, err := store.Open(filepath.Join(t.TempDir(), "outpost.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t0 := time.Date(2031, 2, 3, 2, 0, 0, 0, time.UTC)
	id := func(i int) string { return fmt.Sprintf("%08x-0000-4000-8000-000000000000", i) }
	for i := range store.BackupJobs + 5 {
		if _, err := s.AddBackupPing(id(i), checks.BackupPing{Time: t0.Add(time.Duration(i) * time.Second), Signal: checks.BackupSuccess}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		if ps, _ := s.BackupPings(id(i), 0); len(ps) != 0 {
			t.Fatalf("job %d, heard from least recently, is still kept", i)
		}
	}
	if ps, _ := s.BackupPings(id(5), 0); len(ps) != 1 {
		t.Fatal("job 5 went too")
	}
	if st, _ := s.BackupJob(id(0), t0.Add(time.Hour)); st.Pings != 0 || !st.Watched.Equal(t0.Add(time.Hour)) {
		t.Fatalf("an evicted job's state is still kept: %+v", st)
	}
}
