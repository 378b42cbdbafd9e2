package checks

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"time"
)

func init() {
	Register(Kind{Name: "disk", Summary: "a mounted file system's used % (as df counts it), free space, inodes", OnBox: true, NeedsTarget: true, New: newDisk})
}

// Disk checks a file system on the box by its mount point.
type Disk struct {
	path    string
	t       Thresholds
	inodeT  *Thresholds // nil: inodes not checked
	minFree uint64

	// pending is the answer channel of a statfs that has not returned yet.
	// statfs on a hung network mount blocks in the kernel and cannot be
	// cancelled; later runs wait on the same call instead of piling up
	// blocked goroutines.
	mu      sync.Mutex
	pending chan statAnswer
}

var _ Checker = (*Disk)(nil)

// fsUsage is what statfs says, in bytes and inodes.
type fsUsage struct {
	total, free, avail uint64
	files, filesFree   uint64
}

type statAnswer struct {
	asked time.Time
	u     fsUsage
	err   error
}

func newDisk(s Spec, _ Deps) (Checker, error) {
	var o struct {
		Warning       *percent `yaml:"warning"`
		Critical      *percent `yaml:"critical"`
		InodeWarning  *percent `yaml:"inode_warning"`
		InodeCritical *percent `yaml:"inode_critical"`
		MinFree       Bytes    `yaml:"min_free"`
	}
	if err := s.Options.Decode(&o); err != nil {
		return nil, err
	}
	if !filepath.IsAbs(s.Target) {
		return nil, &FieldError{Field: "target", Msg: fmt.Sprintf("%q is not an absolute mount point such as / or /srv", s.Target)}
	}
	d := &Disk{path: filepath.Clean(s.Target), minFree: uint64(o.MinFree)}
	var err error
	if d.t, err = pctThresholds(o.Warning, o.Critical, 80, 90, ""); err != nil {
		return nil, err
	}
	if o.InodeWarning != nil || o.InodeCritical != nil {
		it, err := pctThresholds(o.InodeWarning, o.InodeCritical, 90, 95, "inode_")
		if err != nil {
			return nil, err
		}
		d.inodeT = &it
	}
	return d, nil
}

// statfs asks the kernel about the file system, giving up when ctx ends.
func (d *Disk) statfs(ctx context.Context, start time.Time) (fsUsage, error) {
	for {
		d.mu.Lock()
		ch := d.pending
		if ch == nil {
			ch = make(chan statAnswer, 1)
			d.pending = ch
			go func(asked time.Time) {
				u, err := statFS(d.path)
				ch <- statAnswer{asked: asked, u: u, err: err}
			}(time.Now())
		}
		d.mu.Unlock()
		select {
		case a := <-ch:
			d.mu.Lock()
			d.pending = nil
			d.mu.Unlock()
			if a.asked.Before(start) {
				continue // the answer to a run that gave up: ask afresh
			}
			return a.u, a.err
		case <-ctx.Done():
			return fsUsage{}, fmt.Errorf("statfs did not answer in time (a hung network mount?): %w", context.Cause(ctx))
		}
	}
}

// Check reads statfs for the mount point.
func (d *Disk) Check(ctx context.Context) Result {
	start := time.Now()
	u, err := d.statfs(ctx, start)
	if err != nil {
		return Result{Time: start, Status: Critical, Latency: Since(start), Detail: fmt.Sprintf("%s: %v", d.path, err)}
	}
	used := u.total - min(u.free, u.total)
	// Like df: used / (used + available to non-root), so the blocks
	// reserved for root count as full.
	pct := 0.0
	if used+u.avail > 0 {
		pct = 100 * float64(used) / float64(used+u.avail)
	}
	r := Result{Time: start, Status: d.t.Eval(pct), Latency: Since(start)}.WithValue(pct)
	r.Detail = fmt.Sprintf("%s: %.1f%% used, %s free of %s", d.path, pct, fmtBytes(u.avail), fmtBytes(u.total))
	if d.minFree > 0 && u.avail < d.minFree {
		r.Status = Critical
		r.Detail += fmt.Sprintf(", below the minimum %s", fmtBytes(d.minFree))
	}
	if d.inodeT != nil && u.files > 0 {
		ip := 100 * float64(u.files-min(u.filesFree, u.files)) / float64(u.files)
		r.Status = Worst(r.Status, d.inodeT.Eval(ip))
		r.Detail += fmt.Sprintf(", inodes %.1f%% used", ip)
	}
	// An unmounted backup disk leaves an empty directory behind: say whose
	// file system is really being measured.
	if mounts, err := readMountPoints(); err == nil {
		if real, err := filepath.EvalSymlinks(d.path); err == nil {
			if m := mountPointOf(real, mounts); m != real {
				r.Detail += fmt.Sprintf(" (not a mount point: this is the file system on %s)", m)
			}
		}
	}
	return r
}
