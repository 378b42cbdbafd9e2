package config_test

import (
	"testing"
	"time"

	"outpost/appliance/config"
	_ "outpost/appliance/kinds"
	"outpost/healing"
)

// TestIncidentSectionErrors: every mistake in incidents, healing and
// maintenance is reported at its own line with the field's path.
func TestIncidentSectionErrors(t *testing.T) {
	const checksYAML = "checks:\n  - {id: web, kind: tcp, target: '127.0.0.1:1'}\n"
	cases := map[string]string{
		"incidents:\n  flap_low: 40\n  flap_high: 30\n":                                                                       `s.yaml:3: incidents.flap_low: 40 must be below flap_high (30); both are percentages, 0 to 100`,
		"incidents:\n  confirm: 500\n":                                                                                        `s.yaml:3: incidents.confirm: 500 is out of range (1 to 100)`,
		"healing:\n  max_attempts: -1\n":                                                                                      `s.yaml:3: healing.max_attempts: -1 is out of range (1 to 100)`,
		"healing:\n  settle: -5s\n":                                                                                           `s.yaml:3: healing.settle: "-5s" is negative: durations count forward (e.g. 30s, 5m, 2h, 7d)`,
		"healing:\n  allow_commands:\n    - /bin/true\n    - ls\n":                                                            `s.yaml:5: healing.allow_commands[1]: "ls" must be an absolute path`,
		"maintenance:\n  - name: a\n    start: tomorrow\n    end: '2026-01-01T00:00:00Z'\n":                                   `s.yaml:4: maintenance[0].start: "tomorrow" is not a time like 2026-12-24T18:00:00+01:00`,
		"maintenance:\n  - start: '2026-01-02T00:00:00Z'\n    end: '2026-01-01T00:00:00Z'\n":                                  `s.yaml:4: maintenance[0].end: is not after start`,
		"maintenance:\n  - {check: nope, start: '2026-01-01T00:00:00Z', end: '2026-01-02T00:00:00Z'}\n":                       `s.yaml:3: maintenance[0].check: "nope" is not a check of this config`,
		"maintenance:\n  - {device: a, group: b, start: '2026-01-01T00:00:00Z', end: '2026-01-02T00:00:00Z'}\n":               `s.yaml:3: maintenance[0]: give one scope (check, device or group), or none for the whole site`,
		"maintenance:\n  - weekly:\n      days: [sun, funday]\n      at: '02:00'\n      duration: 1h\n":                       `s.yaml:4: maintenance[0].weekly.days: "funday" is not a day (mon, tue, wed, thu, fri, sat, sun)`,
		"maintenance:\n  - weekly:\n      days: [sun]\n      at: '25:00'\n      duration: 1h\n":                               `s.yaml:5: maintenance[0].weekly.at: "25:00" is not a time of day like 02:00`,
		"maintenance:\n  - weekly:\n      days: [sun]\n      at: '02:00'\n      duration: 1h\n      timezone: Mars/Olympus\n": `s.yaml:7: maintenance[0].weekly.timezone: "Mars/Olympus" is not a time zone (e.g. Europe/Berlin)`,
		"maintenance:\n  - start: '2026-01-01T00:00:00Z'\n    weekly: {days: [sun], at: '02:00', duration: 1h}\n":             `s.yaml:4: maintenance[0]: is either one-off (start, end) or weekly, not both`,
	}
	for y, want := range cases {
		_, err := config.Parse("s.yaml", []byte("site: s\n"+y+checksYAML))
		if err == nil || err.Error() != want {
			t.Errorf("%s\n got  %v\n want %s", y, err, want)
		}
	}
}

func TestIncidentDefaultsAndOverrides(t *testing.T) {
	c, err := config.Parse("s.yaml", []byte("site: s\nincidents: {recover: 3}\nchecks:\n  - {id: a, kind: tcp, target: '127.0.0.1:1'}\n  - {id: b, kind: tcp, target: '127.0.0.1:2', confirm: 5, depends_on: a}\n"))
	if err != nil {
		t.Fatal(err)
	}
	in, h := c.Incidents, healing.ConfigOf(c)
	if in.Confirm != 2 || in.Recover != 3 || in.FlapLow != 20 || in.FlapHigh != 30 {
		t.Fatalf("incidents defaults %+v", in)
	}
	if h.MaxAttempts != 3 || h.Window != time.Hour || h.Settle != 10*time.Second || h.ActionTimeout != time.Minute {
		t.Fatalf("healing defaults %+v", h)
	}
	a, b := c.Checks[0], c.Checks[1]
	if a.Confirm != 2 || a.Recover != 3 || b.Confirm != 5 || b.Recover != 3 || b.DependsOn != "a" {
		t.Fatalf("per-check: a %d/%d, b %d/%d", a.Confirm, a.Recover, b.Confirm, b.Recover)
	}
}
