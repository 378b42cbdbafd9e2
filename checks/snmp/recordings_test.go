package snmp

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"outpost/appliance/config"
	"outpost/checks"
	"outpost/checks/clock"
)

// recordings lists every recording the tests serve; each one is asserted
// on below.
var recordings = []string{
	"firewall_paloalto", "linux_full_walk", "linux_server_3", "pdu_apc_7902b", "switch_cisco_c3560",
	"switch_dlink_des3038", "switch_h3c_e528", "switch_hpe_procurve", "ups_eaton_93e", "ups_huawei_gse200m",
	"ups_vertiv", "wifi_ubiquiti_m5", "windows_server_2003",
}

func needHP(t *testing.T) {
	t.Helper()
	needSim(t)
	if _, err := os.Stat(hpPrinterPath); err != nil {
		t.Skipf("the GPL HP printer recording is not copied into the repository and %s is absent", hpPrinterPath)
	}
}

// buildCheck builds a check through the config file path a user takes: a
// device with SNMP credentials and a check naming it.
func buildCheck(t *testing.T, kind, recording, options string) checks.Checker {
	t.Helper()
	needSim(t)
	if options == "" {
		options = "{}"
	}
	yml := fmt.Sprintf(`site: test
devices:
  - name: dev
    address: 127.0.0.1
    snmp: {community: %s, port: %d, timeout: 5s}
checks:
  - id: c
    kind: %s
    target: dev
    interval: 1m
    timeout: 20s
    options: %s
`, recording, sim.port, kind, options)
	c, err := config.Parse("site.yaml", []byte(yml))
	if err != nil {
		t.Fatal(err)
	}
	p := NewPoller(nil)
	t.Cleanup(func() { p.Close() })
	ch, err := checks.Build(c.Specs()[0], checks.Deps{SNMP: p})
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func run(t *testing.T, c checks.Checker) checks.Result {
	t.Helper()
	r := c.Check(testCtx(t))
	t.Logf("%s: %s", r.Status, r.Detail)
	return r
}

func TestSystemGroupOfEveryRecording(t *testing.T) {
	all := append([]string{}, recordings...)
	if _, err := os.Stat(hpPrinterPath); err == nil {
		all = append(all, "printer_hp_m452nw")
	}
	for _, name := range all {
		t.Run(name, func(t *testing.T) {
			want := loadRec(t, name)
			sys, err := ReadSystem(testCtx(t), simSession(t, name))
			if err != nil {
				t.Fatal(err)
			}
			if sys.Name != strings.TrimSpace(want[oidSysName]) || sys.ObjectID != want[oidSysObjectID] {
				t.Errorf("system = %+v, recording says name %q oid %q", sys, want[oidSysName], want[oidSysObjectID])
			}
		})
	}
}

func TestInterfacesOfSwitches(t *testing.T) {
	cases := []struct {
		rec                      string
		total, up, down, adminDn int
		counters64               bool
		// alarms: down ports that carried traffic (the others were never
		// connected and do not alarm by default)
		alarms int
	}{
		{"switch_hpe_procurve", 42, 25, 5, 12, true, 1},
		{"switch_dlink_des3038", 32, 17, 15, 0, true, 0},
		{"switch_cisco_c3560", 57, 7, 49, 1, true, 0},
		{"switch_h3c_e528", 31, 4, 27, 0, true, 1},
		{"firewall_paloalto", 46, 21, 4, 21, true, 0},
		{"wifi_ubiquiti_m5", 9, 8, 1, 0, false, 0},
	}
	for _, tc := range cases {
		t.Run(tc.rec, func(t *testing.T) {
			f := loadRec(t, tc.rec)
			// The expected counts come from the recording itself.
			var up, adminDn int
			rows := f.rows(col(oidIfEntry, 2))
			for _, idx := range rows {
				if f[col(oidIfEntry, 7)+"."+idx] == "2" {
					adminDn++
				} else if f[col(oidIfEntry, 8)+"."+idx] == "1" {
					up++
				}
			}
			if len(rows) != tc.total || up != tc.up || adminDn != tc.adminDn {
				t.Fatalf("recording: %d interfaces, %d up, %d admin-down; table says %+v", len(rows), up, adminDn, tc)
			}
			ifs, err := ReadInterfaces(testCtx(t), simSession(t, tc.rec))
			if err != nil {
				t.Fatal(err)
			}
			if len(ifs) != tc.total {
				t.Fatalf("read %d interfaces, want %d", len(ifs), tc.total)
			}
			got64 := false
			for _, it := range ifs {
				got64 = got64 || it.Counters64
				idx := fmt.Sprint(it.Index)
				if it.Counters64 {
					if want := f[col(oidIfXEntry, 6)+"."+idx]; fmt.Sprint(it.InOctets) != want {
						t.Errorf("%s ifHCInOctets = %d, recording %s", it.Name, it.InOctets, want)
					}
				} else if want := f[col(oidIfEntry, 10)+"."+idx]; fmt.Sprint(it.InOctets) != want {
					t.Errorf("%s ifInOctets = %d, recording %s", it.Name, it.InOctets, want)
				}
			}
			if got64 != tc.counters64 {
				t.Errorf("64-bit counters = %v, want %v", got64, tc.counters64)
			}
			r := run(t, buildCheck(t, "snmp_interfaces", tc.rec, ""))
			wantDetail := fmt.Sprintf("%d interfaces: %d up, %d down, %d admin-down", tc.total, tc.up, tc.down, tc.adminDn)
			if !strings.HasPrefix(r.Detail, wantDetail) {
				t.Errorf("detail %q, want prefix %q", r.Detail, wantDetail)
			}
			wantSt := checks.OK
			if tc.alarms > 0 {
				wantSt = checks.Critical
			}
			if r.Status != wantSt || r.Value != float64(tc.alarms) {
				t.Errorf("status %s value %v, want %s %d: %s", r.Status, r.Value, wantSt, tc.alarms, r.Detail)
			}
			if never := tc.down - tc.alarms; never > 0 && !strings.Contains(r.Detail, fmt.Sprintf("%d never connected (no traffic, not alarmed)", never)) {
				t.Errorf("detail %q does not say which ports were never connected", r.Detail)
			}
			// alarm: all judges every admin-up port, as before.
			r = run(t, buildCheck(t, "snmp_interfaces", tc.rec, "{alarm: all}"))
			if all := checks.OK; tc.down > 0 && r.Status != checks.Critical || tc.down == 0 && r.Status != all || r.Value != float64(tc.down) {
				t.Errorf("alarm: all: status %s value %v, want %d down", r.Status, r.Value, tc.down)
			}
		})
	}
}

func TestInterfacesAdminDownIsNotAnAlarm(t *testing.T) {
	f := loadRec(t, "switch_hpe_procurve")
	var adminDown, upIdx []string
	for _, idx := range f.rows(col(oidIfEntry, 2)) {
		switch {
		case f[col(oidIfEntry, 7)+"."+idx] == "2":
			adminDown = append(adminDown, idx)
		case f[col(oidIfEntry, 8)+"."+idx] == "1":
			upIdx = append(upIdx, idx)
		}
	}
	opts := fmt.Sprintf("{interfaces: [%q, %q, %q]}", adminDown[0], adminDown[1], upIdx[0])
	r := run(t, buildCheck(t, "snmp_interfaces", "switch_hpe_procurve", opts))
	if r.Status != checks.OK || !strings.HasPrefix(r.Detail, "3 interfaces: 1 up, 0 down, 2 admin-down") {
		t.Errorf("got %s %q", r.Status, r.Detail)
	}
	r = run(t, buildCheck(t, "snmp_interfaces", "switch_hpe_procurve", `{interfaces: ["no-such-port"]}`))
	if r.Status != checks.Critical || !strings.Contains(r.Detail, "not found: no-such-port") {
		t.Errorf("missing interface: %s %q", r.Status, r.Detail)
	}
}

func TestStorage(t *testing.T) {
	t.Run("windows C: usage", func(t *testing.T) {
		f := loadRec(t, "windows_server_2003")
		used, size := f.int(t, col(oidHrStorageEntry, 6)+".2"), f.int(t, col(oidHrStorageEntry, 5)+".2")
		want := fmt.Sprintf("C: %.1f %% used", float64(used)*100/float64(size))
		r := run(t, buildCheck(t, "snmp_storage", "windows_server_2003", `{volumes: ["C:"]}`))
		if r.Status != checks.OK || !strings.HasPrefix(r.Detail, want) || r.Value != round1(float64(used)*100/float64(size)) {
			t.Errorf("got %s %v %q, want %q", r.Status, r.Value, r.Detail, want)
		}
		vols, err := ReadStorage(testCtx(t), simSession(t, "windows_server_2003"))
		if err != nil {
			t.Fatal(err)
		}
		// A: and D: are empty drives (size 0): not listed, never "100 %".
		var names []string
		for _, v := range vols {
			names = append(names, shortDescr(v.Descr)+"="+v.Type)
		}
		if got := strings.Join(names, ","); got != `C:=fixed_disk,Virtual Memory=virtual_memory,Physical Memory=ram` {
			t.Errorf("volumes %s", got)
		}
	})
	t.Run("linux thresholds", func(t *testing.T) {
		f := loadRec(t, "linux_full_walk")
		pct := round1(float64(f.int(t, col(oidHrStorageEntry, 6)+".33")) * 100 / float64(f.int(t, col(oidHrStorageEntry, 5)+".33")))
		// /export is 94.2 % full: above the default warning of 85.
		r := run(t, buildCheck(t, "snmp_storage", "linux_full_walk", ""))
		if r.Status != checks.Warning || r.Value != pct || !strings.Contains(r.Detail, fmt.Sprintf("/export %.1f %% used", pct)) {
			t.Errorf("got %s %v %q (want warning, %v)", r.Status, r.Value, r.Detail, pct)
		}
		r = run(t, buildCheck(t, "snmp_storage", "linux_full_walk", `{volumes: ["/"], warning: 70, critical: 75}`))
		if r.Status != checks.Critical || !strings.HasPrefix(r.Detail, "/ 77.1 % used") {
			t.Errorf("root: %s %q", r.Status, r.Detail)
		}
	})
	t.Run("linux server with UCD disk", func(t *testing.T) {
		vols, err := ReadStorage(testCtx(t), simSession(t, "linux_server_3"))
		if err != nil {
			t.Fatal(err)
		}
		// 10 hrStorage rows, one of size 0 (shared memory), plus UCD's "/".
		if len(vols) != 10 || vols[9].Type != "ucd_disk" || vols[9].Descr != "/" || vols[9].UsedPercent != 60 {
			t.Errorf("volumes: %+v", vols)
		}
		r := run(t, buildCheck(t, "snmp_storage", "linux_server_3", `{types: [ucd_disk]}`))
		if r.Value != 60 || r.Status != checks.OK {
			t.Errorf("ucd: %s %v %q", r.Status, r.Value, r.Detail)
		}
	})
}

func TestCPU(t *testing.T) {
	cases := []struct {
		rec    string
		cores  int
		avg    float64
		detail string
	}{
		{"linux_full_walk", 2, 11, "CPU 11.0 % average over 2 cores (13, 9); load 0.46 0.13 0.03"},
		{"linux_server_3", 4, 2, "CPU 2.0 % average over 4 cores (2, 2, 2, 2); load 0.01 0.02 0.05"},
		{"windows_server_2003", 4, 0, "CPU 0.0 % average over 4 cores (0, 0, 0, 0)"},
		{"firewall_paloalto", 2, -1, ""},
	}
	for _, tc := range cases {
		t.Run(tc.rec, func(t *testing.T) {
			f := loadRec(t, tc.rec)
			if n := len(f.rows(oidHrProcessorLoad)); n != tc.cores {
				t.Fatalf("recording has %d hrProcessorLoad rows, table says %d", n, tc.cores)
			}
			r := run(t, buildCheck(t, "snmp_cpu", tc.rec, ""))
			if tc.avg >= 0 && (r.Value != tc.avg || r.Detail != tc.detail || r.Status != checks.OK) {
				t.Errorf("got %s %v %q, want %v %q", r.Status, r.Value, r.Detail, tc.avg, tc.detail)
			}
			if tc.avg < 0 && !strings.Contains(r.Detail, "over 2 cores") {
				t.Errorf("got %q", r.Detail)
			}
		})
	}
	r := run(t, buildCheck(t, "snmp_cpu", "linux_full_walk", "{load: {warning: 0.4}}"))
	if r.Status != checks.Warning {
		t.Errorf("load 0.46 over 0.4: %s", r.Status)
	}
}

func TestPrinterHP(t *testing.T) {
	needHP(t)
	f := loadRec(t, "printer_hp_m452nw")
	r := run(t, buildCheck(t, "snmp_printer", "printer_hp_m452nw", ""))
	for i, name := range []string{"Black", "Cyan", "Magenta", "Yellow"} {
		idx := fmt.Sprintf(".1.%d", i+1)
		pct := float64(f.int(t, col(oidPrtSupplyEntry, 9)+idx)) * 100 / float64(f.int(t, col(oidPrtSupplyEntry, 8)+idx))
		if !strings.Contains(r.Detail, fmt.Sprintf("%s Cartridge HP", name)) || !strings.Contains(r.Detail, fmt.Sprintf("%.0f %% left", pct)) {
			t.Errorf("%s %.0f %% missing from %q", name, pct, r.Detail)
		}
	}
	if !strings.Contains(r.Detail, "Cyan Cartridge HP CF411A 44 % left") || r.Status != checks.OK || r.Value != 44 {
		t.Errorf("got %s %v %q", r.Status, r.Value, r.Detail)
	}
	r = run(t, buildCheck(t, "snmp_printer", "printer_hp_m452nw", "{supplies: [cyan], warning: 50}"))
	if r.Status != checks.Warning || r.Value != 44 {
		t.Errorf("cyan below 50: %s %v", r.Status, r.Value)
	}
}

// A printer without hrPrinterStatus still says it is down through
// hrDeviceStatus, and its model comes from hrDeviceDescr, not from the
// network card's sysDescr.
func TestPrinterDeviceStatusOnly(t *testing.T) {
	p, err := ReadPrinter(testCtx(t), simSession(t, "printer_device_status_only"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Device != "down" || p.Model != "HP LaserJet Pro M404dn" || p.Status != "" {
		t.Fatalf("printer: %+v", p)
	}
	r := run(t, buildCheck(t, "snmp_printer", "printer_device_status_only", ""))
	if r.Status != checks.Critical || !strings.Contains(r.Detail, "printer is down") {
		t.Fatalf("got %s %q", r.Status, r.Detail)
	}
}

func TestPrinterSpecialValues(t *testing.T) {
	p, err := ReadPrinter(testCtx(t), simSession(t, "printer_special_values"))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Supplies) != 4 || p.Supplies[0].Percent != nil || p.Supplies[0].State != "some remaining" ||
		p.Supplies[1].Percent != nil || p.Supplies[1].State != "unknown" || *p.Supplies[2].Percent != 8 || !p.Supplies[3].Waste {
		t.Fatalf("supplies: %+v", p.Supplies)
	}
	if strings.Join(p.Errors, ",") != "door open" || p.Status != "idle" || p.Device != "warning" || len(p.Alerts) != 1 {
		t.Errorf("printer: %+v", p)
	}
	r := run(t, buildCheck(t, "snmp_printer", "printer_special_values", ""))
	// -3 and -2 are neither 0 % nor an alarm; cyan at 8 % is.
	want := "Black Toner: some remaining; Drum Unit: unknown; Cyan Toner 8 % left (warning); Waste Toner Box 60 % space left; printer reports: door open; printer reports a warning (hrDeviceStatus); alert (warning): Cyan cartridge low"
	if r.Status != checks.Warning || r.Detail != want || r.Value != 8 {
		t.Errorf("got %s %v %q\nwant %q", r.Status, r.Value, r.Detail, want)
	}
	r = run(t, buildCheck(t, "snmp_printer", "printer_special_values", "{supplies: [black, drum]}"))
	if r.HasValue || r.Status != checks.Warning { // door open still warns
		t.Errorf("special values only: %s %+v", r.Status, r)
	}
}

func TestUPS(t *testing.T) {
	t.Run("eaton UPS-MIB", func(t *testing.T) {
		f := loadRec(t, "ups_eaton_93e")
		mins := f.int(t, ".1.3.6.1.2.1.33.1.2.3.0")
		r := run(t, buildCheck(t, "snmp_ups", "ups_eaton_93e", ""))
		if mins != 1092 || r.Status != checks.OK || r.Value != 1092 || !strings.HasPrefix(r.Detail, "battery normal, 100 % charge, 1092 min remaining, output normal, load ") {
			t.Errorf("got %s %v %q", r.Status, r.Value, r.Detail)
		}
		u, err := ReadUPS(testCtx(t), simSession(t, "ups_eaton_93e"))
		if err != nil {
			t.Fatal(err)
		}
		if len(u.LoadPercent) != 3 || len(u.OutputVoltage) != 3 || u.OnBattery {
			t.Errorf("3-phase output: %+v", u)
		}
		for i, l := range u.LoadPercent {
			if want := f.int(t, fmt.Sprintf("%s.%d", oidUpsOutLoad, i+1)); l != float64(want) {
				t.Errorf("phase %d load %v, recording %d", i+1, l, want)
			}
		}
	})
	t.Run("huawei -1 is unknown, not 0", func(t *testing.T) {
		f := loadRec(t, "ups_huawei_gse200m")
		if f.int(t, ".1.3.6.1.2.1.33.1.2.4.0") != -1 {
			t.Fatal("recording changed")
		}
		r := run(t, buildCheck(t, "snmp_ups", "ups_huawei_gse200m", ""))
		if r.Status != checks.OK || r.HasValue || !strings.HasPrefix(r.Detail, "battery normal, charge unknown, runtime unknown, output normal") {
			t.Errorf("got %s %+v", r.Status, r)
		}
	})
	for _, rec := range []string{"ups_vertiv", "pdu_apc_7902b"} {
		t.Run(rec+" not supported", func(t *testing.T) {
			r := run(t, buildCheck(t, "snmp_ups", rec, ""))
			if r.Status != checks.Unknown || !strings.HasPrefix(r.Detail, "not supported") {
				t.Errorf("got %s %q", r.Status, r.Detail)
			}
		})
	}
}

func TestUptimeAndReboot(t *testing.T) {
	f := loadRec(t, "windows_server_2003")
	ticksRec := f.int(t, oidSysUpTime)
	c := buildCheck(t, "snmp_uptime", "windows_server_2003", "").(*Uptime)
	fake := clock.NewFake(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	c.clock = fake
	r := run(t, c)
	if r.Status != checks.OK || r.Value != round1(float64(ticksRec)/100/86400) || r.Detail != "up 10d 0h 17m" {
		t.Errorf("got %s %v %q", r.Status, r.Value, r.Detail)
	}
	// A previous poll saw a higher uptime: the device restarted since.
	c.prev = uint32(ticksRec) + 500_000
	fake.Advance(time.Minute)
	if r := run(t, c); r.Status != checks.Warning || !strings.Contains(r.Detail, "restarted") {
		t.Errorf("after reboot: %s %q", r.Status, r.Detail)
	}
	fake.Advance(2 * time.Hour)
	if r := run(t, c); r.Status != checks.OK {
		t.Errorf("after hold: %s %q", r.Status, r.Detail)
	}
}

func TestRecordingFilesAreAllCovered(t *testing.T) {
	files, _ := filepath.Glob("testdata/snmprec/*.snmprec")
	if len(files) != len(recordings) {
		t.Fatalf("%d recordings in testdata, %d in the test list", len(files), len(recordings))
	}
	for i, f := range files {
		if strings.TrimSuffix(filepath.Base(f), ".snmprec") != recordings[i] {
			t.Errorf("testdata has %s, list has %s", f, recordings[i])
		}
	}
}
