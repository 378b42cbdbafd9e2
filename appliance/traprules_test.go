package appliance_test

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"outpost/appliance"
	"outpost/checks"
)

// TestShippedTrapRules sends real net-snmp snmptrap traps to the daemon
// from three devices (a switch, a UPS, a printer; each its own loopback
// address) whose checks are the shipped trap rules: each standard trap
// opens its incident through the incident engine, and its "clear" trap
// resolves it: linkDown / linkUp, UPS-MIB on battery / alarm removed,
// APC upsOnBattery / powerRestored and lowBattery / returnFromLowBattery
// (SNMPv1, as APC cards send them), UPS-MIB low battery alarm added /
// removed; a printer's critical alert opens one, a warning alert does
// not; a burst of link traps is flapping.
func TestShippedTrapRules(t *testing.T) {
	bin, err := exec.LookPath("snmptrap")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("snmptrap is not installed (make test installs Debian's snmp)")
		}
		t.Skip("snmptrap is not installed")
	}
	addr := freeUDP(t)
	a, _ := MustRun(t, fmt.Sprintf(`site: Acme
incidents: {confirm: 1, recover: 1}
traps: {listen: '%s', communities: [public], rate_limit: {per_source: 200, total: 1000}}
devices:
  - {name: core-switch, address: 127.0.0.2, class: switch}
  - {name: closet-ups, address: 127.0.0.3, class: ups}
  - {name: front-printer, address: 127.0.0.4, class: printer}
checks:
  - {id: links, kind: log_match, interval: 1s, target: core-switch, options: {rule: link-down}}
  - {id: flapping, kind: log_match, interval: 1s, target: core-switch, options: {rule: link-flapping-traps}}
  - {id: on-battery, kind: log_match, interval: 1s, target: closet-ups, options: {rule: ups-on-battery-trap}}
  - {id: low-battery, kind: log_match, interval: 1s, target: closet-ups, options: {rule: ups-low-battery-trap}}
  - {id: printer, kind: log_match, interval: 1s, target: front-printer, options: {rule: printer-critical-alert}}
`, addr))
	trap := func(from string, args ...string) {
		t.Helper()
		full := append([]string{"--clientaddr=" + from, "-c", "public"}, args[:1]...)
		full = append(full, addr)
		full = append(full, args[1:]...)
		if out, err := exec.Command(bin, full...).CombinedOutput(); err != nil {
			t.Fatalf("snmptrap %q: %v %s", full, err, out)
		}
	}
	v2 := func(from, oid string, vars ...string) { trap(from, append([]string{"-v2c", "", oid}, vars...)...) }
	// An APC card's v1 trap: enterprise apc, specific trap n, its
	// message in mtrapargsString.
	apc := func(n int, msg string) {
		trap("127.0.0.3", "-v1", "1.3.6.1.4.1.318", "127.0.0.3", "6", fmt.Sprint(n), "", "1.3.6.1.4.1.318.2.3.3.0", "s", msg)
	}
	// An upsAlarmTable row: its id and its descr (an upsWellKnownAlarms OID).
	alarm := func(trapOID string, id int, descr string) {
		v2("127.0.0.3", trapOID, fmt.Sprintf("1.3.6.1.2.1.33.1.6.2.1.1.%d", id), "i", fmt.Sprint(id), fmt.Sprintf("1.3.6.1.2.1.33.1.6.2.1.2.%d", id), "o", descr)
	}
	const (
		alarmAdded   = "1.3.6.1.2.1.33.2.3"
		alarmRemoved = "1.3.6.1.2.1.33.2.4"
		onBattery    = "1.3.6.1.2.1.33.1.6.3.2"
		lowBattery   = "1.3.6.1.2.1.33.1.6.3.3"
	)
	status := func(check string) checks.Status {
		r, ok := a.Store().Latest(check)
		if !ok {
			return checks.Unknown
		}
		return r.Status
	}
	// Traps are UDP and unacknowledged (the first may even come before
	// the receiver is bound): each is sent again until the rule reacts;
	// a repeated trap changes no verdict.
	var opened, resolved int
	await := func(what, check string, open bool, send func()) {
		t.Helper()
		waitFor(t, what, patience, func() (bool, string) {
			if send != nil {
				send()
				time.Sleep(100 * time.Millisecond)
			}
			for _, inc := range incidentList(t, a, false) {
				if inc.Check == check && inc.IsOpen() == open && (open || inc.Resolved != nil) {
					if !open && inc.ID <= uint64(resolved) {
						continue
					}
					if open && inc.ID <= uint64(opened) {
						continue
					}
					if open {
						opened = int(inc.ID)
					} else {
						resolved = int(inc.ID)
					}
					return true, ""
				}
			}
			r, _, state := latest(a, check)
			return false, fmt.Sprintf("%s (%s)", state, r.Status)
		})
	}
	linkDown := func() {
		v2("127.0.0.2", "1.3.6.1.6.3.1.1.5.3", "1.3.6.1.2.1.2.2.1.1.7", "i", "7", "1.3.6.1.2.1.2.2.1.2.7", "s", "GigabitEthernet1/0/7")
	}
	await("linkDown to open the links incident", "links", true, linkDown)
	await("linkUp to resolve it", "links", false, func() {
		v2("127.0.0.2", "1.3.6.1.6.3.1.1.5.4", "1.3.6.1.2.1.2.2.1.1.7", "i", "7", "1.3.6.1.2.1.2.2.1.2.7", "s", "GigabitEthernet1/0/7")
	})

	// UPS-MIB: on battery, then the alarm removed.
	await("upsTrapOnBattery to open on-battery", "on-battery", true, func() {
		v2("127.0.0.3", "1.3.6.1.2.1.33.2.1", "1.3.6.1.2.1.33.1.2.3.0", "i", "42", "1.3.6.1.2.1.33.1.2.2.0", "i", "12")
	})
	await("the on-battery alarm removed to resolve it", "on-battery", false, func() { alarm(alarmRemoved, 1, onBattery) })
	// The same rule on the APC card's own traps.
	await("APC upsOnBattery to open on-battery", "on-battery", true, func() { apc(5, "UPS: On battery power in response to an input power problem.") })
	await("APC powerRestored to resolve it", "on-battery", false, func() { apc(9, "UPS: No longer on battery power.") })

	// Low battery, UPS-MIB then APC; another alarm does not count.
	alarm(alarmAdded, 3, "1.3.6.1.2.1.33.1.6.3.8") // upsAlarmInputBad
	await("the low battery alarm to open low-battery", "low-battery", true, func() { alarm(alarmAdded, 2, lowBattery) })
	await("the low battery alarm removed to resolve it", "low-battery", false, func() { alarm(alarmRemoved, 2, lowBattery) })
	await("APC lowBattery to open low-battery", "low-battery", true, func() { apc(7, "UPS: The battery power is too low to continue to support the load.") })
	await("APC returnFromLowBattery to resolve it", "low-battery", false, func() { apc(11, "UPS: The battery power is no longer low.") })

	// A printer: a warning alert (toner low) is no incident; a critical
	// one (a jam) is.
	printerAlert := func(severity, code int, descr string) {
		v2("127.0.0.4", "1.3.6.1.2.1.43.18.2.0.1",
			"1.3.6.1.2.1.43.18.1.1.2.1.5", "i", fmt.Sprint(severity),
			"1.3.6.1.2.1.43.18.1.1.4.1.5", "i", "8",
			"1.3.6.1.2.1.43.18.1.1.7.1.5", "i", fmt.Sprint(code),
			"1.3.6.1.2.1.43.18.1.1.8.1.5", "s", descr)
	}
	waitFor(t, "the printer rule to see the warning alert", patience, func() (bool, string) {
		printerAlert(4, 1104, "Toner low")
		time.Sleep(100 * time.Millisecond)
		r, ok, state := latest(a, "printer")
		return ok && r.Status == checks.OK && strings.Contains(r.Detail, "no matching event") && printerEvents(a) > 0, state
	})
	await("a critical printer alert to open the printer incident", "printer", true, func() { printerAlert(3, 8, "Paper jam in tray 2") })
	if s := status("printer"); s != checks.Warning {
		t.Fatalf("printer rule status %s, want warning", s)
	}

	// Flapping: seven link traps and more within the window (the
	// linkDown and linkUp sent above count too).
	n := 0
	waitFor(t, "link traps to open the flapping incident", patience, func() (bool, string) {
		if n < 7 {
			for ; n < 7; n++ {
				if n%2 == 0 {
					linkDown()
				} else {
					v2("127.0.0.2", "1.3.6.1.6.3.1.1.5.4", "1.3.6.1.2.1.2.2.1.1.7", "i", "7")
				}
			}
		} else {
			linkDown() // one lost on the way is replaced
		}
		time.Sleep(100 * time.Millisecond)
		for _, inc := range incidentList(t, a, true) {
			if inc.Check == "flapping" {
				return true, ""
			}
		}
		r, _, state := latest(a, "flapping")
		return false, fmt.Sprintf("%s (%s)", state, r.Status)
	})
}

// printerEvents counts the printer's stored traps.
func printerEvents(a *appliance.Appliance) int {
	n := 0
	a.Store().ScanEvents(checks.EventQuery{Source: checks.SourceTrap, Devices: []string{"front-printer"}}, func(checks.Event) bool { n++; return true })
	return n
}
