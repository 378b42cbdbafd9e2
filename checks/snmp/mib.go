package snmp

import (
	"context"
	"fmt"
	"math"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gosnmp/gosnmp"
)

// The OIDs Outpost reads, by MIB. Only what the readers use.
const (
	oidSysDescr    = ".1.3.6.1.2.1.1.1.0"
	oidSysObjectID = ".1.3.6.1.2.1.1.2.0"
	oidSysUpTime   = ".1.3.6.1.2.1.1.3.0"
	oidSysContact  = ".1.3.6.1.2.1.1.4.0"
	oidSysName     = ".1.3.6.1.2.1.1.5.0"
	oidSysLocation = ".1.3.6.1.2.1.1.6.0"

	oidIfEntry  = ".1.3.6.1.2.1.2.2.1"
	oidIfXEntry = ".1.3.6.1.2.1.31.1.1.1"

	oidHrStorageEntry   = ".1.3.6.1.2.1.25.2.3.1"
	oidHrStorageTypes   = ".1.3.6.1.2.1.25.2.1"
	oidHrProcessorLoad  = ".1.3.6.1.2.1.25.3.3.1.2"
	oidHrDeviceType     = ".1.3.6.1.2.1.25.3.2.1.2"
	oidHrDeviceDescr    = ".1.3.6.1.2.1.25.3.2.1.3"
	oidHrDevicePrinter  = ".1.3.6.1.2.1.25.3.1.5"
	oidHrDeviceStatus   = ".1.3.6.1.2.1.25.3.2.1.5"
	oidHrPrinterStatus  = ".1.3.6.1.2.1.25.3.5.1.1"
	oidHrPrinterErrors  = ".1.3.6.1.2.1.25.3.5.1.2"
	oidUcdDskPath       = ".1.3.6.1.4.1.2021.9.1.2"
	oidUcdDskTotal      = ".1.3.6.1.4.1.2021.9.1.6"
	oidUcdDskUsed       = ".1.3.6.1.4.1.2021.9.1.8"
	oidUcdDskPercent    = ".1.3.6.1.4.1.2021.9.1.9"
	oidUcdLaLoad        = ".1.3.6.1.4.1.2021.10.1.3"
	oidUcdSsCPUIdle     = ".1.3.6.1.4.1.2021.11.11.0"
	oidPrtSupplyEntry   = ".1.3.6.1.2.1.43.11.1.1"
	oidPrtAlertEntry    = ".1.3.6.1.2.1.43.18.1.1"
	oidUpsMIB           = ".1.3.6.1.2.1.33.1"
	oidApcUps           = ".1.3.6.1.4.1.318.1.1.1"
	oidEnterprisePrefix = ".1.3.6.1.4.1."
)

func col(entry string, n int) string { return entry + "." + strconv.Itoa(n) }

// suffix returns the row index of a PDU under a column.
func suffix(col string, pdu gosnmp.SnmpPDU) string {
	return strings.TrimPrefix(strings.TrimPrefix(pdu.Name, col), ".")
}

// rows indexes a walked column by row.
func rows(m map[string][]gosnmp.SnmpPDU, col string) map[string]gosnmp.SnmpPDU {
	out := map[string]gosnmp.SnmpPDU{}
	for _, p := range m[col] {
		out[suffix(col, p)] = p
	}
	return out
}

// present says whether a PDU carries a value (not a missing-OID marker).
func present(p gosnmp.SnmpPDU) bool {
	switch p.Type {
	case gosnmp.NoSuchObject, gosnmp.NoSuchInstance, gosnmp.EndOfMibView, gosnmp.Null, 0:
		return false
	}
	return true
}

// num reads an integer-like value; ok is false for missing or non-numbers.
func num(p gosnmp.SnmpPDU) (int64, bool) {
	if !present(p) {
		return 0, false
	}
	switch p.Type {
	case gosnmp.Integer, gosnmp.Counter32, gosnmp.Gauge32, gosnmp.TimeTicks, gosnmp.Counter64, gosnmp.Uinteger32:
		b := gosnmp.ToBigInt(p.Value)
		if b.IsInt64() {
			return b.Int64(), true
		}
		return math.MaxInt64, true
	case gosnmp.OctetString:
		// Some agents (UCD laLoad) send numbers as text.
		f, err := strconv.ParseFloat(strings.TrimSpace(str(p)), 64)
		return int64(f), err == nil
	}
	return 0, false
}

// unsigned reads a counter as uint64.
func unsigned(p gosnmp.SnmpPDU) (uint64, bool) {
	if !present(p) {
		return 0, false
	}
	switch p.Type {
	case gosnmp.Counter32, gosnmp.Gauge32, gosnmp.TimeTicks, gosnmp.Counter64, gosnmp.Integer, gosnmp.Uinteger32:
		b := gosnmp.ToBigInt(p.Value)
		if b.Sign() < 0 {
			// An Integer32 that overflowed (big disks): read as unsigned.
			b = new(big.Int).Add(b, new(big.Int).Lsh(big.NewInt(1), 32))
		}
		if b.IsUint64() {
			return b.Uint64(), true
		}
	}
	return 0, false
}

// float reads a number, accepting text like "0.46".
func float(p gosnmp.SnmpPDU) (float64, bool) {
	if p.Type == gosnmp.OctetString {
		f, err := strconv.ParseFloat(strings.TrimSpace(str(p)), 64)
		return f, err == nil
	}
	n, ok := num(p)
	return float64(n), ok
}

// str reads text; bytes that are not UTF-8 print as hex (MAC addresses,
// serials).
func str(p gosnmp.SnmpPDU) string {
	switch v := p.Value.(type) {
	case []byte:
		s := strings.TrimRight(string(v), "\x00")
		if utf8.ValidString(s) {
			return strings.TrimSpace(s)
		}
		return fmt.Sprintf("%x", v)
	case string:
		return v
	case nil:
		return ""
	}
	return fmt.Sprint(p.Value)
}

// System is the MIB-2 system group.
type System struct {
	Descr    string `json:"descr"`
	ObjectID string `json:"object_id"`
	Name     string `json:"name"`
	Contact  string `json:"contact"`
	Location string `json:"location"`
	// UptimeTicks is sysUpTime in hundredths of a second.
	UptimeTicks   uint32  `json:"uptime_ticks"`
	UptimeSeconds float64 `json:"uptime_seconds"`
}

// ReadSystem reads the system group in one request.
func ReadSystem(ctx context.Context, src Source) (System, error) {
	pdus, err := src.Get(ctx, oidSysDescr, oidSysObjectID, oidSysUpTime, oidSysContact, oidSysName, oidSysLocation)
	if err != nil {
		return System{}, err
	}
	var s System
	found := false
	for _, p := range pdus {
		if !present(p) {
			continue
		}
		found = true
		switch normOID(p.Name) {
		case oidSysDescr:
			s.Descr = str(p)
		case oidSysObjectID:
			s.ObjectID = strings.TrimPrefix(str(p), ".")
		case oidSysUpTime:
			t, _ := unsigned(p)
			s.UptimeTicks = uint32(t)
			s.UptimeSeconds = float64(t) / 100
		case oidSysContact:
			s.Contact = str(p)
		case oidSysName:
			s.Name = str(p)
		case oidSysLocation:
			s.Location = str(p)
		}
	}
	if !found {
		return s, fmt.Errorf("the agent has no system group (noSuchObject for sysDescr..sysLocation)")
	}
	return s, nil
}

// Interface is one row of ifTable joined with ifXTable.
type Interface struct {
	Index int    `json:"index"`
	Name  string `json:"name"`
	Descr string `json:"descr"`
	Alias string `json:"alias,omitempty"`
	Type  int    `json:"type"`
	// Admin and Oper are status names: up, down, testing, unknown,
	// dormant, notPresent, lowerLayerDown.
	Admin string `json:"admin_status"`
	Oper  string `json:"oper_status"`
	// SpeedBps is from ifHighSpeed where the device has it, else ifSpeed.
	SpeedBps uint64 `json:"speed_bps"`
	// Counters64 is true when the octet counters are ifHC* (64-bit).
	Counters64  bool   `json:"counters_64bit"`
	InOctets    uint64 `json:"in_octets"`
	OutOctets   uint64 `json:"out_octets"`
	InErrors    uint64 `json:"in_errors"`
	OutErrors   uint64 `json:"out_errors"`
	InDiscards  uint64 `json:"in_discards"`
	OutDiscards uint64 `json:"out_discards"`
}

var ifStatusNames = map[int64]string{1: "up", 2: "down", 3: "testing", 4: "unknown", 5: "dormant", 6: "notPresent", 7: "lowerLayerDown"}

func ifStatus(p gosnmp.SnmpPDU) string {
	n, ok := num(p)
	if !ok {
		return "unknown"
	}
	if s, ok := ifStatusNames[n]; ok {
		return s
	}
	return "unknown"
}

// ReadInterfaces reads the interface table: the columns of ifTable and
// ifXTable it needs, walked together.
func ReadInterfaces(ctx context.Context, src Source) ([]Interface, error) {
	c := func(e string, n int) string { return col(e, n) }
	cols := []string{
		c(oidIfEntry, 2), c(oidIfEntry, 3), c(oidIfEntry, 5), c(oidIfEntry, 7), c(oidIfEntry, 8),
		c(oidIfEntry, 10), c(oidIfEntry, 13), c(oidIfEntry, 14), c(oidIfEntry, 16), c(oidIfEntry, 19), c(oidIfEntry, 20),
		c(oidIfXEntry, 1), c(oidIfXEntry, 6), c(oidIfXEntry, 10), c(oidIfXEntry, 15), c(oidIfXEntry, 18),
	}
	m, err := src.Table(ctx, cols...)
	if err != nil {
		return nil, err
	}
	r := make(map[string]map[string]gosnmp.SnmpPDU, len(cols))
	for _, cl := range cols {
		r[cl] = rows(m, cl)
	}
	get := func(e string, n int, idx string) gosnmp.SnmpPDU { return r[c(e, n)][idx] }
	var out []Interface
	for idx, d := range r[c(oidIfEntry, 2)] {
		i, err := strconv.Atoi(idx)
		if err != nil {
			continue
		}
		it := Interface{Index: i, Descr: str(d), Name: str(get(oidIfXEntry, 1, idx)), Alias: str(get(oidIfXEntry, 18, idx))}
		if it.Name == "" {
			it.Name = it.Descr
		}
		t, _ := num(get(oidIfEntry, 3, idx))
		it.Type = int(t)
		it.Admin = ifStatus(get(oidIfEntry, 7, idx))
		it.Oper = ifStatus(get(oidIfEntry, 8, idx))
		speed, _ := unsigned(get(oidIfEntry, 5, idx))
		if hs, ok := unsigned(get(oidIfXEntry, 15, idx)); ok && (hs > 0 || speed == math.MaxUint32) {
			speed = hs * 1_000_000
		}
		it.SpeedBps = speed
		hin, okIn := unsigned(get(oidIfXEntry, 6, idx))
		hout, okOut := unsigned(get(oidIfXEntry, 10, idx))
		if okIn && okOut {
			it.Counters64, it.InOctets, it.OutOctets = true, hin, hout
		} else {
			it.InOctets, _ = unsigned(get(oidIfEntry, 10, idx))
			it.OutOctets, _ = unsigned(get(oidIfEntry, 16, idx))
		}
		it.InDiscards, _ = unsigned(get(oidIfEntry, 13, idx))
		it.InErrors, _ = unsigned(get(oidIfEntry, 14, idx))
		it.OutDiscards, _ = unsigned(get(oidIfEntry, 19, idx))
		it.OutErrors, _ = unsigned(get(oidIfEntry, 20, idx))
		out = append(out, it)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Index < out[b].Index })
	return out, nil
}

// Volume is one storage area: a file system, RAM or swap.
type Volume struct {
	Index int    `json:"index"`
	Descr string `json:"descr"`
	// Type is fixed_disk, ram, virtual_memory, network_disk, ... (from
	// hrStorageType), or "ucd_disk" for UCD-SNMP-MIB dskTable rows.
	Type        string  `json:"type"`
	SizeBytes   uint64  `json:"size_bytes"`
	UsedBytes   uint64  `json:"used_bytes"`
	UsedPercent float64 `json:"used_percent"`
}

var storageTypes = map[string]string{
	"1": "other", "2": "ram", "3": "virtual_memory", "4": "fixed_disk", "5": "removable_disk",
	"6": "floppy_disk", "7": "compact_disc", "8": "ram_disk", "9": "flash_memory", "10": "network_disk",
}

// StorageTypes lists the names Volume.Type takes.
var StorageTypes = []string{"other", "ram", "virtual_memory", "fixed_disk", "removable_disk", "floppy_disk", "compact_disc", "ram_disk", "flash_memory", "network_disk", "ucd_disk"}

// ReadStorage reads hrStorageTable, and UCD-SNMP-MIB's dskTable where the
// agent has it (net-snmp with `disk` lines), skipping areas of size 0
// (empty drives).
func ReadStorage(ctx context.Context, src Source) ([]Volume, error) {
	cols := []string{col(oidHrStorageEntry, 2), col(oidHrStorageEntry, 3), col(oidHrStorageEntry, 4), col(oidHrStorageEntry, 5), col(oidHrStorageEntry, 6),
		oidUcdDskPath, oidUcdDskTotal, oidUcdDskUsed, oidUcdDskPercent}
	m, err := src.Table(ctx, cols...)
	if err != nil {
		return nil, err
	}
	types, descrs, units, sizes, used := rows(m, cols[0]), rows(m, cols[1]), rows(m, cols[2]), rows(m, cols[3]), rows(m, cols[4])
	var out []Volume
	for idx, d := range descrs {
		i, _ := strconv.Atoi(idx)
		u, _ := unsigned(units[idx])
		sz, _ := unsigned(sizes[idx])
		us, _ := unsigned(used[idx])
		if sz == 0 || u == 0 {
			continue
		}
		t := strings.TrimPrefix(str(types[idx]), ".")
		name := storageTypes[strings.TrimPrefix(strings.TrimPrefix(t, strings.TrimPrefix(oidHrStorageTypes, ".")), ".")]
		if name == "" {
			name = "other"
		}
		out = append(out, Volume{Index: i, Descr: str(d), Type: name, SizeBytes: sz * u, UsedBytes: us * u, UsedPercent: round1(float64(us) * 100 / float64(sz))})
	}
	paths, totals, dused, pct := rows(m, oidUcdDskPath), rows(m, oidUcdDskTotal), rows(m, oidUcdDskUsed), rows(m, oidUcdDskPercent)
	for idx, p := range paths {
		i, _ := strconv.Atoi(idx)
		v := Volume{Index: i, Descr: str(p), Type: "ucd_disk"}
		tot, okT := unsigned(totals[idx])
		us, okU := unsigned(dused[idx])
		pc, okP := num(pct[idx])
		if okT && okU && tot > 0 {
			v.SizeBytes, v.UsedBytes, v.UsedPercent = tot*1024, us*1024, round1(float64(us)*100/float64(tot))
		}
		switch {
		case okP && pc >= 0:
			// dskPercent counts root-reserved blocks as used, like df: that
			// is when users see "disk full".
			v.UsedPercent = float64(pc)
		case v.SizeBytes == 0:
			continue
		}
		out = append(out, v)
	}
	sort.Slice(out, func(a, b int) bool {
		if out[a].Type == "ucd_disk" != (out[b].Type == "ucd_disk") {
			return out[b].Type == "ucd_disk"
		}
		return out[a].Index < out[b].Index
	})
	return out, nil
}

// CPU is processor load.
type CPU struct {
	// Cores is hrProcessorLoad per processor, in %.
	Cores []int `json:"cores"`
	// Average is the mean of Cores, or 100 - ssCpuIdle where the agent has
	// no hrProcessorTable; nil when neither exists.
	Average *float64 `json:"average_percent"`
	// Load holds UCD-SNMP-MIB's 1, 5 and 15 minute load averages.
	Load []float64 `json:"load_average,omitempty"`
}

// ReadCPU reads hrProcessorLoad and UCD load averages.
func ReadCPU(ctx context.Context, src Source) (CPU, error) {
	m, err := src.Table(ctx, oidHrProcessorLoad, oidUcdLaLoad)
	if err != nil {
		return CPU{}, err
	}
	var c CPU
	sum := 0.0
	for _, p := range m[oidHrProcessorLoad] {
		if n, ok := num(p); ok {
			c.Cores = append(c.Cores, int(n))
			sum += float64(n)
		}
	}
	if len(c.Cores) > 0 {
		a := round1(sum / float64(len(c.Cores)))
		c.Average = &a
	}
	for _, p := range m[oidUcdLaLoad] {
		if f, ok := float(p); ok {
			c.Load = append(c.Load, f)
		}
	}
	if c.Average == nil {
		pdus, err := src.Get(ctx, oidUcdSsCPUIdle)
		if err == nil && len(pdus) == 1 {
			if idle, ok := num(pdus[0]); ok && idle >= 0 && idle <= 100 {
				a := float64(100 - idle)
				c.Average = &a
			}
		}
	}
	return c, nil
}

// Supply is one printer marker supply (toner, drum, waste box).
type Supply struct {
	Index string `json:"index"`
	Descr string `json:"descr"`
	// Level and Max are the raw prtMarkerSuppliesLevel/MaxCapacity: -1
	// other, -2 unknown, -3 "some remaining".
	Level int64 `json:"level"`
	Max   int64 `json:"max_capacity"`
	// Percent is level/max in %, nil when the printer does not say.
	Percent *float64 `json:"percent"`
	// State is "ok", "unknown" or "some remaining" when Percent is nil,
	// or "measured".
	State string `json:"state"`
	// Waste is true for receptacles that fill up (waste toner): their
	// Percent is how full they are.
	Waste bool `json:"waste"`
}

// Alert is one row of prtAlertTable.
type Alert struct {
	Severity string `json:"severity"`
	Descr    string `json:"descr"`
}

// Printer is what the Printer-MIB and hrPrinterTable say.
type Printer struct {
	// Supported is false when the device has no prtMarkerSuppliesTable.
	Supported bool   `json:"supported"`
	Status    string `json:"status,omitempty"`
	Device    string `json:"device_status,omitempty"`
	// Model is the printer's hrDeviceDescr (sysDescr often describes
	// only its network card).
	Model    string   `json:"model,omitempty"`
	Errors   []string `json:"errors,omitempty"`
	Supplies []Supply `json:"supplies"`
	Alerts   []Alert  `json:"alerts,omitempty"`
}

var (
	hrPrinterStatus = map[int64]string{1: "other", 2: "unknown", 3: "idle", 4: "printing", 5: "warmup"}
	hrDeviceStatus  = map[int64]string{1: "unknown", 2: "running", 3: "warning", 4: "testing", 5: "down"}
	alertSeverity   = map[int64]string{1: "other", 3: "critical", 4: "warning", 5: "warning"}
	// hrPrinterDetectedErrorState bits, most significant bit of byte 0 first.
	printerErrorBits = []string{"low paper", "no paper", "low toner", "no toner", "door open", "jammed", "offline", "service requested",
		"input tray missing", "output tray missing", "marker supply missing", "output near full", "output full", "input tray empty", "overdue preventive maintenance"}
)

// ReadPrinter reads supplies, printer status and alerts.
func ReadPrinter(ctx context.Context, src Source) (Printer, error) {
	cols := []string{col(oidPrtSupplyEntry, 4), col(oidPrtSupplyEntry, 6), col(oidPrtSupplyEntry, 8), col(oidPrtSupplyEntry, 9),
		oidHrPrinterStatus, oidHrPrinterErrors, oidHrDeviceStatus, col(oidPrtAlertEntry, 2), col(oidPrtAlertEntry, 8), oidHrDeviceType, oidHrDeviceDescr}
	m, err := src.Table(ctx, cols...)
	if err != nil {
		return Printer{}, err
	}
	var p Printer
	class, descr, maxs, levels := rows(m, cols[0]), rows(m, cols[1]), rows(m, cols[2]), rows(m, cols[3])
	for _, d := range m[cols[1]] {
		idx := suffix(cols[1], d)
		s := Supply{Index: idx, Descr: str(descr[idx]), Level: -2, Max: -2}
		if v, ok := num(levels[idx]); ok {
			s.Level = v
		}
		if v, ok := num(maxs[idx]); ok {
			s.Max = v
		}
		if c, ok := num(class[idx]); ok && c == 4 {
			s.Waste = true
		}
		switch {
		case s.Level >= 0 && s.Max > 0:
			pc := round1(float64(s.Level) * 100 / float64(s.Max))
			s.Percent, s.State = &pc, "measured"
		case s.Level == -3:
			s.State = "some remaining"
		case s.Level == -1:
			s.State = "ok"
		default:
			s.State = "unknown"
		}
		p.Supplies = append(p.Supplies, s)
	}
	p.Supported = len(p.Supplies) > 0
	// The printer's row of hrDeviceTable: the one hrPrinterTable names,
	// else the first of type hrDevicePrinter (some printers report their
	// state only in hrDeviceStatus, without hrPrinterStatus).
	printerRow := ""
	for _, v := range m[oidHrPrinterStatus] {
		if n, ok := num(v); ok {
			p.Status = hrPrinterStatus[n]
		}
		printerRow = suffix(oidHrPrinterStatus, v)
		break
	}
	if printerRow == "" {
		for _, t := range m[oidHrDeviceType] {
			if oid, ok := t.Value.(string); ok && "."+strings.TrimPrefix(oid, ".") == oidHrDevicePrinter {
				printerRow = suffix(oidHrDeviceType, t)
				break
			}
		}
	}
	if printerRow != "" {
		if d, ok := rows(m, oidHrDeviceStatus)[printerRow]; ok {
			if n, ok := num(d); ok {
				p.Device = hrDeviceStatus[n]
			}
		}
		if d, ok := rows(m, oidHrDeviceDescr)[printerRow]; ok {
			p.Model = str(d)
		}
	}
	for _, v := range m[oidHrPrinterErrors] {
		if b, ok := v.Value.([]byte); ok {
			for i, name := range printerErrorBits {
				if i/8 < len(b) && b[i/8]&(0x80>>(i%8)) != 0 {
					p.Errors = append(p.Errors, name)
				}
			}
		}
		break
	}
	sev := rows(m, cols[7])
	for _, d := range m[cols[8]] {
		idx := suffix(cols[8], d)
		n, _ := num(sev[idx])
		name := alertSeverity[n]
		if name == "" {
			name = "other"
		}
		p.Alerts = append(p.Alerts, Alert{Severity: name, Descr: str(d)})
	}
	return p, nil
}

// UPS is battery and power state from UPS-MIB (RFC 1628) or APC
// PowerNet-MIB. Numbers the device reports as unknown are nil.
type UPS struct {
	// Supported is false when the device has neither MIB.
	Supported bool `json:"supported"`
	// MIB is "UPS-MIB" or "PowerNet-MIB".
	MIB string `json:"mib,omitempty"`
	// BatteryStatus is unknown, normal, low or depleted (UPS-MIB) /
	// unknown, normal, low, fault (PowerNet).
	BatteryStatus    string    `json:"battery_status,omitempty"`
	ChargePercent    *float64  `json:"charge_percent"`
	MinutesRemaining *float64  `json:"minutes_remaining"`
	OnBattery        bool      `json:"on_battery"`
	OutputSource     string    `json:"output_source,omitempty"`
	InputVoltage     []float64 `json:"input_voltage,omitempty"`
	OutputVoltage    []float64 `json:"output_voltage,omitempty"`
	LoadPercent      []float64 `json:"load_percent,omitempty"`
	AlarmsPresent    *int64    `json:"alarms_present,omitempty"`
}

var (
	upsBattery    = map[int64]string{1: "unknown", 2: "normal", 3: "low", 4: "depleted"}
	upsSource     = map[int64]string{1: "other", 2: "none", 3: "normal", 4: "bypass", 5: "battery", 6: "booster", 7: "reducer"}
	apcBattery    = map[int64]string{1: "unknown", 2: "normal", 3: "low", 4: "fault"}
	apcOutput     = map[int64]string{1: "unknown", 2: "normal", 3: "battery", 4: "smart boost", 5: "timed sleeping", 6: "software bypass", 7: "off", 8: "rebooting", 9: "switched bypass", 10: "hardware failure bypass", 11: "sleeping until power return", 12: "smart trim"}
	upsMIBScalars = []string{".1.3.6.1.2.1.33.1.2.1.0", ".1.3.6.1.2.1.33.1.2.3.0", ".1.3.6.1.2.1.33.1.2.4.0", ".1.3.6.1.2.1.33.1.4.1.0", ".1.3.6.1.2.1.33.1.6.1.0"}
	apcScalars    = []string{".1.3.6.1.4.1.318.1.1.1.2.1.1.0", ".1.3.6.1.4.1.318.1.1.1.2.2.1.0", ".1.3.6.1.4.1.318.1.1.1.2.2.3.0", ".1.3.6.1.4.1.318.1.1.1.4.1.1.0", ".1.3.6.1.4.1.318.1.1.1.3.2.1.0", ".1.3.6.1.4.1.318.1.1.1.4.2.1.0", ".1.3.6.1.4.1.318.1.1.1.4.2.3.0"}
	oidUpsInputV  = ".1.3.6.1.2.1.33.1.3.3.1.3"
	oidUpsOutputV = ".1.3.6.1.2.1.33.1.4.4.1.2"
	oidUpsOutLoad = ".1.3.6.1.2.1.33.1.4.4.1.5"
)

// nonNeg returns v as a pointer, or nil for the negative "unknown" values
// some cards send (-1): never a 0 % charge.
func nonNeg(p gosnmp.SnmpPDU) *float64 {
	n, ok := num(p)
	if !ok || n < 0 {
		return nil
	}
	f := float64(n)
	return &f
}

// ReadUPS reads UPS-MIB, falling back to APC PowerNet-MIB.
func ReadUPS(ctx context.Context, src Source) (UPS, error) {
	pdus, err := src.Get(ctx, upsMIBScalars...)
	if err != nil {
		return UPS{}, err
	}
	byOID := map[string]gosnmp.SnmpPDU{}
	for _, p := range pdus {
		byOID[normOID(p.Name)] = p
	}
	if bs, ok := num(byOID[upsMIBScalars[0]]); ok {
		u := UPS{Supported: true, MIB: "UPS-MIB", BatteryStatus: upsBattery[bs]}
		u.MinutesRemaining = nonNeg(byOID[upsMIBScalars[1]])
		u.ChargePercent = nonNeg(byOID[upsMIBScalars[2]])
		if src, ok := num(byOID[upsMIBScalars[3]]); ok {
			u.OutputSource = upsSource[src]
			u.OnBattery = src == 5
		}
		if a, ok := num(byOID[upsMIBScalars[4]]); ok {
			u.AlarmsPresent = &a
		}
		m, err := src.Table(ctx, oidUpsInputV, oidUpsOutputV, oidUpsOutLoad)
		if err != nil {
			return u, err
		}
		for _, c := range []struct {
			oid string
			dst *[]float64
		}{{oidUpsInputV, &u.InputVoltage}, {oidUpsOutputV, &u.OutputVoltage}, {oidUpsOutLoad, &u.LoadPercent}} {
			for _, p := range m[c.oid] {
				if v := nonNeg(p); v != nil {
					*c.dst = append(*c.dst, *v)
				}
			}
		}
		return u, nil
	}
	pdus, err = src.Get(ctx, apcScalars...)
	if err != nil {
		return UPS{}, err
	}
	for _, p := range pdus {
		byOID[normOID(p.Name)] = p
	}
	bs, ok := num(byOID[apcScalars[0]])
	if !ok {
		return UPS{}, nil
	}
	u := UPS{Supported: true, MIB: "PowerNet-MIB", BatteryStatus: apcBattery[bs]}
	u.ChargePercent = nonNeg(byOID[apcScalars[1]])
	if t, ok := num(byOID[apcScalars[2]]); ok && t >= 0 {
		min := round1(float64(t) / 100 / 60)
		u.MinutesRemaining = &min
	}
	if o, ok := num(byOID[apcScalars[3]]); ok {
		u.OutputSource = apcOutput[o]
		u.OnBattery = o == 3
	}
	for i, dst := range []*[]float64{&u.InputVoltage, &u.OutputVoltage, &u.LoadPercent} {
		if v := nonNeg(byOID[apcScalars[4+i]]); v != nil {
			*dst = append(*dst, *v)
		}
	}
	return u, nil
}

func round1(f float64) float64 { return math.Round(f*10) / 10 }

// ticks converts sysUpTime to a duration.
func ticks(t uint32) time.Duration { return time.Duration(t) * 10 * time.Millisecond }
