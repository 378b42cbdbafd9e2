package checks

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// procRoot is where /proc is; the box's kinds read it directly rather than
// carry a system-information library.
const procRoot = "/proc"

// cpuTimes are the aggregate jiffies from /proc/stat's first line.
type cpuTimes struct{ busy, total uint64 }

func readCPUTimes() (cpuTimes, int, error) {
	data, err := os.ReadFile(procRoot + "/stat")
	if err != nil {
		return cpuTimes{}, 0, err
	}
	var t cpuTimes
	cores := 0
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], "cpu") {
			continue
		}
		if f[0] != "cpu" {
			cores++
			continue
		}
		// user nice system idle iowait irq softirq steal guest guest_nice;
		// guest time is already inside user and nice.
		for i := 1; i < len(f) && i <= 8; i++ {
			v, err := strconv.ParseUint(f[i], 10, 64)
			if err != nil {
				return t, 0, fmt.Errorf("/proc/stat: %q: %w", f[i], err)
			}
			t.total += v
			if i != 4 && i != 5 { // idle, iowait
				t.busy += v
			}
		}
	}
	if t.total == 0 {
		return t, 0, fmt.Errorf("/proc/stat has no cpu line")
	}
	return t, cores, nil
}

// readMeminfo returns /proc/meminfo's values in bytes.
func readMeminfo() (map[string]uint64, error) {
	f, err := os.Open(procRoot + "/meminfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m := map[string]uint64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
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
	return m, sc.Err()
}

// processNames lists running processes as (comm, exe basename, cmdline).
type procInfo struct {
	pid       int
	comm, exe string
	cmdline   string
}

func listProcesses() ([]procInfo, error) {
	ents, err := os.ReadDir(procRoot)
	if err != nil {
		return nil, err
	}
	var out []procInfo
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		dir := procRoot + "/" + e.Name()
		comm, err := os.ReadFile(dir + "/comm")
		if err != nil {
			continue // gone meanwhile
		}
		p := procInfo{pid: pid, comm: strings.TrimSpace(string(comm))}
		if stat, err := os.ReadFile(dir + "/stat"); err == nil {
			// A zombie is not a running process.
			if i := bytes.LastIndexByte(stat, ')'); i > 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
				continue
			}
		}
		if exe, err := os.Readlink(dir + "/exe"); err == nil {
			exe = strings.TrimSuffix(exe, " (deleted)")
			p.exe = exe[strings.LastIndexByte(exe, '/')+1:]
		}
		if cl, err := os.ReadFile(dir + "/cmdline"); err == nil {
			p.cmdline = strings.TrimSpace(strings.ReplaceAll(string(cl), "\x00", " "))
		}
		out = append(out, p)
	}
	return out, nil
}

func readLoadavg() string {
	data, err := os.ReadFile(procRoot + "/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return ""
	}
	return f[0] + " " + f[1] + " " + f[2]
}

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
