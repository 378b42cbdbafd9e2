package store

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"outpost/checks"
	"outpost/checks/clock"
)

// smallFS mounts a tmpfs of size bytes for the test (root only).
func smallFS(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a size-limited tmpfs")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return dir
}

// fill writes a file until the file system is full and returns it.
func fill(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "filler")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			break
		}
	}
	return p
}

// A disk that fills up while results keep coming: the store keeps at
// most its pending bound in memory, reports the fault, keeps the latest
// result of every check for the UI, and once space returns commits the
// backlog by itself, in bounded chunks, without losing what it kept.
func TestDiskFullBacklogRecovers(t *testing.T) {
	dir := smallFS(t, "24m")
	fc := clock.NewFake(time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC))
	s, err := Open(filepath.Join(dir, "outpost.db"), Options{Clock: fc, MaxPending: 50_000})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const checksN = 200
	add := func(n int) {
		for i := 0; i < n; i++ {
			fc.Advance(10 * time.Millisecond)
			for c := 0; c < checksN; c++ {
				s.Append(fmt.Sprintf("c%03d", c), checks.Result{Time: fc.Now(), Status: checks.Status(i % 3), Detail: fmt.Sprintf("run %d of a check whose detail changes every time so blocks fill", i)}.WithValue(float64(i)))
			}
		}
	}
	add(50)
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	filler := fill(t, dir)
	var failed error
	for round := 0; round < 40; round++ {
		add(100) // 20,000 results a round
		if err := s.Flush(); err != nil {
			failed = err
		}
	}
	st := s.Stats()
	if failed == nil {
		t.Fatal("the full disk never failed a commit: the test did not fill it")
	}
	if st.Pending > 50_000+checksN || st.Dropped == 0 || st.LastError == "" || !st.Full {
		t.Fatalf("while full: pending %d (bound 50,000), dropped %d, last error %q, full %v", st.Pending, st.Dropped, st.LastError, st.Full)
	}
	if r, ok := s.Latest("c007"); !ok || r.Value != 99 {
		t.Fatalf("latest result of c007 while full: %+v %v", r, ok)
	}
	// Some space comes back, less than the whole backlog needs: what fits
	// is committed, in chunks, instead of nothing.
	fi, _ := os.Stat(filler)
	os.Truncate(filler, fi.Size()-6<<20)
	before := s.Stats()
	s.Flush()
	if after := s.Stats(); after.ResultsWritten < before.ResultsWritten+maxCommitResults || after.Pending > before.Pending-maxCommitResults {
		t.Fatalf("6 MB freed: written %d -> %d, pending %d -> %d: nothing of the backlog fitted", before.ResultsWritten, after.ResultsWritten, before.Pending, after.Pending)
	}
	// All of it comes back: the rest goes too.
	os.Remove(filler)
	if err := s.Flush(); err != nil {
		t.Fatalf("after space returned: %v", err)
	}
	st = s.Stats()
	if st.Pending != 0 || st.Full || st.LastError != "" {
		t.Fatalf("after recovery: pending %d, full %v, last error %q", st.Pending, st.Full, st.LastError)
	}
	rs, err := s.Results("c007", time.Unix(0, 0), fc.Now())
	if err != nil {
		t.Fatal(err)
	}
	if last := rs[len(rs)-1]; last.Value != 99 || len(rs) < 50+50_000/checksN {
		t.Fatalf("c007 after recovery: %d results, last %+v", len(rs), last)
	}
	for i := 1; i < len(rs); i++ {
		if rs[i].Time.Before(rs[i-1].Time) {
			t.Fatalf("results out of order at %d", i)
		}
	}
}
