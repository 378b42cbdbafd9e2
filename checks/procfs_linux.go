//go:build linux

package checks

import (
	"bytes"
	"context"
	"os"
	"strconv"
	"strings"
)

// procRoot is where the kernel's process file system is mounted.
const procRoot = "/proc"

func readCPUTimes() (cpuTimes, int, error) {
	data, err := os.ReadFile(procRoot + "/stat")
	if err != nil {
		return cpuTimes{}, 0, err
	}
	return parseCPUStat(string(data))
}

func readLoadavg() (string, bool) {
	data, err := os.ReadFile(procRoot + "/loadavg")
	if err != nil {
		return "", false
	}
	return parseLoadavg(string(data))
}

func readMeminfo() (map[string]uint64, error) {
	data, err := os.ReadFile(procRoot + "/meminfo")
	if err != nil {
		return nil, err
	}
	return parseMeminfo(string(data)), nil
}

func readMountPoints() ([]string, error) {
	data, err := os.ReadFile(procRoot + "/self/mountinfo")
	if err != nil {
		return nil, err
	}
	return parseMountPoints(string(data)), nil
}

// listProcesses reads every /proc/<pid>. Processes that exit meanwhile are
// skipped, and so are zombies: they are dead, only not yet reaped. Reading
// another process's exe needs the same user or root; comm is readable for
// all, so name matching works unprivileged.
func listProcesses(ctx context.Context) ([]procInfo, error) {
	ents, err := os.ReadDir(procRoot)
	if err != nil {
		return nil, err
	}
	var out []procInfo
	for i, e := range ents {
		// Reading cmdline can stall on a process stuck in the kernel; keep
		// the check's deadline.
		if i%64 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		dir := procRoot + "/" + e.Name()
		stat, err := os.ReadFile(dir + "/stat")
		if err != nil {
			continue
		}
		// "pid (comm) S ...": comm may hold spaces and parentheses, so
		// find the state after the last ')'.
		if j := bytes.LastIndexByte(stat, ')'); j > 0 && j+2 < len(stat) && stat[j+2] == 'Z' {
			continue
		}
		comm, err := os.ReadFile(dir + "/comm")
		if err != nil {
			continue
		}
		p := procInfo{pid: pid, comm: strings.TrimSuffix(string(comm), "\n")}
		if exe, err := os.Readlink(dir + "/exe"); err == nil {
			exe = strings.TrimSuffix(exe, " (deleted)") // upgraded in place
			p.exe = exe[strings.LastIndexByte(exe, '/')+1:]
		}
		if cl, err := os.ReadFile(dir + "/cmdline"); err == nil {
			p.cmdline = strings.TrimSpace(strings.ReplaceAll(string(cl), "\x00", " "))
		}
		out = append(out, p)
	}
	return out, nil
}
