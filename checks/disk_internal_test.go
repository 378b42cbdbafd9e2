package checks

import (
	"context"
	"testing"
	"time"
)

// A statfs that never returns (a hung NFS or CIFS mount) must not hold a
// scheduler worker past the check's deadline, and must not be asked again
// while it is stuck.
func TestDiskStuckStatfs(t *testing.T) {
	c, err := Build(Spec{Kind: "disk", Target: t.TempDir()}, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	d := c.(*Disk)
	stuck := make(chan statAnswer, 1)
	d.pending = stuck // an earlier run's statfs, still in the kernel

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := d.Check(ctx)
	if r.Status != Critical || r.Detail != d.path+": statfs did not answer in time (a hung network mount?): context canceled" {
		t.Fatalf("stuck statfs: %s %q", r.Status, r.Detail)
	}
	if d.pending != stuck {
		t.Fatal("a second statfs was started while the first is stuck")
	}

	// The stuck call finally returns, long after: its answer is stale, so
	// the next run asks again and reports the real file system.
	stuck <- statAnswer{asked: time.Now().Add(-time.Hour), u: fsUsage{total: 100, free: 0, avail: 0}}
	r = d.Check(context.Background())
	if r.Status == Critical || !r.HasValue || r.Value >= 100 {
		t.Fatalf("after the stuck call returned: %+v", r)
	}
	if d.pending != nil {
		t.Fatal("pending left set after an answer")
	}
}
