package snmp

import (
	"context"
	"errors"
	"fmt"
	"time"

	"outpost/checks"
	"outpost/checks/clock"
)

// The SNMP check kinds. Each names a device from `devices:` as its target;
// the device's snmp: section holds the credentials, so they live in one
// place and every check of the device shares one session.
func init() {
	checks.Register(checks.Kind{Name: "snmp_get", Summary: "SNMP: any OID (or a few): threshold on the value, or text match", NeedsTarget: true, New: newGet})
	checks.Register(checks.Kind{Name: "snmp_interfaces", Summary: "SNMP: interface status (admin-down is fine), traffic, errors, utilisation", NeedsTarget: true, New: newInterfaces})
	checks.Register(checks.Kind{Name: "snmp_storage", Summary: "SNMP: disk/volume usage from HOST-RESOURCES-MIB (UCD-SNMP-MIB where present)", NeedsTarget: true, New: newStorage})
	checks.Register(checks.Kind{Name: "snmp_cpu", Summary: "SNMP: CPU load per core and average, UCD load averages", NeedsTarget: true, New: newCPU})
	checks.Register(checks.Kind{Name: "snmp_printer", Summary: "SNMP: printer supplies (% left), printer status and alerts", NeedsTarget: true, New: newPrinter})
	checks.Register(checks.Kind{Name: "snmp_ups", Summary: "SNMP: UPS battery, charge, runtime, on-battery, load (UPS-MIB or APC)", NeedsTarget: true, New: newUPS})
	checks.Register(checks.Kind{Name: "snmp_uptime", Summary: "SNMP: sysUpTime; warns after a reboot", NeedsTarget: true, New: newUptime})
}

// TargetFromDevice builds the SNMP target of a configured device.
func TargetFromDevice(d *checks.Device) (Target, error) {
	if d.SNMP == nil {
		return Target{}, fmt.Errorf("device %q has no snmp: section", d.Name)
	}
	t := Target{Name: d.Name, Address: d.Address, SNMP: *d.SNMP}.WithDefaults()
	if err := t.Validate(); err != nil {
		return t, fmt.Errorf("device %q: snmp: %w", d.Name, err)
	}
	return t, nil
}

// base is what every SNMP checker holds: its device (a copy, so a
// reloaded config never changes a running checker), the daemon's SNMP
// poller and clock.
type base struct {
	dev    checks.Device
	snmp   checks.SNMPPoller
	maxAge time.Duration
	clock  clock.Clock
}

func newBase(s checks.Spec, d checks.Deps) (base, error) {
	var dev *checks.Device
	if s.Env != nil {
		dev = s.Env.Device(s.Target)
	}
	if dev == nil {
		return base{}, &checks.FieldError{Field: "target", Msg: fmt.Sprintf("%q is not a configured device (SNMP checks name a device from devices:, which holds the credentials)", s.Target)}
	}
	if dev.SNMP == nil {
		return base{}, &checks.FieldError{Field: "target", Msg: fmt.Sprintf("device %q has no snmp: section", s.Target)}
	}
	t, err := TargetFromDevice(dev)
	if err != nil {
		return base{}, &checks.FieldError{Field: "target", Msg: err.Error()}
	}
	// Answers are shared within a poll, never across two polls of the same
	// check: half the interval bounds their age.
	return base{dev: t.Device(), snmp: d.SNMP, maxAge: s.Interval / 2, clock: d.Clock}, nil
}

// errNoSNMP is what an SNMP check says where no poller is wired (a
// checker built only to validate the config).
var errNoSNMP = errors.New("SNMP is not available in this process")

func (b *base) src() Source {
	if b.snmp == nil {
		return failing{errNoSNMP}
	}
	return b.snmp.Source(&b.dev, b.maxAge)
}

// down is the Result for a device that did not answer properly.
func down(start time.Time, err error) checks.Result {
	st := checks.Critical
	if errors.Is(err, context.Canceled) {
		st = checks.Unknown
	}
	return checks.Result{Time: start, Status: st, Latency: checks.Since(start), Detail: err.Error()}
}

// threshold fills unset thresholds with defaults.
func threshold(t checks.Thresholds, warn, crit float64, below bool) checks.Thresholds {
	if t.Warning == nil && t.Critical == nil {
		t.Warning, t.Critical, t.Below = &warn, &crit, below
	}
	return t
}

// statusOption parses a "what status does this condition give" option.
func statusOption(field, v, def string) (checks.Status, error) {
	if v == "" {
		v = def
	}
	switch v {
	case "ok", "ignore":
		return checks.OK, nil
	case "warning":
		return checks.Warning, nil
	case "critical":
		return checks.Critical, nil
	}
	return checks.OK, &checks.FieldError{Field: "options." + field, Msg: fmt.Sprintf("%q is not one of ignore, warning, critical", v)}
}
