package snmp

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"outpost/appliance/config"
	"outpost/checks"
)

// TestReadFacts reads the identity of real devices' recordings: the
// chassis of ENTITY-MIB (Cisco), the UPS identity and battery
// temperature of UPS-MIB (Eaton, Huawei with -1 for unknown), a
// printer's model from hrDeviceDescr, and the HP JetDirect serial in
// sysDescr.
func TestReadFacts(t *testing.T) {
	type want struct {
		vendor, model, serial, firmware, class string
		temp                                   *float64
	}
	temp := func(v float64) *float64 { return &v }
	cases := map[string]want{
		// The chassis row (entPhysicalClass 3) of the Catalyst, not one of
		// its 60 modules and ports.
		"switch_cisco_c3560": {vendor: "Cisco", model: "WS-C3560G-48TS-E", serial: "FOC1408Z61U", firmware: "12.2(55)SE3", class: "switch"},
		// upsIdent: manufacturer, model, UPS software; 25 °C battery.
		"ups_eaton_93e": {vendor: "EATON", model: "EATON 93E 80", firmware: "INV: 2.08.0011", class: "ups", temp: temp(25)},
		// net-snmp's sysObjectID, but upsIdent names the maker; -1 °C
		// is the card's "unknown".
		"ups_huawei_gse200m": {vendor: "HUAWEI", model: "UPS5000", firmware: "V100R001C10B003SP00", class: "ups"},
		// The model is the printer's hrDeviceDescr row, not the network
		// card's sysDescr.
		"printer_device_status_only": {model: "HP LaserJet Pro M404dn", class: "printer"},
		// A print queue in hrDeviceTable is not a Linux server's model.
		"linux_full_walk": {vendor: "net-snmp", model: "Linux cray 2.6.21.5-smp #2 SMP Tue Jun 19 14:58:11 CDT 2007 i686", class: "server"},
	}
	for name, w := range cases {
		t.Run(name, func(t *testing.T) {
			rec := loadRec(t, name)
			f, err := ReadFacts(testCtx(t), simSession(t, name))
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%+v", f)
			if f.Name != strings.TrimSpace(rec[oidSysName]) || f.ObjectID != rec[oidSysObjectID] {
				t.Errorf("system group: name %q object %q, recording %q %q", f.Name, f.ObjectID, rec[oidSysName], rec[oidSysObjectID])
			}
			if up := time.Duration(rec.int(t, oidSysUpTime)) * 10 * time.Millisecond; f.Uptime != up {
				t.Errorf("uptime %s, recording %s", f.Uptime, up)
			}
			if w.vendor != "" && f.Vendor != w.vendor {
				t.Errorf("vendor %q, want %q", f.Vendor, w.vendor)
			}
			if w.model != "" && f.Model != w.model {
				t.Errorf("model %q, want %q", f.Model, w.model)
			}
			if f.Serial != w.serial || f.Firmware != w.firmware || f.Class != w.class {
				t.Errorf("serial %q firmware %q class %q, want %q %q %q", f.Serial, f.Firmware, f.Class, w.serial, w.firmware, w.class)
			}
			switch {
			case (f.BatteryTempC == nil) != (w.temp == nil):
				t.Errorf("battery temperature %v, want %v", f.BatteryTempC, w.temp)
			case w.temp != nil && *f.BatteryTempC != *w.temp:
				t.Errorf("battery temperature %v, want %v", *f.BatteryTempC, *w.temp)
			}
		})
	}
	t.Run("printer_hp_m452nw", func(t *testing.T) {
		needHP(t)
		f, err := ReadFacts(testCtx(t), simSession(t, "printer_hp_m452nw"))
		if err != nil {
			t.Fatal(err)
		}
		if f.Serial != "AAA0A00000" || f.Model != "HP Color LaserJet M452nw" || f.Vendor != "HP" || f.Class != "printer" {
			t.Errorf("HP printer facts %+v", f)
		}
	})
	t.Run("no answer", func(t *testing.T) {
		needSim(t)
		tg := simTarget("no_such_recording")
		tg.SNMP.Timeout, tg.SNMP.Retries = 300*time.Millisecond, 0
		s, err := Dial(tg)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if _, err := ReadFacts(testCtx(t), s); err == nil {
			t.Fatal("a device that does not answer gave facts")
		}
	})
}

// TestLevelsOfCheckResults: the printer and UPS checks' results, as the
// store keeps them, read back into every supply and the UPS's charge and
// runtime, equal to what the MIBs say.
func TestLevelsOfCheckResults(t *testing.T) {
	printers := []string{"printer_special_values"}
	if _, err := os.Stat(hpPrinterPath); err == nil {
		printers = append(printers, "printer_hp_m452nw")
	}
	for _, name := range printers {
		t.Run(name, func(t *testing.T) {
			p, err := ReadPrinter(testCtx(t), simSession(t, name))
			if err != nil {
				t.Fatal(err)
			}
			r := run(t, buildCheck(t, "snmp_printer", name, ""))
			got := PrinterLevelsOf(r)
			if len(got.Supplies) != len(p.Supplies) {
				t.Fatalf("%d supplies read back, the printer has %d: %+v", len(got.Supplies), len(p.Supplies), got)
			}
			for i, s := range p.Supplies {
				g := got.Supplies[i]
				if g.Name != s.Descr || g.Waste != s.Waste {
					t.Errorf("supply %d: %+v, printer says %+v", i, g, s)
				}
				switch {
				case s.Percent == nil:
					if g.Percent != nil || g.State != s.State {
						t.Errorf("supply %s: %+v, printer gives no figure but %q", s.Descr, g, s.State)
					}
				default:
					left := *s.Percent
					if s.Waste {
						left = 100 - left
					}
					if g.Percent == nil || fmt.Sprintf("%.0f", *g.Percent) != fmt.Sprintf("%.0f", left) {
						t.Errorf("supply %s: %v %% read back, printer %.1f %%", s.Descr, g.Percent, left)
					}
				}
			}
		})
	}
	t.Run("special values verdicts", func(t *testing.T) {
		got := PrinterLevelsOf(run(t, buildCheck(t, "snmp_printer", "printer_special_values", "")))
		if got.Supplies[2].Status != "warning" || got.Supplies[3].Status != "ok" || len(got.Notes) != 3 || got.Notes[2] != "alert (warning): Cyan cartridge low" {
			t.Errorf("verdicts and notes: %+v", got)
		}
	})
	t.Run("ups_eaton_93e", func(t *testing.T) {
		u, err := ReadUPS(testCtx(t), simSession(t, "ups_eaton_93e"))
		if err != nil {
			t.Fatal(err)
		}
		got := UPSLevelsOf(run(t, buildCheck(t, "snmp_ups", "ups_eaton_93e", "")))
		if !got.Supported || got.MIB != "UPS-MIB" || got.Battery != u.BatteryStatus || got.ChargePercent == nil || *got.ChargePercent != *u.ChargePercent ||
			got.Minutes == nil || *got.Minutes != *u.MinutesRemaining || got.OnBattery || got.Output != "normal" || got.Load == "" {
			t.Errorf("read back %+v, UPS says %+v", got, u)
		}
	})
	t.Run("ups_huawei_gse200m", func(t *testing.T) {
		got := UPSLevelsOf(run(t, buildCheck(t, "snmp_ups", "ups_huawei_gse200m", "")))
		if !got.Supported || got.ChargePercent != nil || got.Minutes != nil || got.Battery != "normal" {
			t.Errorf("unknown charge and runtime: %+v", got)
		}
	})
	t.Run("not supported or down", func(t *testing.T) {
		if got := UPSLevelsOf(run(t, buildCheck(t, "snmp_ups", "ups_vertiv", ""))); got.Supported {
			t.Errorf("vertiv: %+v", got)
		}
		// A device that does not answer: the check's result is the reason.
		yml := fmt.Sprintf("site: t\ndevices:\n  - {name: dev, address: 127.0.0.1, snmp: {community: no_such_recording, port: %d, timeout: 300ms, retries: 0}}\nchecks:\n  - {id: c, kind: snmp_ups, target: dev, interval: 1m, timeout: 5s}\n", sim.port)
		c, err := config.Parse("site.yaml", []byte(yml))
		if err != nil {
			t.Fatal(err)
		}
		p := NewPoller(nil)
		defer p.Close()
		ch, err := checks.Build(c.Specs()[0], checks.Deps{SNMP: p})
		if err != nil {
			t.Fatal(err)
		}
		if r := run(t, ch); r.Status != checks.Critical {
			t.Fatalf("no answer: %s %q", r.Status, r.Detail)
		} else if got := UPSLevelsOf(r); got.Supported {
			t.Errorf("down: %+v", got)
		}
	})
}
