package checks

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"strconv"
	"strings"
)

// The box's own kinds (cpu, memory, disk, process, systemd) read /proc and
// statfs directly rather than carry a system-information library: the box
// is Pi-class and these are a few lines each. The readers live in
// procfs_linux.go; procfs_other.go answers errNotSupported elsewhere so the
// package still builds for Windows agents.

// errNotSupported is what the /proc readers return off Linux.
var errNotSupported = errors.New("not supported on " + runtime.GOOS + " (this kind reads Linux's /proc)")

// cpuTimes are the aggregate jiffies from /proc/stat's first line.
type cpuTimes struct{ busy, total uint64 }

// procInfo is one running process as the process kind sees it.
type procInfo struct {
	pid     int
	comm    string // kernel name, cut to 15 bytes
	exe     string // base name of the executable ("" when unreadable)
	cmdline string // arguments joined by spaces
}

// percent is a 0 to 100 option value. Decoding rejects anything else, so
// the config error points at the option's own line.
type percent float64

// UnmarshalText parses and range-checks a percentage.
func (p *percent) UnmarshalText(b []byte) error {
	v, err := strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
	if err != nil || math.IsNaN(v) {
		return fmt.Errorf("%q is not a number", b)
	}
	if v < 0 || v > 100 {
		return fmt.Errorf("%g is not a percentage (0 to 100)", v)
	}
	*p = percent(v)
	return nil
}

// pctThresholds applies defaults to a warning/critical pair of percentages
// and checks their order. prefix names the pair in errors ("" or "inode_").
func pctThresholds(warn, crit *percent, defWarn, defCrit float64, prefix string) (Thresholds, error) {
	w, c := defWarn, defCrit
	if warn != nil {
		w = float64(*warn)
	}
	if crit != nil {
		c = float64(*crit)
	}
	if w > c {
		return Thresholds{}, &FieldError{Field: "options." + prefix + "warning", Msg: fmt.Sprintf("%g is above %scritical %g", w, prefix, c)}
	}
	return Thresholds{Warning: &w, Critical: &c}, nil
}

// fmtBytes prints a size with binary units, as df -h and free -h do.
func fmtBytes(b uint64) string {
	const unit = 1024
	if b < unit {
		return fmt.Sprintf("%d B", b)
	}
	div, exp := uint64(unit), 0
	for n := b / unit; n >= unit; n /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(b)/float64(div), "KMGTPE"[exp])
}

// Bytes is a size option such as "2GiB", "500MB", "10G" or a plain byte
// count. It decodes from config through ParseBytes.
type Bytes uint64

// UnmarshalText parses a size.
func (b *Bytes) UnmarshalText(t []byte) error {
	v, err := ParseBytes(string(t))
	if err != nil {
		return err
	}
	*b = Bytes(v)
	return nil
}

// String prints the size with binary units.
func (b Bytes) String() string { return fmtBytes(uint64(b)) }

var byteUnits = map[string]float64{
	"": 1, "B": 1,
	"K": 1 << 10, "KB": 1e3, "KIB": 1 << 10,
	"M": 1 << 20, "MB": 1e6, "MIB": 1 << 20,
	"G": 1 << 30, "GB": 1e9, "GIB": 1 << 30,
	"T": 1 << 40, "TB": 1e12, "TIB": 1 << 40,
}

// ParseBytes reads sizes like "512MiB", "2GB", "1.5T" or a plain number of
// bytes. Units are case-insensitive; KiB/MiB/GiB/TiB and the bare letters
// K/M/G/T are powers of 1024 (as df -h prints them), KB/MB/GB/TB powers of
// 1000 (as disks are sold).
func ParseBytes(s string) (uint64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := t, ""
	if i >= 0 {
		num, unit = strings.TrimSpace(t[:i]), strings.TrimSpace(t[i:])
	}
	m, ok := byteUnits[unit]
	v, err := strconv.ParseFloat(num, 64)
	if !ok || err != nil || v < 0 {
		return 0, fmt.Errorf("%q is not a size (e.g. 500MiB, 2GB, 1.5T)", s)
	}
	if v*m >= math.MaxUint64 {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return uint64(v * m), nil
}

// parseCPUStat reads /proc/stat: the aggregate "cpu" line and the number of
// per-core "cpuN" lines (the online cores).
func parseCPUStat(data string) (cpuTimes, int, error) {
	var t cpuTimes
	cores, seen := 0, false
	for _, line := range strings.Split(data, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], "cpu") {
			continue
		}
		if f[0] != "cpu" {
			cores++
			continue
		}
		seen = true
		// user nice system idle iowait irq softirq steal [guest guest_nice]:
		// guest time is already counted inside user and nice, so stop at
		// steal. iowait is idle time with I/O pending: not busy.
		for i := 1; i < len(f) && i <= 8; i++ {
			v, err := strconv.ParseUint(f[i], 10, 64)
			if err != nil {
				return cpuTimes{}, 0, fmt.Errorf("/proc/stat: field %d of the cpu line, %q: %w", i, f[i], err)
			}
			t.total += v
			if i != 4 && i != 5 {
				t.busy += v
			}
		}
	}
	if !seen || t.total == 0 {
		return cpuTimes{}, 0, errors.New("/proc/stat has no cpu line")
	}
	return t, cores, nil
}

// busyPercent is the share of busy time between two samples. ok is false
// when the counters went backwards (iowait may, on some kernels) or did not
// move, and a new baseline is needed.
func busyPercent(prev, cur cpuTimes) (pct float64, ok bool) {
	if cur.total <= prev.total || cur.busy < prev.busy {
		return 0, false
	}
	db, dt := cur.busy-prev.busy, cur.total-prev.total
	return min(100, 100*float64(db)/float64(dt)), true
}

// parseMeminfo reads /proc/meminfo's values, converted to bytes.
func parseMeminfo(data string) map[string]uint64 {
	m := map[string]uint64{}
	for _, line := range strings.Split(data, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		fs := strings.Fields(v)
		if len(fs) == 0 {
			continue
		}
		n, err := strconv.ParseUint(fs[0], 10, 64)
		if err != nil {
			continue
		}
		if len(fs) > 1 && fs[1] == "kB" {
			n *= 1024
		}
		m[k] = n
	}
	return m
}

// memUsage is what the memory kind reports, in bytes.
type memUsage struct {
	total, used         uint64
	swapTotal, swapUsed uint64
	estimated           bool // no MemAvailable (kernel before 3.14)
}

// memFromInfo computes used memory as MemTotal - MemAvailable, the
// kernel's own estimate of what can be had without swapping (free's
// "available" column). Old kernels lack it: then free + buffers + page
// cache + reclaimable slab stands in.
func memFromInfo(mi map[string]uint64) (memUsage, error) {
	total := mi["MemTotal"]
	if total == 0 {
		return memUsage{}, errors.New("/proc/meminfo has no MemTotal")
	}
	avail, ok := mi["MemAvailable"]
	u := memUsage{total: total, swapTotal: mi["SwapTotal"]}
	if !ok {
		avail = mi["MemFree"] + mi["Buffers"] + mi["Cached"] + mi["SReclaimable"]
		u.estimated = true
	}
	u.used = total - min(avail, total)
	u.swapUsed = u.swapTotal - min(mi["SwapFree"], u.swapTotal)
	return u, nil
}

// parseMountPoints lists the mount points in /proc/self/mountinfo (field 5,
// with spaces and other specials escaped as \ooo octal).
func parseMountPoints(data string) []string {
	var out []string
	for _, line := range strings.Split(data, "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		out = append(out, unescapeOctal(f[4]))
	}
	return out
}

func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// mountPointOf returns the longest mount point that contains path (which
// must be clean and absolute).
func mountPointOf(path string, mounts []string) string {
	best := "/"
	for _, m := range mounts {
		if len(m) <= len(best) {
			continue
		}
		if path == m || strings.HasPrefix(path, m+"/") {
			best = m
		}
	}
	return best
}

// parseLoadavg returns the three load averages of /proc/loadavg.
func parseLoadavg(data string) (string, bool) {
	f := strings.Fields(data)
	if len(f) < 3 {
		return "", false
	}
	return f[0] + " " + f[1] + " " + f[2], true
}
