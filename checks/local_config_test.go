package checks_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"outpost/appliance/config"
	"outpost/checks"
)

// buildLocal makes a checker through the real config parser, as a site
// file would: options go through the strict decoder.
func buildLocal(t *testing.T, kind, target, options string) checks.Checker {
	t.Helper()
	y := "site: t\nchecks:\n  - id: c\n    kind: " + kind + "\n"
	if target != "" {
		y += "    target: '" + target + "'\n"
	}
	if options != "" {
		y += "    options: " + options + "\n"
	}
	cfg, err := config.Parse("t.yaml", []byte(y))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	c, err := checks.Build(cfg.Specs()[0], checks.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// runLocal runs c once with a deadline.
func runLocal(t *testing.T, c checks.Checker, timeout time.Duration) checks.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return c.Check(ctx)
}

// wantLocal asserts a result's status and a piece of its detail.
func wantLocal(t *testing.T, r checks.Result, st checks.Status, detail string) {
	t.Helper()
	if r.Status != st || !strings.Contains(r.Detail, detail) {
		t.Fatalf("got %s %q, want %s with %q", r.Status, r.Detail, st, detail)
	}
	if strings.Contains(r.Detail, "\n") {
		t.Fatalf("detail is not one line: %q", r.Detail)
	}
}

func TestLocalKindOptionErrors(t *testing.T) {
	const head = "site: t\nchecks:\n  - id: a\n"
	cases := []struct{ name, yaml, err string }{
		{"cpu percent out of range", head + "    kind: cpu\n    options:\n      warning: 70\n      critical: 150\n",
			"t.yaml:7: checks[0].options.critical: 150 is not a percentage (0 to 100)"},
		{"cpu not a number", head + "    kind: cpu\n    options: {warning: lots}\n",
			`t.yaml:5: checks[0].options.warning: "lots" is not a number`},
		{"cpu warning above critical", head + "    kind: cpu\n    options: {warning: 96}\n",
			"t.yaml:5: checks[0].options.warning: 96 is above critical 95"},
		{"cpu unknown option", head + "    kind: cpu\n    options:\n      warn: 50\n",
			"t.yaml:6: checks[0].options.warn: unknown field (expected one of critical, warning)"},
		{"memory swap", head + "    kind: memory\n    options: {swap_warning: -5}\n",
			"t.yaml:5: checks[0].options.swap_warning: -5 is not a percentage (0 to 100)"},
		{"disk relative target", head + "    kind: disk\n    target: srv/data\n",
			`t.yaml:3: checks[0].target: "srv/data" is not an absolute mount point such as / or /srv`},
		{"disk missing target", head + "    kind: disk\n",
			"t.yaml:3: checks[0].target: is required for kind disk"},
		{"disk min_free", head + "    kind: disk\n    target: /\n    options:\n      warning: 70\n      min_free: 2 parsecs\n",
			`t.yaml:8: checks[0].options.min_free: "2 parsecs" is not a size (e.g. 500MiB, 2GB, 1.5T)`},
		{"disk inode order", head + "    kind: disk\n    target: /\n    options: {inode_warning: 99}\n",
			"t.yaml:6: checks[0].options.inode_warning: 99 is above inode_critical 95"},
		{"process max below min", head + "    kind: process\n    target: sshd\n    options: {min: 2, max: 1}\n",
			"t.yaml:6: checks[0].options.max: 1 is below min 2"},
		{"process negative min", head + "    kind: process\n    target: sshd\n    options: {min: -1}\n",
			"t.yaml:6: checks[0].options.min: -1 is negative"},
		{"process path", head + "    kind: process\n    target: /usr/sbin/sshd\n",
			`t.yaml:3: checks[0].target: "/usr/sbin/sshd" is a path; give the process name (e.g. "sshd")`},
		{"systemd bad unit", head + "    kind: systemd\n    target: 'ssh service'\n",
			`t.yaml:3: checks[0].target: "ssh service" is not a unit name (e.g. ssh.service)`},
		{"systemd takes no options", head + "    kind: systemd\n    target: ssh\n    options: {restart: true}\n",
			"t.yaml:6: checks[0].options: the systemd kind takes no options (found restart)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Parse("t.yaml", []byte(tc.yaml))
			if err == nil || err.Error() != tc.err {
				t.Fatalf("config:\n%s\ngot:  %v\nwant: %s", tc.yaml, err, tc.err)
			}
		})
	}
}
