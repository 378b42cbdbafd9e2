package checks_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"outpost/checks"
	"outpost/checks/clock"
	"outpost/store"
)

// storeState is a real store as the store check reads it (the daemon's
// wiring does the same in appliance).
type storeState struct{ s *store.Store }

func (h storeState) StoreState() checks.StoreState {
	st := h.s.Stats()
	return checks.StoreState{Path: h.s.DB().Path(), Err: st.LastError, Full: st.Full, Pending: st.Pending, Dropped: st.Dropped, SinceCommit: st.SinceCommit}
}

func storeChecker(t *testing.T, h checks.StoreHealth, log *slog.Logger) checks.Checker {
	t.Helper()
	c, err := checks.Build(checks.Spec{ID: "outpost-store", Kind: "store", Timeout: time.Second}, checks.Deps{Store: h, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestStoreCheckWithoutStore: a command that runs checks once has no
// store; the check says so and is ok, so `outpost once` is not failed by it.
func TestStoreCheckWithoutStore(t *testing.T) {
	r := storeChecker(t, nil, nil).Check(context.Background())
	if r.Status != checks.OK || !strings.Contains(r.Detail, "no store in this process") {
		t.Fatalf("without a store: %s %q", r.Status, r.Detail)
	}
}

// TestStoreCheckStalled: results waiting with no commit for longer than
// StoreStall (a disk that hangs rather than fails) are critical; a
// commit makes it ok again. The store runs on a fake clock.
func TestStoreCheckStalled(t *testing.T) {
	fc := clock.NewFake(time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC))
	s, err := store.Open(filepath.Join(t.TempDir(), "outpost.db"), store.Options{Clock: fc})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := storeChecker(t, storeState{s}, nil)
	s.Append("web", checks.Result{Time: fc.Now(), Status: checks.OK})
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if r := c.Check(context.Background()); r.Status != checks.OK || r.Value != 0 {
		t.Fatalf("after a commit: %s %q value %v", r.Status, r.Detail, r.Value)
	}
	fc.Advance(checks.StoreStall + time.Second)
	s.Append("web", checks.Result{Time: fc.Now(), Status: checks.OK})
	r := c.Check(context.Background())
	if r.Status != checks.Critical || !strings.Contains(r.Detail, "no commit for 31s with 1 results waiting") || r.Value != 1 {
		t.Fatalf("stalled: %s %q value %v", r.Status, r.Detail, r.Value)
	}
	s.Flush()
	if r := c.Check(context.Background()); r.Status != checks.OK {
		t.Fatalf("after the commit: %s %q", r.Status, r.Detail)
	}
}

// TestStoreCheckDiskFull: a store on a real size-limited file system that
// fills up: the check is critical, names the file and says the disk is
// full, logs it once at ERROR level (not on every run), and is ok, logged
// at INFO, once space returns.
func TestStoreCheckDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a size-limited tmpfs")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	fc := clock.NewFake(time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC))
	path := filepath.Join(dir, "outpost.db")
	s, err := store.Open(path, store.Options{Clock: fc, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var logs strings.Builder
	c := storeChecker(t, storeState{s}, slog.New(slog.NewTextHandler(&logs, nil)))
	filler := filepath.Join(dir, "filler")
	f, _ := os.Create(filler)
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			break
		}
	}
	f.Close()
	// Results until a commit needs room the disk no longer has.
	var failed error
	for i := 0; i < 200 && failed == nil; i++ {
		for j := 0; j < 1000; j++ {
			fc.Advance(time.Millisecond)
			s.Append("web", checks.Result{Time: fc.Now(), Status: checks.Status(j % 3), Detail: "a detail that changes " + fc.Now().String()})
		}
		failed = s.Flush()
	}
	if failed == nil {
		t.Fatal("the full disk never failed a commit: the test did not fill it")
	}
	for i := 0; i < 3; i++ {
		r := c.Check(context.Background())
		if r.Status != checks.Critical || !strings.Contains(r.Detail, "store "+path+" cannot write: the disk is full") || !strings.Contains(r.Detail, "no space left on device") || r.Value <= 0 {
			t.Fatalf("disk full: %s %q value %v", r.Status, r.Detail, r.Value)
		}
	}
	if n := strings.Count(logs.String(), `level=ERROR msg="store cannot write"`); n != 1 {
		t.Fatalf("%d error lines for one failure, want 1:\n%s", n, logs.String())
	}
	os.Remove(filler)
	if err := s.Flush(); err != nil {
		t.Fatalf("after space returned: %v", err)
	}
	if r := c.Check(context.Background()); r.Status != checks.OK || r.Value != 0 {
		t.Fatalf("after space returned: %s %q", r.Status, r.Detail)
	}
	if !strings.Contains(logs.String(), `level=INFO msg="store writes again"`) {
		t.Fatalf("the recovery was not logged:\n%s", logs.String())
	}
}
