package snmp

import (
	"context"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gosnmp/gosnmp"

	"outpost/checks"
)

// Facts are what a device says about itself, for its page in the UI:
// who made it, what it is, its serial and firmware, how long it has been
// up, a class guess, and a UPS's battery temperature (which the UPS
// check does not judge). Empty strings are facts the device does not
// give.
type Facts struct {
	Name     string `json:"name,omitempty"`
	Descr    string `json:"descr,omitempty"`
	ObjectID string `json:"object_id,omitempty"`
	Location string `json:"location,omitempty"`
	Contact  string `json:"contact,omitempty"`
	Vendor   string `json:"vendor,omitempty"`
	Model    string `json:"model,omitempty"`
	Serial   string `json:"serial,omitempty"`
	Firmware string `json:"firmware,omitempty"`
	// Class is a guess from what was read (one of checks.DeviceClasses).
	Class string `json:"class,omitempty"`
	// Uptime is sysUpTime as read.
	Uptime time.Duration `json:"uptime"`
	// BatteryTempC is a UPS's battery temperature in °C
	// (upsBatteryTemperature, or APC upsAdvBatteryTemperature); nil when
	// the device gives none (or a negative "unknown").
	BatteryTempC *float64 `json:"battery_temp_c,omitempty"`
}

// The OIDs only ReadFacts reads.
const (
	oidEntPhysicalEntry = ".1.3.6.1.2.1.47.1.1.1.1"
	oidPrtGeneralSerial = ".1.3.6.1.2.1.43.5.1.1.17"
	oidUpsIdent         = ".1.3.6.1.2.1.33.1.1"
	oidUpsBatteryStatus = ".1.3.6.1.2.1.33.1.2.1.0"
	oidUpsBatteryTemp   = ".1.3.6.1.2.1.33.1.2.7.0"
	oidApcIdentModel    = ".1.3.6.1.4.1.318.1.1.1.1.1.1.0"
	oidApcFirmware      = ".1.3.6.1.4.1.318.1.1.1.1.2.1.0"
	oidApcSerial        = ".1.3.6.1.4.1.318.1.1.1.1.2.3.0"
	oidApcBatteryStatus = ".1.3.6.1.4.1.318.1.1.1.2.1.1.0"
	oidApcBatteryTemp   = ".1.3.6.1.4.1.318.1.1.1.2.2.2.0"
	entClassChassis     = 3
)

// sysDescrSerial finds the "SN:..." that HP JetDirect cards put in sysDescr.
var sysDescrSerial = regexp.MustCompile(`(?:^|[,;\s])SN:\s*([A-Za-z0-9-]+)`)

// ReadFacts reads a device's identity: the system group, one GET of the
// UPS identity and battery scalars (UPS-MIB and APC PowerNet-MIB), and
// one walk of ENTITY-MIB's physical table, the host resources device
// table, the printer's serial and supplies, and the interface and
// storage types (for the class guess).
// Only a device that does not answer the system group is an error; the
// rest is read where the device has it. Vendor, model, serial and
// firmware come from the most specific source the device has: the
// ENTITY-MIB chassis, the UPS or printer MIBs, then sysObjectID and
// sysDescr.
func ReadFacts(ctx context.Context, src Source) (Facts, error) {
	sys, err := ReadSystem(ctx, src)
	if err != nil {
		return Facts{}, err
	}
	f := Facts{Name: sys.Name, Descr: sys.Descr, ObjectID: sys.ObjectID, Location: sys.Location, Contact: sys.Contact, Uptime: ticks(sys.UptimeTicks)}
	var r Report
	r.System = sys

	scalars := []string{col(oidUpsIdent, 1) + ".0", col(oidUpsIdent, 2) + ".0", col(oidUpsIdent, 3) + ".0", oidUpsBatteryStatus, oidUpsBatteryTemp,
		oidApcIdentModel, oidApcFirmware, oidApcSerial, oidApcBatteryStatus, oidApcBatteryTemp}
	byOID := map[string]gosnmp.SnmpPDU{}
	if pdus, err := src.Get(ctx, scalars...); err == nil {
		for _, p := range pdus {
			if present(p) {
				byOID[normOID(p.Name)] = p
			}
		}
	}
	text := func(oid string) string {
		if p, ok := byOID[oid]; ok && p.Type == gosnmp.OctetString {
			return str(p)
		}
		return ""
	}
	_, upsMIB := num(byOID[oidUpsBatteryStatus])
	_, apc := num(byOID[oidApcBatteryStatus])
	r.UPS.Supported = upsMIB || apc
	for _, oid := range []string{oidUpsBatteryTemp, oidApcBatteryTemp} {
		if t := nonNeg(byOID[oid]); t != nil {
			f.BatteryTempC = t
			break
		}
	}

	ent := func(n int) string { return col(oidEntPhysicalEntry, n) }
	ifType, storType := col(oidIfEntry, 3), col(oidHrStorageEntry, 2)
	roots := []string{ent(2), ent(5), ent(9), ent(10), ent(11), ent(12), ent(13), oidHrDeviceType, oidHrDeviceDescr, oidPrtGeneralSerial, col(oidPrtSupplyEntry, 6), ifType, storType}
	m, err := src.Table(ctx, roots...)
	if err != nil {
		m = nil
	}
	r.Printer.Supported = len(m[col(oidPrtSupplyEntry, 6)]) > 0
	// The class guess counts Ethernet ports and fixed disks, as the probe
	// does; only their types are read.
	for _, p := range m[ifType] {
		t, _ := num(p)
		r.Interfaces = append(r.Interfaces, Interface{Type: int(t)})
	}
	for _, p := range m[storType] {
		t := strings.TrimPrefix(strings.TrimPrefix(strings.TrimPrefix(str(p), "."), strings.TrimPrefix(oidHrStorageTypes, ".")), ".")
		r.Storage = append(r.Storage, Volume{Type: storageTypes[t]})
	}
	chassis := chassisRow(m, ent)
	entText := func(n int) string {
		if chassis == "" {
			return ""
		}
		return str(rows(m, ent(n))[chassis])
	}
	printerModel := ""
	for _, t := range m[oidHrDeviceType] {
		if !r.Printer.Supported {
			break // a server's print queue is not its model
		}
		if oid, ok := t.Value.(string); ok && "."+strings.TrimPrefix(oid, ".") == oidHrDevicePrinter {
			printerModel = str(rows(m, oidHrDeviceDescr)[suffix(oidHrDeviceType, t)])
			break
		}
	}
	printerSerial := ""
	for _, p := range m[oidPrtGeneralSerial] {
		if s := str(p); s != "" {
			printerSerial = s
			break
		}
	}
	descrSerial := ""
	if sm := sysDescrSerial.FindStringSubmatch(sys.Descr); sm != nil {
		descrSerial = sm[1]
	}

	guessVendor, guessModel, class := guess(r)
	f.Class = class
	f.Vendor = first(entText(12), text(col(oidUpsIdent, 1)+".0"), guessVendor)
	if f.Vendor == "unknown" {
		f.Vendor = ""
	}
	f.Model = first(entText(13), text(col(oidUpsIdent, 2)+".0"), text(oidApcIdentModel), printerModel, guessModel)
	f.Serial = first(entText(11), printerSerial, text(oidApcSerial), descrSerial)
	f.Firmware = first(entText(10), entText(9), text(col(oidUpsIdent, 3)+".0"), text(oidApcFirmware))
	return f, nil
}

// chassisRow is the ENTITY-MIB row that is the device itself: the first
// chassis, else the first row with a serial number ("" when none).
func chassisRow(m map[string][]gosnmp.SnmpPDU, ent func(int) string) string {
	classes, serials := rows(m, ent(5)), rows(m, ent(11))
	seen := map[string]bool{}
	var idx []string
	for _, c := range []int{2, 5, 11} {
		for i := range rows(m, ent(c)) {
			if !seen[i] {
				seen[i] = true
				idx = append(idx, i)
			}
		}
	}
	sort.Slice(idx, func(a, b int) bool { return oidLess(idx[a], idx[b]) })
	for _, i := range idx {
		if c, ok := num(classes[i]); ok && c == entClassChassis {
			return i
		}
	}
	for _, i := range idx {
		if str(serials[i]) != "" {
			return i
		}
	}
	return ""
}

// oidLess orders row indexes numerically, part by part.
func oidLess(a, b string) bool {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(pa) && i < len(pb); i++ {
		x, _ := strconv.Atoi(pa[i])
		y, _ := strconv.Atoi(pb[i])
		if x != y {
			return x < y
		}
	}
	return len(pa) < len(pb)
}

// first returns the first value that is not empty (after trimming).
func first(vs ...string) string {
	for _, v := range vs {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}

// SupplyLevel is one printer supply as the snmp_printer check's result
// states it.
type SupplyLevel struct {
	Name string
	// Percent is the % left (for a waste box: % of space left); nil when
	// the printer gives no figure, and State then says what it gives.
	Percent *float64
	State   string
	Waste   bool
	// Status is the check's verdict on this supply: ok, warning or
	// critical.
	Status string
}

// PrinterLevels are a snmp_printer result's supplies, and its other
// remarks (printer errors, alerts).
type PrinterLevels struct {
	Supplies []SupplyLevel
	Notes    []string
}

var (
	supplyMeasured   = regexp.MustCompile(`^(.+) (\d+) % (left|space left)(?: \((warning|critical|unknown)\))?$`)
	supplyUnmeasured = regexp.MustCompile(`^(.+): (some remaining|unknown|ok)$`)
)

// PrinterLevelsOf reads the supplies back from a snmp_printer result's
// detail, which PrinterCheck writes as "NAME N % left", "NAME N % space
// left" (waste) or "NAME: STATE" parts, each with its verdict, joined by
// "; ". The check's results are what the store keeps, so this is how a
// page shows every supply, not only the lowest (the result's Value).
func PrinterLevelsOf(r checks.Result) PrinterLevels {
	var out PrinterLevels
	if r.Detail == "" {
		return out
	}
	for _, part := range strings.Split(r.Detail, "; ") {
		if m := supplyMeasured.FindStringSubmatch(part); m != nil {
			pct, _ := strconv.ParseFloat(m[2], 64)
			s := SupplyLevel{Name: m[1], Percent: &pct, State: "measured", Waste: m[3] == "space left", Status: "ok"}
			if m[4] != "" {
				s.Status = m[4]
			}
			out.Supplies = append(out.Supplies, s)
			continue
		}
		if m := supplyUnmeasured.FindStringSubmatch(part); m != nil {
			out.Supplies = append(out.Supplies, SupplyLevel{Name: m[1], State: m[2], Status: "ok"})
			continue
		}
		out.Notes = append(out.Notes, part)
	}
	return out
}

// UPSLevels are what a snmp_ups result says: battery state, charge,
// runtime, whether it runs on battery, and the MIB it came from.
// Supported is false for a device that speaks neither UPS MIB, or one
// that did not answer (the detail then says why).
type UPSLevels struct {
	Supported     bool
	Battery       string
	ChargePercent *float64
	Minutes       *float64
	OnBattery     bool
	Output        string
	Load          string
	MIB           string
}

var (
	upsBatteryRE = regexp.MustCompile(`^battery ([a-z ]+?), `)
	upsChargeRE  = regexp.MustCompile(`, (\d+) % charge`)
	upsMinutesRE = regexp.MustCompile(`, ([\d.]+) min remaining`)
	upsOutputRE  = regexp.MustCompile(`, output ([a-z ]+?)(?:,| \()`)
	upsLoadRE    = regexp.MustCompile(`, load ([\d. %/]+?)(?:,| \()`)
	upsMIBRE     = regexp.MustCompile(`\((UPS-MIB|PowerNet-MIB)\)$`)
)

// UPSLevelsOf reads a snmp_ups result back: UPSCheck writes "battery
// STATE, N % charge, M min remaining, ON BATTERY | output SOURCE, load
// ..., input ... (MIB)"; its Value is the runtime in minutes.
func UPSLevelsOf(r checks.Result) UPSLevels {
	var u UPSLevels
	mib := upsMIBRE.FindStringSubmatch(r.Detail)
	b := upsBatteryRE.FindStringSubmatch(r.Detail)
	if mib == nil || b == nil {
		return u
	}
	u.Supported, u.MIB, u.Battery = true, mib[1], b[1]
	if m := upsChargeRE.FindStringSubmatch(r.Detail); m != nil {
		v, _ := strconv.ParseFloat(m[1], 64)
		u.ChargePercent = &v
	}
	if r.HasValue {
		v := r.Value
		u.Minutes = &v
	} else if m := upsMinutesRE.FindStringSubmatch(r.Detail); m != nil {
		v, _ := strconv.ParseFloat(m[1], 64)
		u.Minutes = &v
	}
	u.OnBattery = strings.Contains(r.Detail, ", ON BATTERY")
	if m := upsOutputRE.FindStringSubmatch(r.Detail); m != nil {
		u.Output = m[1]
	}
	if m := upsLoadRE.FindStringSubmatch(r.Detail); m != nil {
		u.Load = m[1]
	}
	return u
}
