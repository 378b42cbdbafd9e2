package ui

import (
	"strings"
	"testing"
)

// behindBackend is a backend whose scheduler has checks behind.
type behindBackend struct {
	*storeBackend
	behind int
}

func (b *behindBackend) ChecksBehind() int { return b.behind }

// TestDashboardShowsChecksBehind: checks missing their schedule are a
// warning line on the dashboard, gone once they catch up; a backend that
// cannot tell shows none.
func TestDashboardShowsChecksBehind(t *testing.T) {
	now := installDay
	b := &behindBackend{storeBackend: newStoreBackend(t, now), behind: 3}
	_, c := serve(t, b, now)
	body := c.page("/")
	if !strings.Contains(body, `data-testid="dash-behind"><strong>3 checks are missing their schedule (workers busy with hanging targets)</strong>`) {
		t.Errorf("dashboard without the schedule warning:\n%s", between(t, body, `id="dash"`, `<h2>`))
	}
	b.behind = 1
	if body := c.page("/"); !strings.Contains(body, "1 check is missing its schedule (workers busy with hanging targets)") {
		t.Errorf("one check behind:\n%s", between(t, body, `id="dash"`, `<h2>`))
	}
	b.behind = 0
	if body := c.page("/"); strings.Contains(body, "dash-behind") {
		t.Error("no check behind, yet a schedule warning")
	}
	_, c = serve(t, newStoreBackend(t, now), now)
	if body := c.page("/"); strings.Contains(body, "dash-behind") {
		t.Error("a backend without the scheduler's figures shows a schedule warning")
	}
}
