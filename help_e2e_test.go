package main

import (
	"regexp"
	"strings"
	"testing"
)

// Every command, and every group command's subcommand asked with -h,
// answers with its usage and exit code 0, never "unknown subcommand".
func TestEveryCommandAnswersHelp(t *testing.T) {
	out, code := outpost(t, "help")
	if code != 0 {
		t.Fatalf("help: %d\n%s", code, out)
	}
	names := regexp.MustCompile(`(?m)^  ([a-z][a-z-]+) `).FindAllStringSubmatch(out, -1)
	if len(names) < 10 {
		t.Fatalf("help lists %d commands:\n%s", len(names), out)
	}
	for _, m := range names {
		for _, args := range [][]string{{m[1], "-h"}, {m[1], "--help"}} {
			got, code := outpost(t, args...)
			if code != 0 || !strings.Contains(got, m[1]) {
				t.Errorf("outpost %s: exit %d\n%s", strings.Join(args, " "), code, got)
			}
		}
	}
	for _, args := range [][]string{{"incident", "ack", "-h"}, {"notify", "test", "-h"}, {"bundle", "make", "-h"}, {"hq", "run", "-h"}, {"agent", "pair-code", "-h"}} {
		if got, code := outpost(t, args...); code != 0 || !strings.Contains(strings.ToLower(got), "usage") {
			t.Errorf("outpost %s: exit %d\n%s", strings.Join(args, " "), code, got)
		}
	}
}
