package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"outpost/appliance/config"
	_ "outpost/appliance/kinds"
	"outpost/checks"
)

// TestBadConfigs asserts the exact message for each broken file: these
// are what a technician reads on site, so they are part of the interface.
func TestBadConfigs(t *testing.T) {
	kinds := strings.Join(checks.KindNames(), ", ")
	cases := map[string]string{
		"bad-duration.yaml":           `testdata/bad-duration.yaml:9: checks[1].interval: "5x" is not a duration (e.g. 30s, 5m, 2h, 7d)`,
		"bad-unknown-field.yaml":      `testdata/bad-unknown-field.yaml:6: checks[0].intervall: unknown field (expected one of confirm, depends_on, id, interval, kind, labels, options, recover, remediations, target, timeout)`,
		"bad-duplicate-id.yaml":       `testdata/bad-duplicate-id.yaml:6: checks[1].id: "web" is used twice (first at line 3)`,
		"bad-timeout.yaml":            `testdata/bad-timeout.yaml:3: checks[0].timeout: 15s is longer than the interval 10s`,
		"bad-kind.yaml":               `testdata/bad-kind.yaml:3: checks[0].kind: unknown kind "telnet" (one of ` + kinds + `)`,
		"bad-interval-range.yaml":     `testdata/bad-interval-range.yaml:3: checks[0].interval: 500ms is out of range (1s to 24h)`,
		"bad-no-site.yaml":            `testdata/bad-no-site.yaml:1: site: is required (the site's name, e.g. "Acme Dental, 2nd floor closet")`,
		"bad-yaml.yaml":               `testdata/bad-yaml.yaml:3: not valid YAML: found a tab character that violates indentation`,
		"bad-retention.yaml":          `testdata/bad-retention.yaml:3: store.raw_retention: "NaNd" is not a duration (e.g. 30s, 5m, 2h, 7d)`,
		"bad-retention-negative.yaml": `testdata/bad-retention-negative.yaml:3: store.rollup_1h_retention: "-5s" is negative: durations count forward (e.g. 30s, 5m, 2h, 7d)`,
		"bad-retention-order.yaml":    `testdata/bad-retention-order.yaml: store.rollup_5m_retention: 48h0m0s is shorter than raw_retention 72h0m0s: 5-minute rollups must outlive the raw results they summarise`,
		"bad-severity.yaml":           `testdata/bad-severity.yaml:3: checks[0].labels.severity: "urgent" is not a severity (one of info, warning, critical)`,
		"bad-top-level.yaml":          `testdata/bad-top-level.yaml:2: chekcs: unknown field (expected one of agents, checks, defaults, devices, healing, incidents, listen, maintenance, notify, phonehome, provisioning, report, scheduler, site, store, syslog, traps, ui)`,
		"bad-type.yaml": `testdata/bad-type.yaml:3: scheduler.concurrency: "lots" is not a whole number
testdata/bad-type.yaml:8: checks[0].labels: expected a mapping, got a list`,
		"bad-missing-target.yaml": `testdata/bad-missing-target.yaml:3: checks[0].target: is required for kind tcp`,
		"bad-device-parent.yaml":  `testdata/bad-device-parent.yaml:3: devices[0].parent: "switch9" is not a configured device`,
		"bad-report-email.yaml":   `testdata/bad-report-email.yaml:6: report.email.channel: "ofice" is not a notify channel of kind email (the config has office)`,
	}
	for file, want := range cases {
		t.Run(file, func(t *testing.T) {
			_, err := config.Load(filepath.Join("testdata", file))
			if err == nil {
				t.Fatal("loaded without error")
			}
			if err.Error() != want {
				t.Fatalf("error:\n%s\nwant:\n%s", err, want)
			}
		})
	}
}

func TestEveryBadFileIsCovered(t *testing.T) {
	files, _ := filepath.Glob("testdata/bad-*.yaml")
	if len(files) < 10 {
		t.Fatalf("only %d bad configs", len(files))
	}
}

func TestGoodConfigDefaults(t *testing.T) {
	c, err := config.Load("testdata/good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != config.DefaultListen || c.Scheduler.Concurrency != config.DefaultConcurrency {
		t.Fatalf("defaults not applied: listen %q concurrency %d", c.Listen, c.Scheduler.Concurrency)
	}
	byID := map[string]config.Check{}
	for _, ch := range c.Checks {
		byID[ch.ID] = ch
	}
	if ch := byID["intranet"]; ch.Interval != 30*time.Second || ch.Timeout != 5*time.Second || ch.Labels.Device != "web01" {
		t.Fatalf("intranet = %+v", ch)
	}
	// Interval from defaults, timeout the default 10s, device from target,
	// severity from the default.
	if ch := byID["web-port"]; ch.Interval != 45*time.Second || ch.Timeout != 10*time.Second || ch.Labels.Device != "127.0.0.1:80" || ch.Labels.Severity != "critical" {
		t.Fatalf("web-port = %+v", ch)
	}
	if ch := byID["backup-window"]; ch.Interval != 24*time.Hour {
		t.Fatalf("1d parsed as %v", ch.Interval)
	}
	if string(c.Raw) == "" {
		t.Fatal("raw bytes not kept")
	}
}

func TestDefaultConfigParsesAndStaysOnLoopback(t *testing.T) {
	c, err := config.Default()
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Checks) < 5 {
		t.Fatalf("default has %d checks", len(c.Checks))
	}
	for _, ch := range c.Checks {
		tg := ch.Target
		if tg == "" || strings.HasPrefix(tg, "/") || tg == "outpost" {
			continue
		}
		if !strings.Contains(tg, "127.0.0.1") && !strings.Contains(tg, "[::1]") && !strings.Contains(tg, "localhost") {
			t.Errorf("default check %s targets %q: the network rule allows only loopback", ch.ID, tg)
		}
	}
	if !strings.HasPrefix(c.Listen, "127.0.0.1:") {
		t.Errorf("default listen %q is not loopback", c.Listen)
	}
}

func TestAllErrorsReportedAtOnce(t *testing.T) {
	yaml := "site: x\nchecks:\n  - {id: a, kind: tcp, target: '127.0.0.1:1', interval: 2s, timeout: 3s}\n  - {id: a, kind: nope}\n"
	_, err := config.Parse("site.yaml", []byte(yaml))
	var es config.Errors
	if !errors.As(err, &es) || len(es) != 3 {
		t.Fatalf("want 3 errors, got %v", err)
	}
}

func TestSecretNeverPrints(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "s.yaml")
	os.WriteFile(p, []byte("site: x\ndevices:\n  - name: sw1\n    snmp: {community: hunter2}\nchecks: []\n"), 0o600)
	c, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	s := c.Device("sw1").SNMP.Community
	if s.Reveal() != "hunter2" {
		t.Fatal("secret not decoded")
	}
	for _, out := range []string{s.String(), s.GoString()} {
		if strings.Contains(out, "hunter2") {
			t.Fatalf("secret printed: %s", out)
		}
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"30s": 30 * time.Second, "7d": 7 * 24 * time.Hour, "1.5d": 36 * time.Hour, "2h": 2 * time.Hour} {
		got, err := config.ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"5x", "d", "-1d", ""} {
		if _, err := config.ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) accepted", bad)
		}
	}
}

// TestBoxChecksDefaultToTheBoxDevice: a disk check's target is a mount
// point and a process check's a process name, not devices: without a
// device label they are the box's, while a network check's device is its
// target.
func TestBoxChecksDefaultToTheBoxDevice(t *testing.T) {
	c, err := config.Parse("site.yaml", []byte(`site: s
checks:
  - {id: root, kind: disk, target: /}
  - {id: srv, kind: disk, target: /srv, labels: {device: nas}}
  - {id: nginx, kind: process, target: nginx}
  - {id: port, kind: tcp, target: '127.0.0.1:80'}
`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"root": checks.BoxDevice, "srv": "nas", "nginx": checks.BoxDevice, "port": "127.0.0.1:80"}
	for _, ch := range c.Checks {
		if w, ok := want[ch.ID]; ok && ch.Labels.Device != w {
			t.Errorf("%s: device %q, want %q", ch.ID, ch.Labels.Device, w)
		}
	}
}

// A forecast warns: its checks take warning severity unless they say
// otherwise, whatever the site's default severity.
func TestForecastChecksWarnByDefault(t *testing.T) {
	c, err := config.Parse("site.yaml", []byte(`site: s
defaults: {severity: critical}
checks:
  - {id: capacity, kind: forecast, interval: 1h}
  - {id: capacity-loud, kind: forecast, interval: 1h, labels: {severity: critical}}
  - {id: web, kind: tcp, target: "127.0.0.1:1"}
`))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]checks.Severity{}
	for _, ch := range c.Checks {
		got[ch.ID] = ch.Labels.Severity
	}
	if got["capacity"] != checks.SeverityWarning || got["capacity-loud"] != checks.SeverityCritical || got["web"] != checks.SeverityCritical {
		t.Fatalf("severities %v", got)
	}
}
