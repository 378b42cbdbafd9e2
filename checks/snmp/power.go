package snmp

import (
	"context"
	"fmt"
	"strings"
	"time"

	"outpost/checks"
)

// PrinterCheck watches supplies (% left), printer errors and alerts.
type PrinterCheck struct {
	base
	o  printerOptions
	th checks.Thresholds
}

type printerOptions struct {
	// Supplies selects supplies whose description contains one of these
	// (case-insensitive); empty means all.
	Supplies []string `yaml:"supplies"`
	// Thresholds are on % left (default warning below 10, critical below 3).
	checks.Thresholds
}

func newPrinter(s checks.Spec, d checks.Deps) (checks.Checker, error) {
	var o printerOptions
	if err := s.Options.Decode(&o); err != nil {
		return nil, err
	}
	b, err := newBase(s, d)
	if err != nil {
		return nil, err
	}
	th := threshold(o.Thresholds, 10, 3, true)
	th.Below = true
	return &PrinterCheck{base: b, o: o, th: th}, nil
}

func (c *PrinterCheck) wanted(s Supply) bool {
	if len(c.o.Supplies) == 0 {
		return true
	}
	for _, w := range c.o.Supplies {
		if strings.Contains(strings.ToLower(s.Descr), strings.ToLower(w)) {
			return true
		}
	}
	return false
}

// printerProblems are hrPrinterDetectedErrorState bits that need a person;
// "low" ones are already covered by the supply thresholds.
var printerProblems = map[string]bool{"no paper": true, "no toner": true, "door open": true, "jammed": true, "offline": true,
	"service requested": true, "marker supply missing": true, "output full": true, "input tray missing": true, "output tray missing": true}

// Check reads the Printer-MIB.
func (c *PrinterCheck) Check(ctx context.Context) checks.Result {
	start := time.Now()
	p, err := ReadPrinter(ctx, c.src())
	if err != nil {
		return down(start, err)
	}
	r := checks.Result{Time: start, Status: checks.OK, Latency: checks.Since(start)}
	if !p.Supported {
		r.Status, r.Detail = checks.Unknown, "not supported: the device has no Printer-MIB supplies table"
		return r
	}
	lowest := -1.0
	var parts []string
	for _, s := range p.Supplies {
		if !c.wanted(s) {
			continue
		}
		if s.Percent == nil {
			// -2 unknown / -3 some remaining: not a measurement, never 0 %.
			parts = append(parts, fmt.Sprintf("%s: %s", s.Descr, s.State))
			continue
		}
		left := *s.Percent
		what := "left"
		if s.Waste {
			left, what = 100-*s.Percent, "space left"
		}
		st := c.th.Eval(left)
		r.Status = checks.Worst(r.Status, st)
		if lowest < 0 || left < lowest {
			lowest = left
		}
		part := fmt.Sprintf("%s %.0f %% %s", s.Descr, left, what)
		if st != checks.OK {
			part += " (" + st.String() + ")"
		}
		parts = append(parts, part)
	}
	if lowest >= 0 {
		r = r.WithValue(lowest)
	}
	for _, e := range p.Errors {
		if printerProblems[e] {
			r.Status = checks.Worst(r.Status, checks.Warning)
		}
	}
	if len(p.Errors) > 0 {
		parts = append(parts, "printer reports: "+strings.Join(p.Errors, ", "))
	}
	switch p.Device {
	case "down":
		r.Status = checks.Worst(r.Status, checks.Critical)
		parts = append(parts, "printer is down")
	case "warning":
		r.Status = checks.Worst(r.Status, checks.Warning)
		parts = append(parts, "printer reports a warning (hrDeviceStatus)")
	}
	for _, a := range p.Alerts {
		switch a.Severity {
		case "critical":
			r.Status = checks.Worst(r.Status, checks.Critical)
		case "warning":
			r.Status = checks.Worst(r.Status, checks.Warning)
		}
		parts = append(parts, fmt.Sprintf("alert (%s): %s", a.Severity, a.Descr))
	}
	r.Detail = strings.Join(parts, "; ")
	return r
}

// UPSCheck watches a UPS: battery status, charge, runtime, on battery.
type UPSCheck struct {
	base
	o         upsOptions
	charge    checks.Thresholds
	minutes   checks.Thresholds
	onBattery checks.Status
}

type upsOptions struct {
	// Charge is % charge (default warning below 50, critical below 25).
	Charge checks.Thresholds `yaml:"charge"`
	// Minutes is estimated runtime (default warning below 15, critical below 5).
	Minutes checks.Thresholds `yaml:"minutes"`
	// Load is output load % per phase (no default).
	Load checks.Thresholds `yaml:"load"`
	// OnBattery is the status while on battery: warning (default),
	// critical or ignore.
	OnBattery string `yaml:"on_battery"`
}

func newUPS(s checks.Spec, d checks.Deps) (checks.Checker, error) {
	var o upsOptions
	if err := s.Options.Decode(&o); err != nil {
		return nil, err
	}
	st, err := statusOption("on_battery", o.OnBattery, "warning")
	if err != nil {
		return nil, err
	}
	b, err := newBase(s, d)
	if err != nil {
		return nil, err
	}
	ch, mi := threshold(o.Charge, 50, 25, true), threshold(o.Minutes, 15, 5, true)
	ch.Below, mi.Below = true, true
	return &UPSCheck{base: b, o: o, charge: ch, minutes: mi, onBattery: st}, nil
}

// Check reads UPS-MIB or PowerNet-MIB.
func (c *UPSCheck) Check(ctx context.Context) checks.Result {
	start := time.Now()
	u, err := ReadUPS(ctx, c.src())
	if err != nil {
		return down(start, err)
	}
	r := checks.Result{Time: start, Status: checks.OK, Latency: checks.Since(start)}
	if !u.Supported {
		r.Status, r.Detail = checks.Unknown, "not supported: the device answers neither UPS-MIB (RFC 1628) nor APC PowerNet-MIB battery objects"
		return r
	}
	parts := []string{"battery " + u.BatteryStatus}
	switch u.BatteryStatus {
	case "low", "depleted", "fault":
		r.Status = checks.Critical
	}
	if u.ChargePercent != nil {
		r.Status = checks.Worst(r.Status, c.charge.Eval(*u.ChargePercent))
		parts = append(parts, fmt.Sprintf("%.0f %% charge", *u.ChargePercent))
	} else {
		parts = append(parts, "charge unknown")
	}
	if u.MinutesRemaining != nil {
		r = r.WithValue(*u.MinutesRemaining)
		r.Status = checks.Worst(r.Status, c.minutes.Eval(*u.MinutesRemaining))
		parts = append(parts, fmt.Sprintf("%s min remaining", trimFloat(*u.MinutesRemaining)))
	} else {
		parts = append(parts, "runtime unknown")
	}
	if u.OnBattery {
		r.Status = checks.Worst(r.Status, c.onBattery)
		parts = append(parts, "ON BATTERY")
	} else if u.OutputSource != "" {
		parts = append(parts, "output "+u.OutputSource)
		if u.OutputSource == "none" {
			r.Status = checks.Critical
		}
	}
	for _, l := range u.LoadPercent {
		r.Status = checks.Worst(r.Status, c.o.Load.Eval(l))
	}
	if len(u.LoadPercent) > 0 {
		parts = append(parts, "load "+joinFloats(u.LoadPercent, " %"))
	}
	if len(u.InputVoltage) > 0 {
		parts = append(parts, "input "+joinFloats(u.InputVoltage, " V"))
	}
	r.Detail = strings.Join(parts, ", ") + " (" + u.MIB + ")"
	return r
}

func joinFloats(v []float64, unit string) string {
	s := make([]string, len(v))
	for i, f := range v {
		s[i] = trimFloat(f) + unit
	}
	return strings.Join(s, "/")
}
