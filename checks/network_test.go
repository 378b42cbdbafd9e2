package checks_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"outpost/appliance/config"
	"outpost/checks"
)

// Helpers shared by the network kinds' tests (tcp_test.go, http_test.go,
// dns_test.go, ping_test.go) and the cost benchmarks.

// build makes a checker from a YAML options snippet through the real
// config decoder, exactly as a site file would.
func build(t *testing.T, kind, target, options string, timeout time.Duration) checks.Checker {
	t.Helper()
	y := "site: t\nchecks:\n  - id: c\n    kind: " + kind + "\n    target: '" + target + "'\n    interval: 30s\n    timeout: " + timeout.String() + "\n"
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

// run runs c with a ctx deadline of timeout, as the scheduler does. If
// the check ignores its deadline the test fails instead of hanging: the
// bound is generous so a loaded machine cannot make it flaky.
func run(t *testing.T, c checks.Checker, timeout time.Duration) checks.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	done := make(chan checks.Result, 1)
	go func() { done <- c.Check(ctx) }()
	select {
	case r := <-done:
		return r
	case <-time.After(timeout + 10*time.Second):
		t.Fatalf("check still running 10s after its %s deadline", timeout)
		return checks.Result{}
	}
}

// want asserts the status and a part of the detail.
func want(t *testing.T, r checks.Result, st checks.Status, detail string) {
	t.Helper()
	if r.Status != st || !strings.Contains(r.Detail, detail) {
		t.Fatalf("got %s %q, want %s containing %q", r.Status, r.Detail, st, detail)
	}
}

// buildB is build for benchmarks, with the config's default timeout.
func buildB(b *testing.B, kind, target string) checks.Checker {
	b.Helper()
	return buildFromYAML(b, "site: t\nchecks:\n  - {id: c, kind: "+kind+", target: '"+target+"'}\n")
}

// buildFromYAML builds the first check of a whole site file.
func buildFromYAML(b testing.TB, y string) checks.Checker {
	b.Helper()
	cfg, err := config.Parse("t.yaml", []byte(y))
	if err != nil {
		b.Fatal(err)
	}
	c, err := checks.Build(cfg.Specs()[0], checks.Deps{})
	if err != nil {
		b.Fatal(err)
	}
	return c
}
