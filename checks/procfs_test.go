package checks

import (
	"strings"
	"testing"
)

// procStat is the head of /proc/stat on the 2-core machine these tests
// were written on.
const procStat = `cpu  22718 0 10070 1192139 710 0 699 12 0 0
cpu0 11195 0 4344 597145 117 0 276 4 0 0
cpu1 11523 0 5726 594994 593 0 422 7 0 0
intr 4133297 0 9 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
ctxt 7926152
btime 1763955000
processes 20173
procs_running 1
`

func TestParseCPUStat(t *testing.T) {
	ct, cores, err := parseCPUStat(procStat)
	if err != nil {
		t.Fatal(err)
	}
	// busy: user+nice+system+irq+softirq+steal; total adds idle+iowait.
	busy := uint64(22718 + 0 + 10070 + 0 + 699 + 12)
	if cores != 2 || ct.busy != busy || ct.total != busy+1192139+710 {
		t.Fatalf("got %+v on %d cores", ct, cores)
	}
	for _, bad := range []string{"", "intr 1 2\n", "cpu  12 x 3 4\n", "cpu  0 0 0 0\n"} {
		if _, _, err := parseCPUStat(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestBusyPercent(t *testing.T) {
	cases := []struct {
		prev, cur cpuTimes
		pct       float64
		ok        bool
	}{
		{cpuTimes{100, 1000}, cpuTimes{150, 1200}, 25, true},
		{cpuTimes{100, 1000}, cpuTimes{100, 1200}, 0, true},
		{cpuTimes{100, 1000}, cpuTimes{300, 1200}, 100, true},
		{cpuTimes{100, 1000}, cpuTimes{100, 1000}, 0, false}, // no tick yet
		{cpuTimes{100, 1000}, cpuTimes{110, 990}, 0, false},  // iowait went backwards
		{cpuTimes{100, 1000}, cpuTimes{90, 1100}, 0, false},
	}
	for _, tc := range cases {
		pct, ok := busyPercent(tc.prev, tc.cur)
		if pct != tc.pct || ok != tc.ok {
			t.Errorf("%+v -> %+v: %v %v, want %v %v", tc.prev, tc.cur, pct, ok, tc.pct, tc.ok)
		}
	}
}

func TestMemFromInfo(t *testing.T) {
	// From this machine (no swap), then the same with swap in use, then a
	// pre-3.14 kernel without MemAvailable.
	const meminfo = "MemTotal:       24684092 kB\nMemFree:        23195052 kB\nMemAvailable:   24062860 kB\nBuffers:           11964 kB\nCached:           574424 kB\nSwapCached:            0 kB\nSwapTotal:             0 kB\nSwapFree:              0 kB\nHugePages_Total:       0\n"
	mi := parseMeminfo(meminfo)
	if mi["HugePages_Total"] != 0 || mi["MemTotal"] != 24684092*1024 {
		t.Fatalf("parsed %v", mi)
	}
	u, err := memFromInfo(mi)
	if err != nil || u.total != 24684092*1024 || u.used != (24684092-24062860)*1024 || u.swapTotal != 0 || u.estimated {
		t.Fatalf("%+v %v", u, err)
	}

	swapping := strings.Replace(strings.Replace(meminfo, "SwapTotal:             0", "SwapTotal:       1000000", 1), "SwapFree:              0", "SwapFree:         250000", 1)
	if u, _ := memFromInfo(parseMeminfo(swapping)); u.swapTotal != 1000000*1024 || u.swapUsed != 750000*1024 {
		t.Fatalf("swap %+v", u)
	}

	old := strings.Replace(meminfo, "MemAvailable:   24062860 kB\n", "SReclaimable:      10000 kB\n", 1)
	u, _ = memFromInfo(parseMeminfo(old))
	if !u.estimated || u.used != (24684092-23195052-11964-574424-10000)*1024 {
		t.Fatalf("old kernel %+v", u)
	}
	if _, err := memFromInfo(parseMeminfo("MemFree: 5 kB\n")); err == nil {
		t.Fatal("no MemTotal accepted")
	}
}

func TestMountPoints(t *testing.T) {
	const mountinfo = `27 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
22 27 0:21 / /proc rw,relatime - proc proc rw
40 27 8:17 / /srv rw,relatime - ext4 /dev/sdb1 rw
41 40 8:33 / /srv/backup\040disk rw,relatime - vfat /dev/sdc1 rw
`
	mounts := parseMountPoints(mountinfo)
	if strings.Join(mounts, "|") != "/|/proc|/srv|/srv/backup disk" {
		t.Fatalf("mounts %q", mounts)
	}
	for path, want := range map[string]string{
		"/":                      "/",
		"/srv":                   "/srv",
		"/srv/backup disk":       "/srv/backup disk",
		"/srv/backup disk/daily": "/srv/backup disk",
		"/srv/backup":            "/srv",
		"/srvx":                  "/",
		"/mnt/usb":               "/",
	} {
		if got := mountPointOf(path, mounts); got != want {
			t.Errorf("%s: on %s, want %s", path, got, want)
		}
	}
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]uint64{
		"0": 0, "512": 512, "512B": 512, "2GiB": 2 << 30, "2gib": 2 << 30, "2G": 2 << 30,
		"2GB": 2e9, "1.5T": 3 << 39, "500 MiB": 500 << 20, " 10k ": 10 << 10, "10KB": 10000,
	} {
		if got, err := ParseBytes(in); err != nil || got != want {
			t.Errorf("%q: %d %v, want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "GiB", "-1G", "2 parsecs", "1e3", "2PiB", "20000000000TiB", "1.2.3G"} {
		if v, err := ParseBytes(bad); err == nil {
			t.Errorf("%q parsed as %d", bad, v)
		}
	}
}

func TestFmtBytes(t *testing.T) {
	for in, want := range map[uint64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536 << 20: "1.5 GiB", 20 << 30: "20.0 GiB"} {
		if got := fmtBytes(in); got != want {
			t.Errorf("%d: %q, want %q", in, got, want)
		}
	}
}
