package checks

import (
	"context"
	"strings"
	"testing"
	"time"

	"outpost/checks/clock"
)

// A box that booted at 1970 and has no time source warns that its clock
// was never set, and says so again with the step once NTP sets it.
func TestClockNeverSet(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	c, err := Build(Spec{Kind: "clock"}, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	fc := clock.NewFake(time.Unix(120, 0).UTC())
	k := c.(*Clock)
	k.wall, k.steps = fc, clock.NewSteps(fc)
	r := k.Check(context.Background())
	if r.Status != Warning || r.Value != ClockUnsynced || !strings.Contains(r.Detail, "reads 1970-01-01 00:02 UTC, before this software existed") {
		t.Fatalf("1970: %+v", r)
	}
	fc.Advance(time.Minute)
	fc.JumpTo(time.Date(2027, 3, 1, 9, 0, 0, 0, time.UTC))
	r = k.Check(context.Background())
	if r.Status != OK || !strings.Contains(r.Detail, "stepped by +57y") {
		t.Fatalf("after NTP: %+v", r)
	}
}
