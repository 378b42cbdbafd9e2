package store

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"outpost/checks"
	"outpost/checks/clock"
)

var t0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

func mustOpen(tb testing.TB, path string, o Options) *Store {
	tb.Helper()
	s, err := Open(path, o)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func TestKeyOrderRoundTrip(t *testing.T) {
	times := []time.Time{t0, t0.Add(time.Millisecond), t0.Add(time.Hour), t0.Add(-24 * time.Hour), time.UnixMilli(0), t0.AddDate(5, 0, 0)}
	keys := make([][]byte, len(times))
	for i, tm := range times {
		keys[i] = timeKey(tm)
		if !keyTime(keys[i]).Equal(tm) {
			t.Fatalf("round trip %v -> %v", tm, keyTime(keys[i]))
		}
	}
	sort.Slice(keys, func(i, j int) bool { return bytes.Compare(keys[i], keys[j]) < 0 })
	for i := 1; i < len(keys); i++ {
		if !keyTime(keys[i-1]).Before(keyTime(keys[i])) {
			t.Fatal("byte order is not time order")
		}
	}
	if bytes.Compare(seqKey(t0, 1), seqKey(t0, 2)) >= 0 || bytes.Compare(seqKey(t0, 99), seqKey(t0.Add(time.Millisecond), 0)) >= 0 {
		t.Fatal("seq keys out of order")
	}
}

func TestBlockRoundTrip(t *testing.T) {
	st := &encState{key: t0, last: t0}
	var in []checks.Result
	var buf []byte
	for i := 0; i < 200; i++ {
		status := checks.OK
		if i%10 == 0 {
			status = checks.Status(1 + i%3)
		}
		r := checks.Result{Time: t0.Add(time.Duration(i) * 30 * time.Second), Status: status, Latency: time.Duration(i) * 137 * time.Microsecond, Detail: fmt.Sprintf("200 OK in %d ms", i%7)}
		if i%3 == 0 {
			r = r.WithValue(float64(i) * 1.5)
		}
		if i == 50 {
			r = r.WithValue(1e300) // not representable at 0.001: raw float
			r.Detail = "connection refused"
		}
		in = append(in, r)
		buf = appendRecord(buf, st, r)
	}
	if per := float64(len(buf)) / 200; per > 10 {
		t.Fatalf("%.1f bytes per record", per)
	}
	var out []checks.Result
	if _, err := decodeBlock(t0, buf, func(r checks.Result) bool { out = append(out, r); return true }); err != nil {
		t.Fatal(err)
	}
	for i := range in {
		a, b := in[i], out[i]
		if !a.Time.Equal(b.Time) || a.Status != b.Status || a.Latency.Truncate(time.Microsecond) != b.Latency || a.HasValue != b.HasValue || a.Value != b.Value {
			t.Fatalf("record %d: in %+v out %+v", i, a, b)
		}
		if shape(a.Detail) != shape(b.Detail) || (a.Status != checks.OK && a.Detail != b.Detail) {
			t.Fatalf("record %d detail %q -> %q", i, a.Detail, b.Detail)
		}
	}
	if _, err := decodeBlock(t0, buf[:len(buf)-3], nil); err == nil {
		t.Fatal("truncated block decoded without error")
	}
}

func TestFlushBatchesIntoOneCommit(t *testing.T) {
	s := mustOpen(t, filepath.Join(t.TempDir(), "o.db"), Options{})
	for i := 0; i < 10000; i++ {
		s.Append(fmt.Sprintf("check-%03d", i%1000), checks.Result{Time: t0.Add(time.Duration(i) * time.Second), Status: checks.OK})
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Commits != 1 || st.ResultsWritten != 10000 || st.Pending != 0 {
		t.Fatalf("stats %+v", st)
	}
	rs, err := s.Results("check-007", t0, t0.Add(3*time.Hour))
	if err != nil || len(rs) != 10 {
		t.Fatalf("results: %d %v", len(rs), err)
	}
}

func TestResultsChangesAndRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "o.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	statuses := []checks.Status{checks.OK, checks.OK, checks.Critical, checks.Critical, checks.OK}
	for i, st := range statuses {
		s.Append("web", checks.Result{Time: t0.Add(time.Duration(i) * time.Minute), Status: st, Detail: "d" + st.String()})
		if i == 2 {
			s.Flush()
		}
	}
	// Unflushed results are visible too.
	if rs, _ := s.Results("web", t0, t0.Add(time.Hour)); len(rs) != 5 {
		t.Fatalf("results before flush: %d", len(rs))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, path, Options{})
	if r, ok := s.Latest("web"); !ok || r.Status != checks.OK || !r.Time.Equal(t0.Add(4*time.Minute)) {
		t.Fatalf("latest after restart: %+v %v", r, ok)
	}
	ch, err := s.Changes("web", t0, t0.Add(time.Hour))
	if err != nil || len(ch) != 3 {
		t.Fatalf("changes: %+v %v", ch, err)
	}
	if ch[1].To != checks.Critical || !ch[1].Time.Equal(t0.Add(2*time.Minute)) || ch[2].To != checks.OK {
		t.Fatalf("changes: %+v", ch)
	}
	// The status before the restart seeds change detection after it.
	s.Append("web", checks.Result{Time: t0.Add(5 * time.Minute), Status: checks.OK})
	s.Append("web", checks.Result{Time: t0.Add(6 * time.Minute), Status: checks.Warning})
	s.Flush()
	last, ok, _ := s.LastChange("web")
	if !ok || last.From != checks.OK || last.To != checks.Warning {
		t.Fatalf("last change %+v", last)
	}
	if rs, _ := s.Results("web", t0.Add(90*time.Second), t0.Add(5*time.Minute)); len(rs) != 4 {
		t.Fatalf("range: %d", len(rs))
	}
}

func TestSecondOpenFailsFast(t *testing.T) {
	path := filepath.Join(t.TempDir(), "o.db")
	mustOpen(t, path, Options{})
	start := time.Now()
	_, err := Open(path, Options{OpenTimeout: 200 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "locked by another outpost process") {
		t.Fatalf("second open: %v", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Fatal("second open did not fail fast")
	}
}

// TestRetentionAndRollups simulates a check every minute for 4 days on a
// fake clock: rollups appear for complete days, raw results older than
// retention go, and rollup values match the raw data they came from.
func TestRetentionAndRollups(t *testing.T) {
	fc := clock.NewFake(t0)
	s := mustOpen(t, filepath.Join(t.TempDir(), "o.db"), Options{Clock: fc, RawRetention: 48 * time.Hour, Rollup5mRetention: 3 * 24 * time.Hour})
	for m := 0; m < 4*24*60; m++ {
		tm := t0.Add(time.Duration(m) * time.Minute)
		st := checks.OK
		if m%10 == 0 {
			st = checks.Critical
		}
		s.Append("disk", checks.Result{Time: tm, Status: st, Latency: time.Duration(m%5+1) * time.Millisecond}.WithValue(float64(m%100)))
		if m%60 == 59 {
			fc.Set(tm)
			if err := s.Flush(); err != nil {
				t.Fatal(err)
			}
			if m%(6*60) == 359 {
				if err := s.Maintain(); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	now := t0.Add(4*24*time.Hour - time.Minute)
	fc.Set(now)
	if err := s.Maintain(); err != nil {
		t.Fatal(err)
	}
	raw, _ := s.Results("disk", t0, now)
	if oldest := raw[0].Time; oldest.Before(now.Add(-48*time.Hour - blockMaxSpan)) {
		t.Fatalf("raw results from %v kept past 48h retention (now %v)", oldest, now)
	}
	h, err := s.Rollups("disk", Res1h, t0, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 4*24 {
		t.Fatalf("hourly rollups: %d, want 96", len(h))
	}
	first := h[0]
	if first.Count != 60 || first.Failures != 6 || first.ValueMin != 0 || first.ValueMax != 59 || first.ValueMean != 29.5 || first.LatencyMax != 5*time.Millisecond || first.LatencyMin != time.Millisecond {
		t.Fatalf("first hour rollup %+v", first)
	}
	// 5-minute rollups: day 0 is past the 3-day retention.
	r5, _ := s.Rollups("disk", Res5m, t0, now)
	if len(r5) == 0 || r5[0].Start.Before(dayStart(now.Add(-3*24*time.Hour))) {
		t.Fatalf("5m rollups start %v", r5[0].Start)
	}
	if r5[len(r5)-1].Count != 5 && r5[len(r5)-1].Count != 4 {
		t.Fatalf("last 5m bucket %+v", r5[len(r5)-1])
	}
}

// TestSurvivesKill9 runs a writer in a child process, SIGKILLs it in the
// middle of writing, and checks every result it reported as committed.
func TestSurvivesKill9(t *testing.T) {
	if os.Getenv("OUTPOST_STORE_CHILD") != "" {
		t.Skip("child mode")
	}
	path := filepath.Join(t.TempDir(), "o.db")
	for round := 0; round < 3; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestKillChild$")
		cmd.Env = append(os.Environ(), "OUTPOST_STORE_CHILD="+path, "OUTPOST_STORE_ROUND="+strconv.Itoa(round))
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		committed := -1
		killAt := 5 + rand.Intn(20)
		for sc.Scan() {
			if n, err := strconv.Atoi(strings.TrimPrefix(sc.Text(), "committed ")); err == nil {
				committed = n
				if n >= killAt {
					cmd.Process.Signal(syscall.SIGKILL)
					break
				}
			}
		}
		cmd.Wait()
		if committed < 0 {
			t.Fatal("child never committed")
		}
		s, err := Open(path, Options{})
		if err != nil {
			t.Fatalf("reopen after kill -9: %v", err)
		}
		for c := 0; c < 20; c++ {
			rs, err := s.Results(fmt.Sprintf("r%d-c%d", round, c), t0, t0.Add(24*time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if len(rs) < (committed+1)*10 {
				t.Fatalf("round %d check %d: %d results on disk, %d batches were committed", round, c, len(rs), committed+1)
			}
			for i, r := range rs {
				if !r.Time.Equal(t0.Add(time.Duration(i) * time.Second)) {
					t.Fatalf("result %d at %v", i, r.Time)
				}
			}
		}
		s.Close()
	}
}

// TestKillChild is the writer TestSurvivesKill9 kills.
func TestKillChild(t *testing.T) {
	path := os.Getenv("OUTPOST_STORE_CHILD")
	if path == "" {
		t.Skip("only runs as TestSurvivesKill9's child")
	}
	round := os.Getenv("OUTPOST_STORE_ROUND")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for batch := 0; ; batch++ {
		for c := 0; c < 20; c++ {
			for i := 0; i < 10; i++ {
				n := batch*10 + i
				s.Append(fmt.Sprintf("r%s-c%d", round, c), checks.Result{Time: t0.Add(time.Duration(n) * time.Second), Status: checks.Status(n % 3), Detail: strings.Repeat("x", n%40)})
			}
		}
		if err := s.Flush(); err != nil {
			t.Fatal(err)
		}
		fmt.Printf("committed %d\n", batch)
	}
}

// TestFlushCycleIncludesTheCommit: the wait after a commit is what is
// left of the interval, so a result is on disk one interval after it
// missed a commit (not an interval plus the commit's fsyncs); a slow
// disk never gets more than two commits per interval.
func TestFlushCycleIncludesTheCommit(t *testing.T) {
	for _, c := range []struct{ took, want time.Duration }{
		{0, time.Second},
		{120 * time.Millisecond, 880 * time.Millisecond},
		{700 * time.Millisecond, 500 * time.Millisecond},
		{3 * time.Second, 500 * time.Millisecond},
	} {
		if got := nextFlush(time.Second, c.took); got != c.want {
			t.Errorf("commit took %s: next flush in %s, want %s", c.took, got, c.want)
		}
	}
}
