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
	"outpost/checks/forecast"
	_ "outpost/checks/snmp" // the snmp_* kinds
	"outpost/store"
)

// storeSeries reads the real store's hourly rollups, as the wiring's
// adapter does.
type storeSeries struct{ st *store.Store }

func (s storeSeries) ValueBuckets(id string, step time.Duration, from, to time.Time) ([]forecast.Bucket, error) {
	rs, err := s.st.Rollups(id, store.Res1h, from, to)
	var out []forecast.Bucket
	for _, r := range rs {
		if r.HasValue {
			out = append(out, forecast.Bucket{Start: r.Start, Mean: r.ValueMean, Min: r.ValueMin, Max: r.ValueMax, Count: int(r.Count)})
		}
	}
	return out, err
}

func TestSeriesOfReadsThresholds(t *testing.T) {
	cfg, err := config.Parse("site.yaml", []byte(`site: t
devices:
  - {name: p1, address: 127.0.0.1, class: printer, snmp: {version: 2c, community: public}}
  - {name: u1, address: 127.0.0.2, class: ups, snmp: {version: 2c, community: public}}
checks:
  - {id: root, kind: disk, target: /, options: {warning: 70}}
  - {id: toner, kind: snmp_printer, target: p1}
  - {id: ups, kind: snmp_ups, target: u1, options: {minutes: {warning: 30, critical: 10, below: true}}}
  - {id: web, kind: tcp, target: '127.0.0.1:9'}
`))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, sp := range cfg.Specs() {
		if s, ok := checks.SeriesOf(sp); ok {
			got[s.Check] = fmt.Sprintf("%g/%g below=%v", *s.Limits.Warning, *s.Limits.Critical, s.Limits.Below)
		}
	}
	want := map[string]string{"root": "70/90 below=false", "toner": "10/3 below=true", "ups": "30/10 below=true"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("series %v, want %v", got, want)
	}
}

// TestForecastCheckOnTheStore: a disk filling 1 %/day to 75 % makes the
// forecast check warn (warning 80 in 5 days, within 14 days); a horizon
// of 3 days does not.
func TestForecastCheckOnTheStore(t *testing.T) {
	now := time.Date(2033, 6, 9, 12, 0, 0, 0, time.UTC)
	clk := clock.NewFake(now)
	st, err := store.Open(filepath.Join(t.TempDir(), "outpost.db"), store.Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for at := now.Add(-10 * 24 * time.Hour); !at.After(now); at = at.Add(15 * time.Minute) {
		st.Append("root", checks.Result{Time: at, Status: checks.OK}.WithValue(75-now.Sub(at).Hours()/24))
	}
	if err := st.Flush(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		horizon string
		status  checks.Status
		detail  string
	}{
		{"14d", checks.Warning, "root (/) on outpost: used % reaches warning 80 in 5 days"},
		{"3d", checks.OK, "no series forecast to cross a threshold within 3d (1 series)"},
	} {
		t.Run(tc.horizon, func(t *testing.T) {
			cfg, err := config.Parse("site.yaml", []byte(fmt.Sprintf("site: t\nchecks:\n  - {id: root, kind: disk, target: /}\n  - {id: cap, kind: forecast, options: {horizon: %s}}\n", tc.horizon)))
			if err != nil {
				t.Fatal(err)
			}
			var sp checks.Spec
			for _, s := range cfg.Specs() {
				if s.ID == "cap" {
					sp = s
				}
			}
			c, err := checks.Build(sp, checks.Deps{Clock: clk, Series: storeSeries{st}})
			if err != nil {
				t.Fatal(err)
			}
			r := c.Check(context.Background())
			if r.Status != tc.status || !strings.Contains(r.Detail, tc.detail) {
				t.Errorf("%s: %s", r.Status, r.Detail)
			}
		})
	}
	// Misconfigured: a check that does not exist, thresholds without a check.
	for yaml, want := range map[string]string{
		"{check: nope}":              `"nope" is not a configured check`,
		"{warning: 80}":              "thresholds need options.check",
		"{window: 1d}":               "too short",
		"{check: root, growth: 0.5}": "not a factor of at least 1",
	} {
		_, err := config.Parse("site.yaml", []byte("site: t\nchecks:\n  - {id: root, kind: disk, target: /}\n  - {id: cap, kind: forecast, options: "+yaml+"}\n"))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err %v, want %q", yaml, err, want)
		}
	}
}
