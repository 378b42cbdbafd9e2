//go:build linux

package sysinfo

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"outpost/checks/agent/wire"
)

// Linux reads /proc, statfs, systemctl and journalctl.
type Linux struct {
	// Proc is the procfs root (default /proc).
	Proc string
	// Now is the clock (default time.Now).
	Now func() time.Time

	mu      sync.Mutex
	prevCPU cpuSample
}

type cpuSample struct {
	at          time.Time
	busy, total uint64
}

var _ Host = (*Linux)(nil)

// New returns this machine's Host.
func New() Host { return &Linux{} }

func (l *Linux) proc(p string) string {
	root := l.Proc
	if root == "" {
		root = "/proc"
	}
	return filepath.Join(root, p)
}

func (l *Linux) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

func run(ctx context.Context, name string, args ...string) (string, error) {
	path, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s is not installed on this machine", name)
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "SYSTEMD_PAGER=")
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && len(ee.Stderr) > 0 {
			return string(out), fmt.Errorf("%s: %s", name, strings.TrimSpace(string(ee.Stderr)))
		}
		return string(out), fmt.Errorf("%s: %w", name, err)
	}
	return string(out), nil
}

// Service asks systemctl about a unit (".service" is implied).
func (l *Linux) Service(ctx context.Context, name string) (wire.Service, error) {
	unit := unitName(name)
	out, err := run(ctx, "systemctl", "show", unit, "--property=LoadState,ActiveState,SubState,UnitFileState")
	if err != nil {
		return wire.Service{}, err
	}
	kv := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			kv[k] = v
		}
	}
	s := wire.Service{Name: unit, Found: kv["LoadState"] != "" && kv["LoadState"] != "not-found"}
	if !s.Found {
		s.State = "unknown"
		return s, nil
	}
	s.Raw = kv["ActiveState"] + "/" + kv["SubState"]
	s.State = normalizeState(kv["ActiveState"])
	s.StartMode = kv["UnitFileState"]
	return s, nil
}

func unitName(name string) string {
	if strings.Contains(name, ".") {
		return name
	}
	return name + ".service"
}

// ControlService runs systemctl restart|start|stop.
func (l *Linux) ControlService(ctx context.Context, action, name string) (string, error) {
	unit := unitName(name)
	if _, err := run(ctx, "systemctl", action, "--", unit); err != nil {
		return "", err
	}
	s, err := l.Service(ctx, unit)
	if err != nil {
		return action + " " + unit + ": done", nil
	}
	return fmt.Sprintf("%s %s: done; now %s (%s)", action, unit, s.State, s.Raw), nil
}

// realFS are the filesystem types worth watching; the rest of
// /proc/self/mounts is kernel bookkeeping (proc, cgroup, tmpfs ...).
var realFS = map[string]bool{"ext2": true, "ext3": true, "ext4": true, "xfs": true, "btrfs": true, "zfs": true,
	"vfat": true, "exfat": true, "ntfs": true, "ntfs3": true, "fuseblk": true, "f2fs": true, "overlay": true,
	"nfs": true, "nfs4": true, "cifs": true, "smb3": true, "jfs": true, "reiserfs": true}

// Volumes statfs's every real mount (or just name, any path).
func (l *Linux) Volumes(ctx context.Context, name string) ([]wire.Volume, error) {
	if name != "" {
		v, err := statVolume(name, "")
		if err != nil {
			return nil, err
		}
		return []wire.Volume{v}, nil
	}
	data, err := os.ReadFile(l.proc("self/mounts"))
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []wire.Volume
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || !realFS[f[2]] {
			continue
		}
		mp := unescapeMount(f[1])
		if seen[mp] {
			continue
		}
		seen[mp] = true
		v, err := statVolume(mp, f[2])
		if err != nil || v.Total == 0 {
			continue // a mount we may not read (another user's FUSE) is skipped
		}
		out = append(out, v)
	}
	return out, nil
}

func statVolume(path, fs string) (wire.Volume, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return wire.Volume{}, fmt.Errorf("statfs %s: %w", path, err)
	}
	bs := uint64(st.Bsize)
	return wire.Volume{Name: path, FS: fs, Total: st.Blocks * bs, Free: st.Bavail * bs, Used: (st.Blocks - st.Bfree) * bs}, nil
}

// unescapeMount undoes the octal escapes of /proc/self/mounts ("\040").
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func (l *Linux) readCPU() (cpuSample, int, error) {
	data, err := os.ReadFile(l.proc("stat"))
	if err != nil {
		return cpuSample{}, 0, err
	}
	var s cpuSample
	cores := 0
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if f[0] == "cpu" {
			for i, v := range f[1:] {
				n, _ := strconv.ParseUint(v, 10, 64)
				if i >= 8 { // guest time is already inside user time
					break
				}
				s.total += n
				if i != 3 && i != 4 { // idle, iowait
					s.busy += n
				}
			}
		} else if strings.HasPrefix(f[0], "cpu") {
			cores++
		}
	}
	if s.total == 0 {
		return s, 0, errors.New("no cpu line in /proc/stat")
	}
	return s, cores, nil
}

// CPU is the busy share since the previous poll (the box polls every
// interval, so that is the interval's average); the first poll samples
// for 250 ms.
func (l *Linux) CPU(ctx context.Context) (wire.CPU, error) {
	l.mu.Lock()
	prev := l.prevCPU
	l.mu.Unlock()
	cur, cores, err := l.readCPU()
	if err != nil {
		return wire.CPU{}, err
	}
	cur.at = l.now()
	if prev.total == 0 || cur.total <= prev.total {
		prev = cur
		select {
		case <-time.After(250 * time.Millisecond):
		case <-ctx.Done():
			return wire.CPU{}, ctx.Err()
		}
		if cur, cores, err = l.readCPU(); err != nil {
			return wire.CPU{}, err
		}
		cur.at = l.now()
	}
	l.mu.Lock()
	l.prevCPU = cur
	l.mu.Unlock()
	dt := cur.total - prev.total
	if dt == 0 {
		return wire.CPU{Cores: cores, Window: cur.at.Sub(prev.at)}, nil
	}
	return wire.CPU{Percent: 100 * float64(cur.busy-prev.busy) / float64(dt), Window: cur.at.Sub(prev.at), Cores: cores}, nil
}

func (l *Linux) meminfo() (map[string]uint64, error) {
	data, err := os.ReadFile(l.proc("meminfo"))
	if err != nil {
		return nil, err
	}
	m := map[string]uint64{}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, _ := strconv.ParseUint(f[0], 10, 64)
		if len(f) > 1 && f[1] == "kB" {
			n *= 1024
		}
		m[k] = n
	}
	return m, nil
}

// Memory reads MemTotal and MemAvailable.
func (l *Linux) Memory(ctx context.Context) (wire.Memory, error) {
	m, err := l.meminfo()
	if err != nil {
		return wire.Memory{}, err
	}
	if m["MemTotal"] == 0 {
		return wire.Memory{}, errors.New("no MemTotal in /proc/meminfo")
	}
	avail, ok := m["MemAvailable"]
	if !ok {
		avail = m["MemFree"] + m["Buffers"] + m["Cached"]
	}
	return wire.Memory{Total: m["MemTotal"], Available: avail}, nil
}

// Uptime uses btime from /proc/stat: a fixed boot instant, so the box's
// reboot detection does not jitter with the clock.
func (l *Linux) Uptime(ctx context.Context) (wire.Uptime, error) {
	data, err := os.ReadFile(l.proc("stat"))
	if err != nil {
		return wire.Uptime{}, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return wire.Uptime{}, fmt.Errorf("btime in /proc/stat: %w", err)
			}
			b := time.Unix(n, 0).UTC()
			return wire.Uptime{BootTime: b, Uptime: l.now().Sub(b)}, nil
		}
	}
	return wire.Uptime{}, errors.New("no btime in /proc/stat")
}

// Processes matches the comm name, or argv[0]'s base name since comm is
// cut at 15 characters.
func (l *Linux) Processes(ctx context.Context, name string) (wire.ProcessList, error) {
	ents, err := os.ReadDir(l.proc(""))
	if err != nil {
		return wire.ProcessList{}, err
	}
	pl := wire.ProcessList{Name: name}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile(l.proc(e.Name() + "/comm"))
		if err != nil {
			continue // exited meanwhile
		}
		match := strings.TrimSpace(string(comm)) == name
		if !match {
			if cl, err := os.ReadFile(l.proc(e.Name() + "/cmdline")); err == nil && len(cl) > 0 {
				argv0, _, _ := bytes.Cut(cl, []byte{0})
				match = filepath.Base(string(argv0)) == name
			}
		}
		if match {
			pl.Count++
			pl.PIDs = append(pl.PIDs, pid)
		}
	}
	return pl, nil
}

// Events reads the journal (Log "journal") or a plain log file.
func (l *Linux) Events(ctx context.Context, q wire.EventQuery) (wire.EventBatch, error) {
	f, err := newEventFilter(q)
	if err != nil {
		return wire.EventBatch{}, err
	}
	if q.Log == "journal" {
		return journal(ctx, f)
	}
	if !filepath.IsAbs(q.Log) {
		return wire.EventBatch{}, fmt.Errorf("log %q: on Linux give \"journal\" or an absolute path to a log file", q.Log)
	}
	return tailFile(ctx, q.Log, f, l.now())
}

var journalLevels = []string{"critical", "critical", "critical", "error", "warning", "notice", "information", "debug"}

func journal(ctx context.Context, f *eventFilter) (wire.EventBatch, error) {
	args := []string{"-o", "json", "--no-pager", "-q"}
	if f.q.Cursor == "" {
		args = append(args, "-n", "1")
	} else {
		args = append(args, "--after-cursor", f.q.Cursor, "-n", "10000")
	}
	if f.q.Unit != "" {
		args = append(args, "-u", f.q.Unit)
	}
	out, err := run(ctx, "journalctl", args...)
	if err != nil {
		return wire.EventBatch{}, err
	}
	b := wire.EventBatch{Cursor: f.q.Cursor}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var e map[string]any
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			continue
		}
		if c, ok := e["__CURSOR"].(string); ok {
			b.Cursor = c
		}
		if f.q.Cursor == "" {
			continue // first poll: only learn where the journal ends
		}
		msg := journalString(e["MESSAGE"])
		prio, _ := strconv.Atoi(fmt.Sprint(e["PRIORITY"]))
		us, _ := strconv.ParseInt(fmt.Sprint(e["__REALTIME_TIMESTAMP"]), 10, 64)
		src, _ := e["SYSLOG_IDENTIFIER"].(string)
		lvl := "information"
		if prio >= 0 && prio < len(journalLevels) {
			lvl = journalLevels[prio]
		}
		f.add(&b, wire.Event{Time: time.UnixMicro(us).UTC(), Source: src, Level: lvl, Message: msg})
	}
	return b, nil
}

// journalString reads a journal field: a string, or an array of bytes,
// which is how journalctl -o json writes a message that is not printable
// UTF-8 (kernel messages with control characters, for one).
func journalString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []any:
		b := make([]byte, 0, len(x))
		for _, n := range x {
			if f, ok := n.(float64); ok && f >= 0 && f < 256 {
				b = append(b, byte(f))
			}
		}
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	return ""
}

// Perf is Windows-only.
func (l *Linux) Perf(ctx context.Context, q wire.PerfQuery) (wire.PerfValue, error) {
	return wire.PerfValue{}, fmt.Errorf("agent_perf reads Windows performance counters and WMI classes; this agent runs on linux: %w", ErrUnsupported)
}

// Inventory reads os-release, cpuinfo, meminfo, DMI and the package
// manager; pending upgrades come from apt-get's simulation, which reads
// only local lists.
func (l *Linux) Inventory(ctx context.Context) (wire.Inventory, error) {
	inv := wire.Inventory{Collected: l.now().UTC(), Cores: runtime.NumCPU()}
	inv.Hostname, _ = os.Hostname()
	problem := func(what string, err error) { inv.Problems = append(inv.Problems, what+": "+err.Error()) }
	if data, err := os.ReadFile("/etc/os-release"); err == nil {
		kv := osRelease(string(data))
		inv.OS = wire.OSInfo{Name: kv["NAME"], Version: kv["VERSION_ID"], Build: kv["VERSION"]}
		if kv["PRETTY_NAME"] != "" {
			inv.OS.Name = kv["PRETTY_NAME"]
		}
	} else {
		problem("os", err)
	}
	if uts := new(unix.Utsname); unix.Uname(uts) == nil {
		inv.OS.Build = strings.TrimSpace(inv.OS.Build + " kernel " + unix.ByteSliceToString(uts.Release[:]))
	}
	if data, err := os.ReadFile(l.proc("cpuinfo")); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				inv.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if m, err := l.Memory(ctx); err == nil {
		inv.RAM = m.Total
	} else {
		problem("memory", err)
	}
	for _, p := range []string{"/sys/class/dmi/id/product_serial", "/sys/firmware/devicetree/base/serial-number"} {
		if data, err := os.ReadFile(p); err == nil {
			inv.Serial = strings.Trim(strings.TrimSpace(string(data)), "\x00")
			break
		}
	}
	if u, err := l.Uptime(ctx); err == nil {
		inv.BootTime = u.BootTime
	}
	switch {
	case hasCmd("dpkg-query"):
		out, err := run(ctx, "dpkg-query", "-W", "-f", "${db:Status-Abbrev}\t${Package}\t${Version}\t${Maintainer}\n")
		if err != nil {
			problem("applications", err)
		}
		inv.Apps = parseDpkg(out)
		if hasCmd("apt-get") {
			out, err := run(ctx, "apt-get", "-s", "-o", "Debug::NoLocking=1", "upgrade")
			if err != nil {
				problem("pending upgrades", err)
			}
			inv.Patches = parseAptSim(out)
		}
	case hasCmd("rpm"):
		out, err := run(ctx, "rpm", "-qa", "--qf", "ii \t%{NAME}\t%{VERSION}-%{RELEASE}\t%{VENDOR}\n")
		if err != nil {
			problem("applications", err)
		}
		inv.Apps = parseDpkg(out)
	default:
		problem("applications", errors.New("neither dpkg-query nor rpm is installed"))
	}
	return inv, nil
}

func hasCmd(name string) bool { _, err := exec.LookPath(name); return err == nil }
