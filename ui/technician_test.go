package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"outpost/checks"
	"outpost/checks/clock"
	"outpost/checks/incident"
	"outpost/store"
)

// storeBackend serves the pages from a real store (bbolt in a temp dir):
// results, rollups, status changes and incidents as the daemon keeps
// them. What the store does not hold (accounts, config) comes from the
// embedded staticBackend.
type storeBackend struct {
	*staticBackend
	st    *store.Store
	specs []CheckState // ID, Kind, Labels, Interval
}

func newStoreBackend(t *testing.T, now time.Time) *storeBackend {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "outpost.db"), store.Options{Clock: clock.NewFake(now), Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &storeBackend{staticBackend: &staticBackend{devices: map[string]DeviceInfo{}}, st: st}
}

// CheckStates is each configured check with its latest result and the
// time of its last status change, read from the store as the daemon does.
func (b *storeBackend) CheckStates() []CheckState {
	out := make([]CheckState, 0, len(b.specs))
	for _, c := range b.specs {
		if r, ok := b.st.Latest(c.ID); ok {
			c.Latest = &r
		}
		if ch, ok, _ := b.st.LastChange(c.ID); ok {
			c.Since = ch.Time
		}
		out = append(out, c)
	}
	return out
}

func (b *storeBackend) History(id string, from, to time.Time) ([]checks.Result, error) {
	return b.st.Results(id, from, to)
}

func (b *storeBackend) Rollups(id string, step time.Duration, from, to time.Time) ([]Point, error) {
	res := store.Res5m
	if step >= time.Hour {
		res = store.Res1h
	}
	rs, err := b.st.Rollups(id, res, from, to)
	out := make([]Point, len(rs))
	for i, r := range rs {
		out[i] = Point{Time: r.Start, Value: r.ValueMean, HasValue: r.HasValue, Latency: r.LatencyMean, Count: int(r.Count), Failures: int(r.Failures)}
	}
	return out, err
}

func (b *storeBackend) Changes(id string, from, to time.Time) ([]Change, error) {
	cs, err := b.st.Changes(id, from, to)
	out := make([]Change, len(cs))
	for i, c := range cs {
		out[i] = Change{Time: c.Time, From: c.From, To: c.To, Detail: c.Detail}
	}
	return out, err
}

func (b *storeBackend) Incidents(open bool, limit int) ([]incident.Incident, error) {
	var out []incident.Incident
	err := b.st.ListIncidents(open, func(doc []byte) bool {
		var inc incident.Incident
		if json.Unmarshal(doc, &inc) == nil {
			out = append(out, inc)
		}
		return limit <= 0 || len(out) < limit
	})
	return out, err
}

func (b *storeBackend) Incident(id uint64) (incident.Incident, error) {
	doc, ok, err := b.st.GetIncident(id)
	if err != nil {
		return incident.Incident{}, err
	}
	if !ok {
		return incident.Incident{}, Errorf(ENOTFOUND, "no incident %d", id)
	}
	var inc incident.Incident
	return inc, json.Unmarshal(doc, &inc)
}

// putIncident stores an incident as the engine does.
func (b *storeBackend) putIncident(t *testing.T, inc incident.Incident) {
	t.Helper()
	doc, err := json.Marshal(inc)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.st.PutIncident(inc.ID, inc.IsOpen(), doc); err != nil {
		t.Fatal(err)
	}
}

// record appends results to the store and commits them.
func (b *storeBackend) record(t *testing.T, id string, rs ...checks.Result) {
	t.Helper()
	for _, r := range rs {
		b.st.Append(id, r)
	}
	if err := b.st.Flush(); err != nil {
		t.Fatal(err)
	}
}

// serve runs the UI on b with the box clock at now and returns a logged-in
// admin's client.
func serve(t *testing.T, b fullBackend, now time.Time) (*httptest.Server, *clientT) {
	t.Helper()
	o := allPages(b, newMemUsers())
	o.Clock, o.Log = clock.NewFake(now), slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := httptest.NewServer(New(o))
	t.Cleanup(srv.Close)
	c := &clientT{t: t, base: srv.URL, c: client(t)}
	setupAdmin(t, srv, c.c)
	return srv, c
}

// clientT is a logged-in browser on one test server.
type clientT struct {
	t    *testing.T
	base string
	c    *http.Client
}

// page GETs path and fails unless it answers 200.
func (c *clientT) page(path string) string {
	c.t.Helper()
	code, body := get(c.t, c.c, c.base+path)
	if code != 200 {
		c.t.Fatalf("GET %s: %d\n%s", path, code, body)
	}
	return body
}

// installDay is far from any real date: nothing may depend on today.
var installDay = time.Date(2041, 3, 9, 14, 0, 0, 0, time.UTC)

// httpResults are an http check's runs every 30 s over span up to now:
// each with its own response time, as the check writes them.
func httpResults(now time.Time, span time.Duration) []checks.Result {
	var rs []checks.Result
	for at, i := now.Add(-span), 0; !at.After(now); at, i = at.Add(30*time.Second), i+1 {
		lat := time.Duration(2000+(i%7)*150) * time.Microsecond
		ms := float64(lat) / float64(time.Millisecond)
		rs = append(rs, checks.Result{Time: at, Status: checks.OK, Latency: lat, Detail: fmt.Sprintf("200 OK in %.2f ms", ms)}.WithValue(ms))
	}
	return rs
}

var (
	recentRowRE = regexp.MustCompile(`(?s)<tr><td>([^<]+)</td><td><span class="badge st-ok">ok</span></td><td>([^<]+)</td>(?:<td class="hide-narrow">([^<]+)</td>)?(<td class="detail same" data-testid="same-detail">|<td class="detail">)([^<]*)</td></tr>`)
	yTickRE     = regexp.MustCompile(`text-anchor="end">([0-9.]+) ms</text>`)
)

// TestCheckPageOnInstallDay: forty minutes after install, a check's page
// shows the last hour (not a dot at the right of a day), its y axis in
// ms, and the latest results each with its own figures (for http the
// value is the response time, so no second column): the newest run's
// exact text, and runs whose text the store did not keep (same but for
// their numbers) said to be so, never shown with another run's numbers.
func TestCheckPageOnInstallDay(t *testing.T) {
	b := newStoreBackend(t, installDay)
	b.specs = []CheckState{{ID: "web", Kind: "http", Target: "http://127.0.0.1/", Labels: checks.Labels{Device: "web01"}, Interval: 30 * time.Second}}
	rs := httpResults(installDay, 40*time.Minute)
	b.record(t, "web", rs...)
	_, c := serve(t, b, installDay)

	body := c.page("/checks/web")
	if !strings.Contains(body, `href="/checks/web?range=1h" aria-current="page"`) {
		t.Fatalf("40 minutes of history should open on the 1h range:\n%s", body)
	}
	for _, r := range []string{"1h", "6h", "24h", "7d", "30d", "1y"} {
		if !strings.Contains(body, `href="/checks/web?range=`+r+`"`) {
			t.Errorf("range %s not offered", r)
		}
	}
	ticks := yTickRE.FindAllStringSubmatch(body, -1)
	if len(ticks) < 2 {
		t.Fatalf("y axis without ms ticks:\n%s", body)
	}
	if !strings.Contains(body, `data-testid="graph-unit">response time in ms;`) || !strings.Contains(body, ">13:00</text>") || !strings.Contains(body, ">14:00</text>") {
		t.Errorf("graph caption or time axis missing:\n%s", body)
	}
	rows := recentRowRE.FindAllStringSubmatch(body, -1)
	if len(rows) != 20 {
		t.Fatalf("%d latest results, want 20:\n%s", len(rows), body)
	}
	newest := rs[len(rs)-1]
	if rows[0][1] != newest.Time.Format("Jan 2 15:04:05") || rows[0][5] != newest.Detail || rows[0][4] != `<td class="detail">` {
		t.Errorf("newest row %q, want the latest result's own text %q", rows[0][1:], newest.Detail)
	}
	same := 0
	for i, row := range rows {
		want := rs[len(rs)-1-i]
		if row[2] != withUnit(want.Value, UnitOf("http")) || row[3] != "" {
			t.Errorf("row %d shows %s / %s, its run had %v / %v", i, row[2], row[3], want.Value, want.Latency)
		}
		if strings.Contains(row[4], "same") {
			same++
			continue
		}
		if row[5] != want.Detail {
			t.Errorf("row %d says %q; its run said %q", i, row[5], want.Detail)
		}
	}
	if same == 0 || !strings.Contains(body, "has its own figures in the response time column") {
		t.Errorf("no run marked as kept without its own text (the store keeps an ok text once per shape)")
	}

	// A week's range on install day: no rollups yet, so the raw results
	// continue the line.
	if body := c.page("/checks/web?range=7d"); strings.Contains(body, "no data in this range") || !strings.Contains(body, `aria-current="page">7d<`) {
		t.Errorf("7d on install day has no line:\n%s", body)
	}
	// Hours later, the page opens on the span that holds its history.
	later := installDay.Add(5 * time.Hour)
	b.record(t, "web", httpResults(later, 4*time.Hour+20*time.Minute)...)
	_, c2 := serve(t, b, later)
	if body := c2.page("/checks/web"); !strings.Contains(body, `href="/checks/web?range=6h" aria-current="page"`) {
		t.Errorf("5 h of history should open on 6h")
	}
}

// TestDevicePageShowsLastHoursAndFacts: a device's sparklines cover the
// last hour on install day and six hours later on, each with its newest
// value and unit; the page shows the device's class, address and SNMP
// facts, and its printer's supplies as gauges coloured by their verdict.
func TestDevicePageShowsLastHoursAndFacts(t *testing.T) {
	b := newStoreBackend(t, installDay)
	b.specs = []CheckState{
		{ID: "printer-ping", Kind: "ping", Target: "127.0.0.1", Labels: checks.Labels{Device: "printer1"}, Interval: time.Minute},
		{ID: "printer-toner", Kind: "snmp_printer", Target: "printer1", Labels: checks.Labels{Device: "printer1"}, Interval: 5 * time.Minute},
	}
	var pings []checks.Result
	for at := installDay.Add(-25 * time.Minute); !at.After(installDay); at = at.Add(time.Minute) {
		pings = append(pings, checks.Result{Time: at, Status: checks.OK, Latency: 400 * time.Microsecond, Detail: "3/3 replies"}.WithValue(0.4))
	}
	b.record(t, "printer-ping", pings...)
	b.record(t, "printer-toner", checks.Result{Time: installDay.Add(-time.Minute), Status: checks.Warning, Detail: "Black 62 % left; Cyan 8 % left (warning)"}.WithValue(8))
	booted := installDay.Add(-50 * time.Hour)
	b.devices["printer1"] = DeviceInfo{Class: "printer", Address: "127.0.0.1", SNMP: &SNMPFacts{Read: installDay.Add(-2 * time.Minute), Uptime: installDay.Add(-2 * time.Minute).Sub(booted),
		Vendor: "Brother", Model: "HL-L8360CDW series", Serial: "E78912K3N123456", Firmware: "ZC2201061631", Name: "front-desk-printer"}}
	b.glances = []Glance{{Check: "printer-toner", Device: "printer1", Kind: "snmp_printer", Status: "warning", Time: installDay.Add(-time.Minute),
		Gauges: []Gauge{{Label: "Black", Percent: 62, Known: true, Text: "62 %", Status: "ok"}, {Label: "Cyan", Percent: 8, Known: true, Text: "8 %", Status: "warning"},
			{Label: "Drum", Text: "some remaining", Status: "ok"}}}}
	_, c := serve(t, b, installDay)

	body := c.page("/devices/printer1")
	if !strings.Contains(body, `href="/devices/printer1?range=1h" aria-current="page"`) || !strings.Contains(body, "<th>Last 1h</th>") {
		t.Fatalf("install day: sparklines should cover the last hour:\n%s", body)
	}
	for _, want := range []string{
		`data-testid="device-class">printer<`, `data-testid="device-address">127.0.0.1<`, `data-testid="snmp-vendor">Brother<`,
		`data-testid="snmp-model">HL-L8360CDW series<`, `data-testid="snmp-serial">E78912K3N123456<`, `data-testid="snmp-firmware">ZC2201061631<`,
		`data-testid="snmp-uptime">2d 1h, since ` + stamp(booted) + `<`,
		`data-testid="spark-last">0.4 ms<`, `data-testid="spark-last">8 % left<`,
		`<rect class="fill" width="62.0" height="10">`, `class="gbar st-warning"`, `aria-label="Drum: some remaining"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("device page lacks %s", want)
		}
	}
	if strings.Contains(body, `aria-label="Drum: some remaining"><rect class="track" width="100" height="10"></rect><rect class="fill"`) {
		t.Error("a supply without a figure is drawn as a level")
	}
	later := installDay.Add(8 * time.Hour)
	var more []checks.Result
	for at := later.Add(-7 * time.Hour); !at.After(later); at = at.Add(5 * time.Minute) {
		more = append(more, checks.Result{Time: at, Status: checks.OK, Latency: 500 * time.Microsecond, Detail: "3/3 replies"}.WithValue(0.5))
	}
	b.record(t, "printer-ping", more...)
	_, c2 := serve(t, b, later)
	if body := c2.page("/devices/printer1"); !strings.Contains(body, `href="/devices/printer1?range=6h" aria-current="page"`) {
		t.Errorf("a device with a day of history: sparklines should cover the last 6 h")
	}
	// A device only named by check labels has no facts section.
	if body := c.page("/devices/printer1?range=24h"); !strings.Contains(body, `aria-current="page">24h<`) {
		t.Error("a chosen range is kept")
	}
}

// TestIncidentsThatEndedAreNotRed: with the incidents in the store, the
// Open tab says there is no open incident (and where the closed ones
// are), a self-healed incident is shown healed with when, in the list,
// on its page and on the dashboard, and every incident links to its check
// and device.
func TestIncidentsThatEndedAreNotRed(t *testing.T) {
	now := installDay
	b := newStoreBackend(t, now)
	b.specs = []CheckState{{ID: "app", Kind: "tcp", Target: "127.0.0.1:8080", Labels: checks.Labels{Device: "srv1"}, Interval: time.Minute}}
	b.record(t, "app", checks.Result{Time: now.Add(-time.Minute), Status: checks.OK, Detail: "connected in 0.2 ms"})
	opened, healed := now.Add(-2*time.Hour), now.Add(-2*time.Hour+3*time.Minute)
	ok := true
	b.putIncident(t, incident.Incident{ID: 1, Check: "app", Kind: "tcp", Device: "srv1", Severity: checks.SeverityCritical, Status: checks.Critical, State: incident.Resolved,
		Summary: "connect 127.0.0.1:8080: connection refused", Opened: opened, Resolved: &healed, Resolution: incident.SelfHealed,
		Timeline: []incident.Event{{Time: opened, Kind: incident.Detected, Text: "app critical"}, {Time: opened.Add(time.Minute), Kind: incident.Healing, By: "auto", Text: "restart unit app.service", OK: &ok}, {Time: healed, Kind: incident.Resolve, Text: "self-healed"}}})
	recovered := now.Add(-20 * time.Hour)
	b.putIncident(t, incident.Incident{ID: 2, Check: "app", Kind: "tcp", Device: "srv1", Severity: checks.SeverityWarning, Status: checks.Warning, State: incident.Resolved,
		Summary: "slow", Opened: recovered.Add(-10 * time.Minute), Resolved: &recovered, Resolution: incident.ResolvedByItself})
	_, c := serve(t, b, now)

	body := c.page("/incidents")
	if !strings.Contains(body, `data-testid="no-open-incidents">No open incidents.<`) || !strings.Contains(body, `href="/incidents?all=1">All</a>.`) {
		t.Fatalf("Open tab with only closed incidents:\n%s", body)
	}
	body = c.page("/incidents?all=1")
	row := between(t, body, `data-testid="incident-1"`, `</tr>`)
	wantEnded := "healed " + healed.Format("Jan 2 15:04:05") + ", 3m after detection"
	for _, want := range []string{`class="badge st-healed" data-testid="incident-badge">healed<`, `href="/checks/app"`, `href="/devices/srv1"`, wantEnded} {
		if !strings.Contains(row, want) {
			t.Errorf("self-healed row lacks %s:\n%s", want, row)
		}
	}
	if strings.Contains(row, "st-critical") {
		t.Errorf("a healed incident is shown red:\n%s", row)
	}
	if row2 := between(t, body, `data-testid="incident-2"`, `</tr>`); !strings.Contains(row2, `st-resolved" data-testid="incident-badge">resolved<`) || !strings.Contains(row2, "recovered "+recovered.Format("Jan 2 15:04:05")) || strings.Contains(row2, "st-warning") {
		t.Errorf("recovered row:\n%s", row2)
	}
	body = c.page("/incidents/1")
	for _, want := range []string{`data-testid="incident-badge">healed<`, `data-testid="ended">` + wantEnded, `href="/checks/app" data-testid="incident-check">app<`, `href="/devices/srv1" data-testid="incident-device">srv1<`, "restart unit app.service"} {
		if !strings.Contains(body, want) {
			t.Errorf("incident page lacks %s", want)
		}
	}
	body = c.page("/")
	if healedSection := between(t, body, `data-testid="healed"`, `</table>`); !strings.Contains(healedSection, "st-healed") || strings.Contains(healedSection, "st-critical") {
		t.Errorf("dashboard's self-healed section:\n%s", healedSection)
	}
	if !strings.Contains(body, `data-testid="no-open-incidents"`) {
		t.Error("dashboard without open incidents")
	}
	// An open one is listed on the Open tab with its status.
	b.putIncident(t, incident.Incident{ID: 3, Check: "app", Device: "srv1", Severity: checks.SeverityCritical, Status: checks.Critical, State: incident.Open, Opened: now.Add(-5 * time.Minute), Summary: "refused"})
	body = c.page("/incidents")
	if row := between(t, body, `data-testid="incident-3"`, `</tr>`); !strings.Contains(row, `st-critical" data-testid="incident-badge">critical<`) || strings.Contains(body, "No open incidents") || strings.Contains(body, `data-testid="incident-1"`) {
		t.Errorf("Open tab with an open incident:\n%s", body)
	}
}

// TestPhoneHomeOnSettingsAndDashboard: the receiver, the last success,
// the queue and a failure, on both pages; nothing on the dashboard when
// phone home is off.
func TestPhoneHomeOnSettingsAndDashboard(t *testing.T) {
	now := installDay
	b := newStoreBackend(t, now)
	b.phone = PhoneHomeView{Enabled: true, Receiver: "https://hq.msp.example:8444/v1/summaries", LastSuccess: now.Add(-3 * time.Minute), LastAck: 41, Queued: 2, QueuedBytes: 3100}
	_, c := serve(t, b, now)
	body := c.page("/settings")
	for _, want := range []string{`data-testid="phonehome-receiver">https://hq.msp.example:8444/v1/summaries<`, stamp(now.Add(-3*time.Minute)) + " (summary 41 acknowledged)", "2 waiting (3.1 kB)"} {
		if !strings.Contains(body, want) {
			t.Errorf("settings lacks %s", want)
		}
	}
	body = c.page("/")
	if !strings.Contains(body, `data-testid="dash-phonehome-state">delivering<`) || !strings.Contains(body, "last delivered 3m ago; 2 queued") {
		t.Errorf("dashboard phone home:\n%s", between(t, body, `id="dash"`, `<h2>`))
	}
	b.phone.Failures, b.phone.LastError, b.phone.LastErrorAt = 3, "posting summary 44: connection refused", now.Add(-time.Minute)
	if body := c.page("/"); !strings.Contains(body, `class="phonehome ph-failing"`) || !strings.Contains(body, "connection refused") {
		t.Errorf("failing phone home not on the dashboard")
	}
	if body := c.page("/settings"); !strings.Contains(body, `<span class="error">posting summary 44: connection refused</span>`) || !strings.Contains(body, "(3 in a row)") {
		t.Errorf("failing phone home on settings:\n%s", between(t, body, `data-testid="phonehome"`, `</section>`))
	}
	b.phone = PhoneHomeView{}
	if body := c.page("/"); strings.Contains(body, "dash-phonehome") {
		t.Error("phone home off, yet on the dashboard")
	}
	if body := c.page("/settings"); !strings.Contains(body, `data-testid="phonehome-off"`) {
		t.Error("settings does not say phone home is off")
	}
}

// TestDashboardGlancesAndSparklines: the dashboard shows the printers'
// and UPSes' gauges with their device, and each failing check with its
// last hours as a sparkline from the store.
func TestDashboardGlancesAndSparklines(t *testing.T) {
	now := installDay
	b := newStoreBackend(t, now)
	b.specs = []CheckState{{ID: "web", Kind: "http", Target: "http://127.0.0.1/", Labels: checks.Labels{Device: "web01"}, Interval: 30 * time.Second}}
	rs := httpResults(now, 30*time.Minute)
	rs[len(rs)-1] = checks.Result{Time: now, Status: checks.Critical, Latency: 3 * time.Millisecond, Detail: "unexpected status 502 Bad Gateway in 3 ms"}.WithValue(3)
	b.record(t, "web", rs...)
	b.glances = []Glance{{Check: "ups", Device: "ups1", Kind: "snmp_ups", Status: "ok", Time: now, Gauges: []Gauge{{Label: "Charge", Percent: 100, Known: true, Text: "100 %", Status: "ok"}},
		Facts: []Fact{{Name: "Runtime", Value: "1092 min"}, {Name: "Battery", Value: "25 °C"}}}}
	_, c := serve(t, b, now)
	body := c.page("/")
	row := between(t, body, `data-testid="failing-web"`, `</tr>`)
	if !strings.Contains(row, `<svg class="spark"`) || !strings.Contains(row, `data-testid="spark-last">3 ms<`) || !strings.Contains(row, `href="/devices/web01"`) {
		t.Errorf("failing row without its sparkline:\n%s", row)
	}
	g := between(t, body, `data-testid="glance-ups"`, `</section>`)
	for _, want := range []string{`href="/devices/ups1"`, `href="/checks/ups"`, `aria-label="Charge: 100 %"`, `data-testid="fact-Runtime"`, "1092 min", "25 °C"} {
		if !strings.Contains(g, want) {
			t.Errorf("UPS glance lacks %s:\n%s", want, g)
		}
	}
}

// TestChannelsShowWhomTheyReach: the notifications page lists each
// channel's masked destination as the backend gives it.
func TestChannelsShowWhomTheyReach(t *testing.T) {
	b := newStoreBackend(t, installDay)
	_, c := serve(t, b, installDay)
	body := c.page("/notifications")
	if !strings.Contains(body, `data-testid="channel-to-oncall">hooks.example.net`) || !strings.Contains(body, "<th>Reaches</th>") {
		t.Errorf("channel destination missing:\n%s", body)
	}
}

// TestGraphTicksAreRound: the y axis has two to five round ticks that
// hold every value, each printed with the unit.
func TestGraphTicksAreRound(t *testing.T) {
	for _, tc := range []struct{ lo, hi float64 }{{0, 1}, {2.0, 2.9}, {0, 97}, {3, 3}, {0.004, 0.011}, {1000, 1092}, {-5, 40}} {
		lo, hi, ticks := niceTicks(tc.lo, tc.hi)
		if lo > tc.lo || hi < tc.hi || len(ticks) < 2 || len(ticks) > 6 || ticks[0] != lo || ticks[len(ticks)-1] != hi {
			t.Errorf("niceTicks(%v, %v) = %v %v %v", tc.lo, tc.hi, lo, hi, ticks)
		}
	}
	now := installDay
	pts := []Point{{Time: now.Add(-50 * time.Minute), Value: 40, HasValue: true}, {Time: now.Add(-time.Minute), Value: 62, HasValue: true}}
	g := BuildGraph(pts, now.Add(-time.Hour), now, 640, 200, true, UnitOf("disk"))
	var texts []string
	for _, l := range g.Labels {
		texts = append(texts, l.Text)
	}
	joined := strings.Join(texts, "|")
	if !strings.Contains(joined, "40 %") || !strings.Contains(joined, "13:00|13:30|14:00") || g.Last != "62 %" || len(g.Grid) < 2 {
		t.Errorf("graph labels %q, last %q", joined, g.Last)
	}
	var b strings.Builder
	graphSVG(g, "graph", "disk").Render(context.Background(), &b)
	if !strings.Contains(b.String(), `<line class="axis"`) {
		t.Error("no grid lines drawn")
	}
}

// between returns the part of s from the first from up to the next to.
func between(t *testing.T, s, from, to string) string {
	t.Helper()
	i := strings.Index(s, from)
	if i < 0 {
		t.Fatalf("%s not in page:\n%s", from, s)
	}
	j := strings.Index(s[i:], to)
	if j < 0 {
		return s[i:]
	}
	return s[i : i+j]
}
