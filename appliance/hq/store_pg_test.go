//go:build linux

package hq_test

import (
	"context"
	"testing"

	"outpost/appliance/hq"
	"outpost/appliance/hq/pgtest"
	"outpost/checks/clock"
)

// TestPostgresBackend runs the receiver's rules again on a real
// PostgreSQL (a cluster of its own, one fresh database per test): what
// is stored, duplicates and conflicts, the floor, quotas and retention,
// commands and their confirmation, accounts, sessions and the login
// limits, the acknowledge rate limit. Both backends answer the same.
func TestPostgresBackend(t *testing.T) {
	pg := pgtest.Start(t)
	saved := newHQ
	t.Cleanup(func() { newHQ = saved })
	newHQ = func(t testing.TB, clk clock.Clock, lim hq.Limits) *hq.Server {
		t.Helper()
		db, err := hq.OpenPostgres(context.Background(), pg.URL(pg.NewDatabase(t)), clk)
		if err != nil {
			t.Fatal(err)
		}
		s, err := hq.OpenStore(db, hq.Options{Clock: clk, Log: quiet(), Limits: lim})
		if err != nil {
			db.Close()
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	for name, test := range map[string]func(*testing.T){
		"ConflictingSummaryRefused":     TestConflictingSummaryRefused,
		"HigherSeqDoesNotSwallowLower":  TestHigherSeqDoesNotSwallowLower,
		"PerBoxQuotaAndRetention":       TestPerBoxQuotaAndRetention,
		"FleetNeedsLogin":               TestFleetNeedsLogin,
		"LoginLimits":                   TestLoginLimits,
		"SitePageDecodesNoSummary":      TestSitePageDecodesNoSummary,
		"BoxTextIsPlain":                TestBoxTextIsPlain,
		"CommandPendingUntilConfirmed":  TestCommandPendingUntilConfirmed,
		"OneCommandOfEachKindPending":   TestOneCommandOfEachKindPending,
		"HistoryShowsWhenReceived":      TestHistoryShowsWhenReceived,
		"SitePageAcknowledgesAndBehind": TestSitePageAcknowledgesAndShowsBehind,
		"UnauthenticatedUploadsBounded": TestUnauthenticatedUploadsBounded,
		"SitePagePaginates":             TestSitePagePaginates,
	} {
		t.Run(name, test)
	}
}
