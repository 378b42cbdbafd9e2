package checks

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

func init() {
	Register(Kind{Name: "disk", Summary: "a mounted file system's used % (as df counts it), free space, inodes", NeedsTarget: true, New: newDisk})
}

// Disk checks a file system on the box by its mount point.
type Disk struct {
	path    string
	t       Thresholds
	inodeT  Thresholds
	inodes  bool
	minFree uint64
}

var _ Checker = (*Disk)(nil)

// fsUsage is what statfs says, in bytes and inodes.
type fsUsage struct {
	total, free, avail uint64
	files, filesFree   uint64
}

func newDisk(s Spec) (Checker, error) {
	var o struct {
		Warning       *float64 `yaml:"warning"`
		Critical      *float64 `yaml:"critical"`
		InodeWarning  *float64 `yaml:"inode_warning"`
		InodeCritical *float64 `yaml:"inode_critical"`
		MinFree       string   `yaml:"min_free"`
	}
	if err := s.Options.Decode(&o); err != nil {
		return nil, err
	}
	if !filepath.IsAbs(s.Target) {
		return nil, &FieldError{Field: "target", Msg: fmt.Sprintf("%q is not an absolute mount point such as / or /srv", s.Target)}
	}
	d := &Disk{path: s.Target}
	var err error
	if d.t, err = makePct(pctOptions{Warning: o.Warning, Critical: o.Critical}, 80, 90); err != nil {
		return nil, err
	}
	if o.InodeWarning != nil || o.InodeCritical != nil {
		d.inodes = true
		if d.inodeT, err = makePct(pctOptions{Warning: o.InodeWarning, Critical: o.InodeCritical}, 90, 95); err != nil {
			if fe, ok := err.(*FieldError); ok {
				fe.Field = strings.Replace(fe.Field, "options.", "options.inode_", 1)
			}
			return nil, err
		}
	}
	if o.MinFree != "" {
		if d.minFree, err = ParseBytes(o.MinFree); err != nil {
			return nil, &FieldError{Field: "options.min_free", Msg: err.Error()}
		}
	}
	return d, nil
}

// ParseBytes reads sizes like "512MiB", "2GB", "10G" or a plain number of
// bytes.
func ParseBytes(s string) (uint64, error) {
	t := strings.TrimSpace(strings.ToUpper(s))
	mult := map[string]float64{"": 1, "B": 1, "K": 1 << 10, "KB": 1e3, "KIB": 1 << 10, "M": 1 << 20, "MB": 1e6, "MIB": 1 << 20, "G": 1 << 30, "GB": 1e9, "GIB": 1 << 30, "T": 1 << 40, "TB": 1e12, "TIB": 1 << 40}
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := t, ""
	if i >= 0 {
		num, unit = strings.TrimSpace(t[:i]), strings.TrimSpace(t[i:])
	}
	m, ok := mult[unit]
	v, err := strconv.ParseFloat(num, 64)
	if !ok || err != nil || v < 0 {
		return 0, fmt.Errorf("%q is not a size (e.g. 500MiB, 2GB)", s)
	}
	return uint64(v * m), nil
}

// Check reads statfs for the mount point.
func (d *Disk) Check(ctx context.Context) Result {
	start := time.Now()
	u, err := statFS(d.path)
	if err != nil {
		return Result{Time: start, Status: Critical, Latency: Since(start), Detail: fmt.Sprintf("%s: %v", d.path, err)}
	}
	used := u.total - u.free
	// Like df: used / (used + available to non-root), so the reserved
	// blocks count as full.
	pct := 0.0
	if used+u.avail > 0 {
		pct = 100 * float64(used) / float64(used+u.avail)
	}
	r := Result{Time: start, Status: d.t.Eval(pct), Latency: Since(start)}.WithValue(pct)
	r.Detail = fmt.Sprintf("%s: %.1f%% used, %s free of %s", d.path, pct, fmtBytes(u.avail), fmtBytes(u.total))
	if d.minFree > 0 && u.avail < d.minFree {
		r.Status = Critical
		r.Detail += fmt.Sprintf(" (below the minimum %s)", fmtBytes(d.minFree))
	}
	if d.inodes && u.files > 0 {
		ip := 100 * float64(u.files-u.filesFree) / float64(u.files)
		if st := d.inodeT.Eval(ip); st != OK {
			r.Status = Worst(r.Status, st)
		}
		r.Detail += fmt.Sprintf(", inodes %.1f%% used", ip)
	}
	return r
}
