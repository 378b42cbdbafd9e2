package checks_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"outpost/appliance/config"
	"outpost/checks"
	"outpost/checks/clock"
	"outpost/store"
)

const logSite = `site: t
devices:
  - {name: gw, address: 127.0.0.1, group: edge}
  - {name: fw, address: 127.0.0.2, group: edge}
  - {name: srv, address: 127.0.0.3, group: servers}
  - {name: sw, address: 127.0.0.4}
checks:
`

// logRule builds a log_match check from its options through the real
// config parser, reading a real store on a fake clock.
func logRule(t *testing.T, st *store.Store, fc *clock.Fake, check string) checks.Checker {
	t.Helper()
	cfg, err := config.Parse("t.yaml", []byte(logSite+check))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	c, err := checks.Build(cfg.Specs()[0], checks.Deps{Clock: fc, Events: st})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func logStore(t *testing.T) (*store.Store, *clock.Fake) {
	t.Helper()
	fc := clock.NewFake(time.Date(2031, 3, 4, 12, 0, 0, 0, time.UTC))
	st, err := store.Open(filepath.Join(t.TempDir(), "o.db"), store.Options{Clock: fc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, fc
}

// line stores a syslog line now, as the receiver makes it.
func line(st *store.Store, fc *clock.Fake, dev, facility, severity, app, msg string) {
	sev, _ := checks.ParseSyslogSeverity(severity)
	st.AppendEvent(checks.Event{Time: fc.Now(), Device: dev, Source: checks.SourceSyslog, Name: app, Severity: checks.SyslogStatus(sev), Detail: msg,
		Fields: map[string]string{checks.FieldFacility: facility, checks.FieldSeverity: severity, checks.FieldApp: app}})
}

func judge(t *testing.T, c checks.Checker, st checks.Status, detail string) checks.Result {
	t.Helper()
	r := c.Check(context.Background())
	if r.Status != st || !strings.Contains(r.Detail, detail) {
		t.Fatalf("got %s %q (value %g), want %s with %q", r.Status, r.Detail, r.Value, st, detail)
	}
	return r
}

// "More than 3 failed logins in 5 minutes", from the edge group's sshd on
// auth at warning or worse: the rule fails on the 4th within a window,
// not on 4 spread wider, carries the line, stays failed for the quiet
// period, and a clear line ends it at once.
func TestLogMatchThresholdWindowQuietAndClear(t *testing.T) {
	st, fc := logStore(t)
	c := logRule(t, st, fc, `  - id: failed-logins
    kind: log_match
    options: {group: edge, facility: [auth, authpriv], severity: warning, app: sshd, regex: 'Failed password for (\S+)', threshold: 3, window: 5m, quiet: 10m, clear: 'Accepted password'}
`)
	judge(t, c, checks.OK, "no matching event in the last 15m")
	// Spread over more than the window: never more than 3 in one.
	for i := range 4 {
		line(st, fc, "gw", "auth", "warning", "sshd", fmt.Sprint("Failed password for root from 192.0.2.", i))
		fc.Advance(2 * time.Minute)
	}
	r := judge(t, c, checks.OK, "(alarm above 3)")
	if r.Value != 2 {
		t.Fatalf("value %g, want the 2 of the last 5 minutes", r.Value)
	}
	// Out of scope: another group, another facility, another app, too
	// mild, not matching.
	line(st, fc, "srv", "auth", "err", "sshd", "Failed password for root")
	line(st, fc, "gw", "daemon", "err", "sshd", "Failed password for root")
	line(st, fc, "gw", "auth", "err", "login", "Failed password for root")
	line(st, fc, "gw", "auth", "info", "sshd", "Failed password for root")
	line(st, fc, "gw", "auth", "err", "sshd", "Connection closed")
	judge(t, c, checks.OK, "")
	// Two more in this window (one of them from fw, in the group, on
	// authpriv): 4 within 5 minutes.
	line(st, fc, "fw", "authpriv", "crit", "sshd", "Failed password for admin")
	fc.Advance(time.Second)
	line(st, fc, "gw", "auth", "warning", "sshd", "Failed password for backup")
	r = judge(t, c, checks.Critical, "more than 3 matching in 5m0s (4 in the last 5m0s); latest: 12:08:01 gw sshd: Failed password for backup")
	if r.Value != 4 {
		t.Fatalf("value %g", r.Value)
	}
	// Quiet for less than 10 minutes since: still failing, though the
	// window holds fewer now.
	fc.Advance(9 * time.Minute)
	judge(t, c, checks.Critical, "(0 in the last 5m0s)")
	fc.Advance(2 * time.Minute)
	judge(t, c, checks.OK, "latest: 12:08:01 gw sshd: Failed password for backup")
	// A new burst, then the clear line: ok at once, and the count starts
	// afresh after it.
	for range 4 {
		line(st, fc, "gw", "auth", "err", "sshd", "Failed password for root")
	}
	judge(t, c, checks.Critical, "")
	fc.Advance(time.Second)
	line(st, fc, "gw", "auth", "info", "sshd", "Accepted password for root from 192.0.2.1")
	judge(t, c, checks.OK, "cleared: 12:19:02 gw sshd: Accepted password for root")
	line(st, fc, "gw", "auth", "err", "sshd", "Failed password for root")
	judge(t, c, checks.OK, "1 matching in the last 5m0s (alarm above 3)")
	// A restart forgets nothing: a new checker (the stored lines are
	// committed meanwhile) gives the same verdict.
	if err := st.Flush(); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		line(st, fc, "gw", "auth", "err", "sshd", "Failed password for root")
	}
	again := logRule(t, st, fc, `  - id: failed-logins
    kind: log_match
    options: {group: edge, facility: [auth, authpriv], severity: warning, app: sshd, regex: 'Failed password for (\S+)', threshold: 3, window: 5m, quiet: 10m, clear: 'Accepted password'}
`)
	judge(t, again, checks.Critical, "(4 in the last 5m0s)")
}

// A rule on transport: tls ignores the same line over UDP, where its
// source address could be forged.
func TestLogMatchTransport(t *testing.T) {
	st, fc := logStore(t)
	c := logRule(t, st, fc, "  - {id: r, kind: log_match, options: {device: gw, transport: [tcp, tls], regex: 'disk failure'}}\n")
	send := func(transport string) {
		st.AppendEvent(checks.Event{Time: fc.Now(), Device: "gw", Source: checks.SourceSyslog, Name: "smartd", Detail: "disk failure on sda",
			Fields: map[string]string{checks.FieldTransport: transport}})
	}
	send("udp")
	judge(t, c, checks.OK, "no matching event")
	send("tls")
	judge(t, c, checks.Critical, "gw smartd: disk failure on sda")
}

// Any matching trap fails the rule (threshold 0) as a warning; a trap
// OID prefix matches; linkUp clears linkDown; the device comes from the
// check's labels.
func TestLogMatchTraps(t *testing.T) {
	st, fc := logStore(t)
	trap := func(dev, name, oid, detail string) {
		st.AppendEvent(checks.Event{Time: fc.Now(), Device: dev, Source: checks.SourceTrap, Name: name, Severity: checks.Warning, Detail: detail,
			Fields: map[string]string{checks.FieldTrapOID: oid, "1.3.6.1.2.1.2.2.1.2.3": "Gi0/3"}})
	}
	c := logRule(t, st, fc, `  - id: sw-links
    kind: log_match
    labels: {device: sw}
    options: {trap: linkDown, clear: '^linkUp:', status: warning}
`)
	ups := logRule(t, st, fc, `  - id: ups-battery
    kind: log_match
    options: {device: gw, trap: 1.3.6.1.4.1.318.0, regex: 'battery'}
`)
	trap("sw", "linkUp", "1.3.6.1.6.3.1.1.5.4", "interface came up")
	judge(t, c, checks.OK, "no matching event")
	trap("gw", "linkDown", "1.3.6.1.6.3.1.1.5.3", "interface went down")
	judge(t, c, checks.OK, "no matching event") // another device's
	trap("sw", "linkDown", "1.3.6.1.6.3.1.1.5.3", "interface went down (interface Gi0/3 ifIndex 3)")
	judge(t, c, checks.Warning, "sw linkDown: interface went down (interface Gi0/3 ifIndex 3) 1.3.6.1.2.1.2.2.1.2.3=Gi0/3")
	fc.Advance(time.Second)
	trap("sw", "linkUp", "1.3.6.1.6.3.1.1.5.4", "interface came up")
	judge(t, c, checks.OK, "cleared: 12:00:01 sw linkUp: interface came up")

	trap("gw", "1.3.6.1.4.1.318.0.55", "1.3.6.1.4.1.318.0.55", "trap 1.3.6.1.4.1.318.0.55: 1.3.6.1.4.1.318.2.3.3.0=UPS passed a self-test")
	trap("gw", "1.3.6.1.4.1.9.0.1", "1.3.6.1.4.1.9.0.1", "trap 1.3.6.1.4.1.9.0.1: on battery") // not under the UPS's OID
	judge(t, ups, checks.OK, "no matching event")
	st.AppendEvent(checks.Event{Time: fc.Now(), Device: "gw", Source: checks.SourceTrap, Name: "1.3.6.1.4.1.318.0.5", Severity: checks.Unknown, Detail: "trap 1.3.6.1.4.1.318.0.5",
		Fields: map[string]string{checks.FieldTrapOID: "1.3.6.1.4.1.318.0.5", "1.3.6.1.4.1.318.2.3.3.0": "UPS: On battery power in response to an input power problem"}})
	judge(t, ups, checks.Critical, "gw 1.3.6.1.4.1.318.0.5: trap 1.3.6.1.4.1.318.0.5 1.3.6.1.4.1.318.2.3.3.0=UPS: On battery")
}

func TestLogMatchOptionErrors(t *testing.T) {
	cases := []struct{ options, err string }{
		{`{regex: '(unclosed'}`, `checks[0].options.regex: "(unclosed" is not a regular expression (RE2 syntax)`},
		{`{facility: kernel}`, `checks[0].options.facility: "kernel" is not a syslog facility (one of kern, user, mail, daemon, auth`},
		{`{severity: loud}`, `checks[0].options.severity: "loud" is not a syslog severity (one of emerg, alert, crit, err, warning, notice, info, debug, or 0 to 7)`},
		{`{device: nas}`, `checks[0].options.device: "nas" is not a configured device`},
		{`{device: gw, group: edge}`, `checks[0].options.group: give device or group, not both`},
		{`{source: syslog, trap: linkDown}`, `checks[0].options.trap: trap: matches SNMP traps, but source is syslog`},
		{`{trap: linkDown, app: sshd}`, `checks[0].options.source: facility, app and transport are fields of syslog lines`},
		{`{transport: quic}`, `checks[0].options.transport: "quic" is not udp, tcp or tls`},
		{`{threshold: -1}`, `checks[0].options.threshold: -1 is not 0 to 100000`},
		{`{window: 48h}`, `checks[0].options.window: 48h0m0s is not 1s to 24h`},
		{`{status: info}`, `checks[0].options.status: "info" is not warning or critical`},
		{`{treshold: 3}`, `checks[0].options.treshold: unknown field`},
		{`{rule: ups-on-batery}`, `checks[0].options.rule: "ups-on-batery" is not a shipped rule (one of disk-io-errors, exchange-critical,`},
		// A shipped rule's options are checked with the check's over them.
		{`{rule: ssh-brute-force, trap: linkDown}`, `checks[0].options.source: facility, app and transport are fields of syslog lines`},
		{`{rule: ssh-brute-force, window: 48h}`, `checks[0].options.window: 48h0m0s is not 1s to 24h`},
	}
	for _, c := range cases {
		t.Run(c.options, func(t *testing.T) {
			_, err := config.Parse("t.yaml", []byte(logSite+"  - {id: r, kind: log_match, options: "+c.options+"}\n"))
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Fatalf("got %v\nwant %s", err, c.err)
			}
		})
	}
	// An address names a device that is no configured one (an unknown
	// source's lines), so it is accepted.
	if _, err := config.Parse("t.yaml", []byte(logSite+"  - {id: r, kind: log_match, options: {device: 192.0.2.10}}\n")); err != nil {
		t.Fatal(err)
	}
}

// Without an event store (outpost once, config validation) the rule
// says so instead of passing.
func TestLogMatchWithoutStore(t *testing.T) {
	cfg, err := config.Parse("t.yaml", []byte(logSite+"  - {id: r, kind: log_match}\n"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := checks.Build(cfg.Specs()[0], checks.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	if r := c.Check(context.Background()); r.Status != checks.Unknown || !strings.Contains(r.Detail, "no event store") {
		t.Fatalf("%+v", r)
	}
}
