package ui

import (
	"context"
	"fmt"
	"time"
)

// glanceReader is what the dashboard and the device pages show of the
// site's printers and UPSes.
type glanceReader interface {
	// Glances returns the levels of every printer and UPS check (of one
	// device; "" for all), from each check's latest result and, for a
	// UPS's battery temperature, the device's SNMP facts. It must answer
	// within ctx's deadline; what it cannot read in time it leaves out.
	Glances(ctx context.Context, device string) []Glance
}

// Glance is a printer's or a UPS's levels at a glance.
type Glance struct {
	Check, Device, Kind string
	// Status is the check's latest verdict; Time when it ran.
	Status string
	Time   time.Time
	Gauges []Gauge
	// Facts are the figures beside the gauges: runtime, battery
	// temperature, on battery, load.
	Facts []Fact
	// Notes are the check's other remarks (printer errors, alerts).
	Notes []string
	// Problem is why there are no levels (the device did not answer, or
	// speaks no printer or UPS MIB): the check's detail.
	Problem string
}

// Gauge is one level: a toner cartridge, a drum, a UPS's charge.
type Gauge struct {
	Label string
	// Percent is the filled share, 0 to 100; meaningful when Known.
	Percent float64
	Known   bool
	// Text is what the gauge says: "62 %", or what the device gives
	// instead of a figure ("some remaining").
	Text string
	// Status colours it: ok, warning, critical.
	Status string
}

// Fact is a named value on a page.
type Fact struct {
	Name, Value string
	// Status, when set, colours the value (a UPS on battery: warning).
	Status string
}

// DeviceInfo is what a device page says of the device itself: its place
// in the site config and what it says of itself over SNMP.
type DeviceInfo struct {
	Class, Address, Parent, Group string
	// SNMP is nil for a device without snmp: access.
	SNMP *SNMPFacts
}

// SNMPFacts is what a device said about itself over SNMP, and when.
type SNMPFacts struct {
	// Read is when these facts were read (zero: never yet).
	Read time.Time
	// Err is why the last attempt to read them failed ("" if it did not);
	// the facts shown are then the last ones read.
	Err                                      string
	Name, Descr, ObjectID, Location, Contact string
	Vendor, Model, Serial, Firmware          string
	// Class is the box's guess from what the device answered.
	Class string
	// Uptime is sysUpTime at Read.
	Uptime       time.Duration
	BatteryTempC *float64
}

// Booted is when the device last started, by its uptime at Read.
func (f SNMPFacts) Booted() time.Time { return f.Read.Add(-f.Uptime) }

// gaugeWidth is a gauge's fill as a CSS width: the style attribute is
// not allowed by the page's CSP, so the fill is an SVG rect.
func gaugeWidth(g Gauge) string {
	p := g.Percent
	if !g.Known || p < 0 {
		p = 0
	}
	if p > 100 {
		p = 100
	}
	return fmt.Sprintf("%.1f", p)
}

// glanceTimeout bounds what a page waits for the glances and facts
// (a device that does not answer SNMP must not hold the page).
const glanceTimeout = 3 * time.Second
