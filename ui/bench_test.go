package ui

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"testing"
	"time"

	"outpost/checks"
	"outpost/checks/clock"
	"outpost/checks/incident"
)

// siteBackend is a large synthetic site for the page benchmarks.
type siteBackend struct {
	staticBackend
	rollups []Point
}

func (b *siteBackend) Rollups(id string, step time.Duration, from, to time.Time) ([]Point, error) {
	return b.rollups, nil
}

func bigSite(devices, perDevice int, now time.Time) *siteBackend {
	b := &siteBackend{}
	for d := 0; d < devices; d++ {
		for c := 0; c < perDevice; c++ {
			st := checks.OK
			if (d*perDevice+c)%97 == 0 {
				st = checks.Critical
			}
			r := checks.Result{Time: now, Status: st, Detail: "200 OK in 2.1 ms", Latency: 2 * time.Millisecond}
			b.states = append(b.states, CheckState{ID: fmt.Sprintf("dev%03d-check%02d", d, c), Kind: "http", Target: "http://127.0.0.1/", Labels: checks.Labels{Device: fmt.Sprintf("dev%03d", d), Severity: "critical"}, Latest: &r, Since: now.Add(-time.Hour), Interval: time.Minute})
		}
	}
	for i := 0; i < 40; i++ {
		b.incidents = append(b.incidents, &incident.Incident{ID: uint64(i + 1), Check: b.states[i*97].ID, Device: b.states[i*97].Labels.Device, Severity: "critical", State: "open", Status: checks.Critical, Opened: now.Add(-time.Duration(i) * time.Minute)})
	}
	for h := 0; h < 8760; h++ {
		b.rollups = append(b.rollups, Point{Time: now.Add(-time.Duration(8760-h) * time.Hour), Latency: time.Duration(1+h%7) * time.Millisecond, Count: 60, Failures: h % 300 / 299})
	}
	return b
}

func benchPage(b *testing.B, backend fullBackend, path string) {
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	users := newMemUsers()
	users.PutUser(User{Name: "admin", Role: RoleAdmin})
	users.PutSession(Session{ID: "sess", User: "admin", Role: RoleAdmin, CSRF: "t", Expires: now.Add(time.Hour)})
	o := allPages(backend, users)
	o.Clock, o.Log = clock.NewFake(now), slog.New(slog.NewTextHandler(io.Discard, nil))
	s := New(o)
	req := httptest.NewRequest("GET", path, nil)
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: "sess"})
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req.Clone(context.Background()))
		lat = append(lat, time.Since(start))
		if rec.Code != 200 {
			b.Fatalf("%s: %d", path, rec.Code)
		}
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkDashboard500Devices renders the dashboard of a site with 500
// devices and 5,000 checks (bar: under 50 ms p99).
func BenchmarkDashboard500Devices(b *testing.B) {
	benchPage(b, bigSite(500, 10, time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)), "/")
}

// BenchmarkDevicePage1y renders a device page with a year of hourly
// rollups for each of its 10 checks (bar: under 100 ms).
func BenchmarkDevicePage1y(b *testing.B) {
	benchPage(b, bigSite(500, 10, time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)), "/devices/dev007?range=1y")
}

// BenchmarkCheckPage1y renders a check page over a year.
func BenchmarkCheckPage1y(b *testing.B) {
	benchPage(b, bigSite(500, 10, time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)), "/checks/dev007-check03?range=1y")
}
