package snmp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"outpost/checks"
)

// Report is everything `outpost snmp probe` understands of a device. Its
// JSON field names are documented in docs/snmp.md.
type Report struct {
	Target     string      `json:"target"`
	System     System      `json:"system"`
	Vendor     string      `json:"vendor"`
	Model      string      `json:"model"`
	Class      string      `json:"class"`
	Interfaces []Interface `json:"interfaces"`
	Storage    []Volume    `json:"storage"`
	CPU        CPU         `json:"cpu"`
	Printer    Printer     `json:"printer"`
	UPS        UPS         `json:"ups"`
	// Errors holds, per section, why it could not be read.
	Errors map[string]string `json:"errors,omitempty"`
	// Packets is how many requests the probe sent.
	Packets int64 `json:"packets"`
}

// enterprises names the IANA private enterprise numbers of common vendors
// (the number after 1.3.6.1.4.1 in sysObjectID).
var enterprises = map[int]string{
	9: "Cisco", 11: "HP", 43: "3Com", 171: "D-Link", 232: "HP (Compaq)", 253: "Xerox", 311: "Microsoft", 318: "APC",
	367: "Ricoh", 476: "Vertiv (Emerson/Liebert)", 534: "Eaton (Powerware)", 641: "Lexmark", 674: "Dell", 705: "Eaton (MGE)",
	1248: "Epson", 1347: "Kyocera", 1602: "Canon", 1916: "Extreme Networks", 2011: "Huawei", 2021: "net-snmp (UCD)",
	2435: "Brother", 2636: "Juniper", 3375: "F5", 4526: "Netgear", 6574: "Synology", 6876: "VMware", 8072: "net-snmp",
	11863: "TP-Link", 12356: "Fortinet", 14988: "MikroTik", 24681: "QNAP", 25461: "Palo Alto Networks", 25506: "H3C",
	30065: "Arista", 41112: "Ubiquiti",
}

// Enterprise returns the enterprise number in a sysObjectID, or -1.
func Enterprise(objectID string) int {
	rest, ok := strings.CutPrefix(normOID(objectID), oidEnterprisePrefix)
	if !ok {
		return -1
	}
	n, err := strconv.Atoi(strings.SplitN(rest, ".", 2)[0])
	if err != nil {
		return -1
	}
	return n
}

// Probe reads everything Outpost knows how to read from a device. Only a
// device that does not answer the system group is an error; a section
// that fails is noted in Report.Errors and the others are still read.
func Probe(ctx context.Context, s *Session) (Report, error) {
	r := Report{Target: s.addr(), Errors: map[string]string{}}
	sys, err := ReadSystem(ctx, s)
	if err != nil {
		return r, err
	}
	r.System = sys
	note := func(section string, err error) bool {
		if err != nil {
			r.Errors[section] = err.Error()
		}
		return err == nil
	}
	if ifs, err := ReadInterfaces(ctx, s); note("interfaces", err) {
		r.Interfaces = ifs
	}
	if v, err := ReadStorage(ctx, s); note("storage", err) {
		r.Storage = v
	}
	if c, err := ReadCPU(ctx, s); note("cpu", err) {
		r.CPU = c
	}
	if p, err := ReadPrinter(ctx, s); note("printer", err) {
		r.Printer = p
	}
	if u, err := ReadUPS(ctx, s); note("ups", err) {
		r.UPS = u
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		r.Errors["probe"] = "ran out of time; later sections may be missing"
	}
	r.Vendor, r.Model, r.Class = guess(r)
	r.Packets = s.Sent()
	return r, nil
}

// guess names the vendor, model and device class from what was read.
func guess(r Report) (vendor, model, class string) {
	ent := Enterprise(r.System.ObjectID)
	vendor = enterprises[ent]
	if vendor == "" {
		vendor = "unknown"
		if ent >= 0 {
			vendor = fmt.Sprintf("enterprise %d", ent)
		}
	}
	// A printer names itself in hrDeviceDescr; its sysDescr often
	// describes only the network card ("HP ETHERNET MULTI-ENVIRONMENT").
	model = r.System.Descr
	if i := strings.IndexAny(model, ",\r\n"); i > 0 {
		model = model[:i]
	}
	if r.Printer.Supported && r.Printer.Model != "" {
		model = r.Printer.Model
	}
	if len(model) > 80 {
		model = model[:80]
	}
	descr := strings.ToLower(r.System.Descr)
	ether := 0
	for _, it := range r.Interfaces {
		if it.Type == 6 || it.Type == 117 || it.Type == 62 {
			ether++
		}
	}
	fixed := 0
	for _, v := range r.Storage {
		if v.Type == "fixed_disk" || v.Type == "network_disk" {
			fixed++
		}
	}
	switch {
	case r.UPS.Supported || ent == 476 || ent == 534 || ent == 705:
		// Vertiv and Eaton cards that only speak their own MIB are still UPSes.
		class = "ups"
	case r.Printer.Supported:
		class = "printer"
	case ent == 318 || strings.Contains(descr, "pdu"):
		class = "pdu"
	case ent == 25461 || ent == 12356 || strings.Contains(descr, "firewall"):
		class = "firewall"
	case ent == 41112 || strings.Contains(descr, "airos") || strings.Contains(descr, "access point"):
		class = "access_point"
	case ether >= 8 && fixed == 0:
		class = "switch"
	case fixed > 0 || strings.Contains(descr, "windows") || strings.Contains(descr, "linux"):
		class = "server"
	case strings.Contains(descr, "router") || ent == 2636 || ent == 14988:
		class = "router"
	default:
		class = "other"
	}
	return vendor, model, class
}

// WriteText prints a report for a technician.
func (r Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	p := func(format string, args ...any) { fmt.Fprintf(tw, format, args...) }
	p("Target\t%s\n", r.Target)
	p("Name\t%s\nDescription\t%s\nObject ID\t%s\nUptime\t%s\nContact\t%s\nLocation\t%s\n",
		r.System.Name, r.System.Descr, r.System.ObjectID, humanDuration(ticks(r.System.UptimeTicks)), r.System.Contact, r.System.Location)
	p("Vendor\t%s\nModel\t%s\nClass\t%s (guess)\n", r.Vendor, r.Model, r.Class)
	tw.Flush()
	if len(r.Interfaces) > 0 {
		fmt.Fprintf(w, "\nInterfaces (%d)\n", len(r.Interfaces))
		p("  INDEX\tNAME\tADMIN\tOPER\tSPEED\tCOUNTERS\tALIAS\n")
		for _, it := range r.Interfaces {
			c := "32-bit"
			if it.Counters64 {
				c = "64-bit"
			}
			p("  %d\t%s\t%s\t%s\t%s\t%s\t%s\n", it.Index, it.Name, it.Admin, it.Oper, bps(float64(it.SpeedBps)), c, it.Alias)
		}
		tw.Flush()
	}
	if len(r.Storage) > 0 {
		fmt.Fprintf(w, "\nStorage (%d)\n", len(r.Storage))
		p("  DESCRIPTION\tTYPE\tSIZE\tUSED\n")
		for _, v := range r.Storage {
			p("  %s\t%s\t%s\t%.1f %%\n", shortDescr(v.Descr), v.Type, checks.Bytes(v.SizeBytes), v.UsedPercent)
		}
		tw.Flush()
	}
	if r.CPU.Average != nil || len(r.CPU.Load) > 0 {
		fmt.Fprintln(w, "\nCPU")
		if r.CPU.Average != nil {
			fmt.Fprintf(w, "  average %.1f %%, cores %v\n", *r.CPU.Average, r.CPU.Cores)
		}
		if len(r.CPU.Load) > 0 {
			fmt.Fprintf(w, "  load average %v\n", r.CPU.Load)
		}
	}
	if r.Printer.Supported {
		fmt.Fprintf(w, "\nPrinter (status %s, device %s)\n", orDash(r.Printer.Status), orDash(r.Printer.Device))
		for _, s := range r.Printer.Supplies {
			if s.Percent != nil {
				p("  %s\t%.0f %%\t(level %d of %d)\n", s.Descr, *s.Percent, s.Level, s.Max)
			} else {
				p("  %s\t%s\t(level %d of %d)\n", s.Descr, s.State, s.Level, s.Max)
			}
		}
		tw.Flush()
		for _, e := range r.Printer.Errors {
			fmt.Fprintf(w, "  error: %s\n", e)
		}
		for _, a := range r.Printer.Alerts {
			fmt.Fprintf(w, "  alert (%s): %s\n", a.Severity, a.Descr)
		}
	}
	if r.UPS.Supported {
		fmt.Fprintf(w, "\nUPS (%s)\n", r.UPS.MIB)
		p("  battery\t%s\n  charge\t%s\n  runtime\t%s\n  on battery\t%v\n  output\t%s\n", r.UPS.BatteryStatus, optF(r.UPS.ChargePercent, " %"),
			optF(r.UPS.MinutesRemaining, " min"), r.UPS.OnBattery, orDash(r.UPS.OutputSource))
		if len(r.UPS.InputVoltage) > 0 {
			p("  input\t%s\n", joinFloats(r.UPS.InputVoltage, " V"))
		}
		if len(r.UPS.OutputVoltage) > 0 {
			p("  output voltage\t%s\n", joinFloats(r.UPS.OutputVoltage, " V"))
		}
		if len(r.UPS.LoadPercent) > 0 {
			p("  load\t%s\n", joinFloats(r.UPS.LoadPercent, " %"))
		}
		tw.Flush()
	} else {
		fmt.Fprintln(w, "\nUPS: not supported (no UPS-MIB, no APC PowerNet-MIB battery)")
	}
	for _, k := range []string{"interfaces", "storage", "cpu", "printer", "ups", "probe"} {
		if e, ok := r.Errors[k]; ok {
			fmt.Fprintf(w, "\n%s: could not read: %s\n", k, e)
		}
	}
	_, err := fmt.Fprintf(w, "\n%d requests sent\n", r.Packets)
	return err
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func optF(f *float64, unit string) string {
	if f == nil {
		return "unknown"
	}
	return trimFloat(*f) + unit
}
