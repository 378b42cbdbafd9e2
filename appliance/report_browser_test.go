package appliance_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"outpost/appliance/report"
	"outpost/appliance/scheduler"
	"outpost/checks"
	"outpost/checks/incident"
	"outpost/store"
)

// quietID is an id whose first run with interval is hours away, so the
// daemon adds nothing to the history the test wrote.
func quietID(prefix string, interval time.Duration, now time.Time) string {
	for i := 0; ; i++ {
		id := fmt.Sprintf("%s-%d", prefix, i)
		if scheduler.NextRun(id, interval, now).Sub(now) > 2*time.Hour {
			return id
		}
	}
}

// TestBrowserForecastsAndReport runs the daemon on a store with a month
// of history (a web service down 2 h on the 3rd of last month, a NAS
// share filling 1 %/day to 75 % now) and reads in chromium: the
// dashboard's "next to fill" (the share, warning 80 in 5 days), the
// check page's graph with the trend, threshold and crossing drawn, the
// device page's forecast; then last month's report as a page (the
// uptime below target in red, the daily chart, the incident's timeline,
// the forecast), its PDF (read back with pdftotext: the same figures)
// and JSON downloads. Screenshots: report-*.png, forecast-check-*.png.
func TestBrowserForecastsAndReport(t *testing.T) {
	ctx, cancel := browser(t)
	defer cancel()
	now := time.Now()
	this := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.Local)
	from, to := this.AddDate(0, -1, 0), this
	month := from.Format("2006-01")
	web, share := quietID("web", 24*time.Hour, now), quietID("nas-share", 24*time.Hour, now)
	day := func(d, h int) time.Time { return from.AddDate(0, 0, d-1).Add(time.Duration(h) * time.Hour) }
	cfg := fmt.Sprintf(`site: Acme Dental
provisioning: {mount_roots: [], block_devices: false}
devices:
  - {name: web1, address: 127.0.0.1, group: servers}
  - {name: nas, address: 127.0.0.1, group: servers}
report: {target: 99.9, groups: {servers: 99.95}}
checks:
  - {id: %s, kind: tcp, target: '127.0.0.1:9', interval: 24h, labels: {device: web1, group: servers}}
  - {id: %s, kind: disk, target: /srv/share, interval: 24h, labels: {device: nas, group: servers}}
`, web, share)
	a, cfgPath := mustRunSeeded(t, cfg, func(st *store.Store) {
		for _, r := range []checks.Result{
			{Time: from.Add(-time.Hour), Status: checks.OK}, {Time: day(3, 10), Status: checks.Critical, Detail: "refused"},
			{Time: day(3, 12), Status: checks.OK}, {Time: to.Add(time.Hour), Status: checks.OK},
		} {
			st.Append(web, r)
		}
		for at := now.Add(-14 * 24 * time.Hour); !at.After(now); at = at.Add(10 * time.Minute) {
			st.Append(share, checks.Result{Time: at, Status: checks.OK, Detail: "/srv/share used"}.WithValue(75-now.Sub(at).Hours()/24))
		}
		tp := func(t time.Time) *time.Time { return &t }
		in := incident.Incident{ID: 1, Check: web, Device: "web1", Group: "servers", Severity: checks.SeverityCritical, Status: checks.Critical, State: incident.Resolved,
			Summary: "127.0.0.1:9 refused", Opened: day(3, 10), Acked: tp(day(3, 10).Add(7 * time.Minute)), Resolved: tp(day(3, 12)), Resolution: incident.ByTechnician,
			Timeline: []incident.Event{{Time: day(3, 10), Kind: incident.Detected, Text: "critical: refused"}, {Time: day(3, 10).Add(7 * time.Minute), Kind: incident.Ack, By: "alice", Text: "acknowledged"}}}
		doc, _ := json.Marshal(in)
		if err := st.PutIncident(1, false, doc); err != nil {
			t.Fatal(err)
		}
	})
	base := a.UIURL()
	claimInBrowser(t, ctx, base, cfgPath)

	// The dashboard: the share is next to fill.
	visit(t, ctx, base+"/", `[data-testid="forecasts"]`)
	waitText(t, ctx, `[data-testid="forecast-`+share+`"]`, share+" (/srv/share) on nas: used % reaches warning 80 in 5 days")
	waitText(t, ctx, `[data-testid="forecast-`+share+`"] td.when`, "in 5 days")

	// The check page: a week with the trend on to the crossing.
	visit(t, ctx, base+"/checks/"+share, `[data-testid="check-forecast"]`)
	waitText(t, ctx, `[data-testid="check-forecast"]`, "reaches warning 80 in 5 days")
	waitText(t, ctx, `[data-testid="graph-unit"]`, "dashed: the trend of the daily peak, to warning 80 %")
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('svg.wide [data-testid="graph-trend"], svg.wide [data-testid="graph-cross"], svg.wide [data-testid="graph-threshold"]').length`))
	if err != nil || n != 3 {
		t.Fatalf("the check graph's trend, crossing and threshold: %d drawn (%v)", n, err)
	}
	screenshot(t, ctx, "forecast-check")

	// The device page: the share's forecast with its 30-day graph.
	visit(t, ctx, base+"/devices/nas", `[data-testid="device-forecast-`+share+`"]`)
	waitText(t, ctx, `[data-testid="device-forecast-`+share+`"]`, "reaches warning 80 in 5 days")

	// Last month's report as a page, from the list of months.
	visit(t, ctx, base+"/reports", `[data-testid="report-month-`+month+`"]`)
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`[data-testid="report-month-`+month+`"] a`)), chromedp.WaitVisible(chromedp.CSS(`[data-testid="report-title"]`))); err != nil {
		t.Fatal(err)
	}
	measured := to.Sub(from)
	webPct := fmt.Sprintf("%.3f %%", 100*float64(measured-2*time.Hour)/float64(measured))
	waitText(t, ctx, `[data-testid="report-title"]`, "Monthly report: Acme Dental, "+month)
	waitText(t, ctx, "main", webPct)
	waitText(t, ctx, "main", "1: 0 self-healed, 0 recovered by themselves, 1 needed a technician, 0 open")
	waitText(t, ctx, "main", "#1 "+web)
	waitText(t, ctx, "main", "acknowledged by alice")
	waitText(t, ctx, "main", "used % reaches warning 80 in 5 days")
	waitText(t, ctx, "main", "Inventory changes")
	bad, err := chromedp.Run(ctx, chromedp.Evaluate[int](`[...document.querySelectorAll('table.report td.below')].filter(td => td.innerText.includes(`+fmt.Sprintf("%q", webPct)+`)).length`))
	if err != nil {
		t.Fatal(err)
	}
	bars, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="report-daily"] rect.bar').length`))
	if err != nil {
		t.Fatal(err)
	}
	dayBars, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="report-days"] rect.bar.soon').length`))
	if err != nil || dayBars != 1 {
		t.Errorf("the days-to-threshold chart: %d bars within the horizon (%v), want the share's", dayBars, err)
	}
	if days := int(to.Sub(from).Hours()/24 + 0.5); bad < 2 || bars != days {
		t.Errorf("web's uptime below its 99.95 target in red in %d cells (want the check and its device); %d daily bars, want %d", bad, bars, days)
	}
	screenshot(t, ctx, "report")

	// The downloads, with the page's session: the PDF says what the
	// page says.
	pdf := download(t, ctx, base+"/reports/"+month+"/report.pdf", "application/pdf")
	path := filepath.Join(t.TempDir(), "report.pdf")
	os.WriteFile(path, pdf, 0o600)
	if txt, err := exec.Command("pdftotext", "-layout", path, "-").Output(); err != nil {
		t.Errorf("pdftotext: %v", err)
	} else {
		for _, want := range []string{"Monthly report: Acme Dental, " + month, webPct, "#1 " + web, "used % reaches warning 80 in 5 days"} {
			if !strings.Contains(string(txt), want) {
				t.Errorf("the downloaded PDF does not say %q:\n%s", want, txt)
			}
		}
	}
	var rep report.Report
	if err := json.Unmarshal(download(t, ctx, base+"/reports/"+month+"/report.json", "application/json"), &rep); err != nil || rep.Period != month || len(rep.Incidents) != 1 {
		t.Errorf("the downloaded JSON: %v %+v", err, rep)
	}
	// A month the box has no report of is not found.
	if body := download(t, ctx, base+"/reports/1999-01", "text/html"); !strings.Contains(string(body), "no report for 1999-01") {
		t.Errorf("a month before the box: %s", body)
	}
}

// download fetches url inside the browser (with its session) and returns
// the body, checking its content type.
func download(t *testing.T, ctx context.Context, url, ctype string) []byte {
	t.Helper()
	type answer struct {
		Type string `json:"type"`
		Body string `json:"body"`
	}
	js := fmt.Sprintf(`fetch(%q, {credentials: 'same-origin'}).then(async r => { const b = new Uint8Array(await r.arrayBuffer()); let s = ''; for (const x of b) s += String.fromCharCode(x); return {type: r.headers.get('content-type') || '', body: btoa(s)}; })`, url)
	out, err := chromedp.Run(ctx, chromedp.Evaluate[answer](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("fetching %s: %v", url, err)
	}
	if !strings.HasPrefix(out.Type, ctype) {
		t.Errorf("%s: content type %q, want %s", url, out.Type, ctype)
	}
	b, err := base64.StdEncoding.DecodeString(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
