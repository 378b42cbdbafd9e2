//go:build linux

package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"outpost/appliance/report"
	"outpost/appliance/scheduler"
	"outpost/checks"
	"outpost/checks/incident"
	"outpost/store"
)

// reportMonth is the last whole month before now (UTC), so the tests
// pass on any date: its first day and the next month's.
func reportMonth(now time.Time) (time.Time, time.Time) {
	this := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	return this.AddDate(0, -1, 0), this
}

// farCheckID is an id whose first run with interval is hours away, so
// the daemon adds nothing to the history the test wrote.
func farCheckID(prefix string, interval time.Duration, now time.Time) string {
	for i := 0; ; i++ {
		id := fmt.Sprintf("%s-%d", prefix, i)
		if scheduler.NextRun(id, interval, now).Sub(now) > 2*time.Hour {
			return id
		}
	}
}

type reportFixture struct {
	cfg, data  string
	from, to   time.Time
	now        time.Time
	web, disk  string
	backup     string
	wantWebPct float64
}

// reportBackupUUID is the seeded backup job's ping id.
const reportBackupUUID = "5a4f3e2d-1c0b-4a9b-8c7d-6e5f4a3b2c1d"

// seedReport writes a month of history into a fresh store, as the
// daemon would have: web (device web1, group servers) down 2 h on the
// 3rd and 30 min on the 12th, of which 20 min in a maintenance window;
// a disk filling 1 %/day to 75 % now (warning 80 in 5 days); incidents
// self-healed, escalated and recovered.
func seedReport(t *testing.T) reportFixture { t.Helper(); return seedReportWith(t, "", "") }

// seedReportWith is seedReport with more top-level config (extra, YAML
// lines ending in a newline) and more of the report: section (inReport,
// lines indented by two, ending in a newline).
func seedReportWith(t *testing.T, extra, inReport string) reportFixture {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Minute)
	from, to := reportMonth(now)
	f := reportFixture{data: t.TempDir(), from: from, to: to, now: now,
		web: farCheckID("web", 24*time.Hour, now), disk: farCheckID("disk", 24*time.Hour, now), backup: farCheckID("nightly", 24*time.Hour, now)}
	day := func(d, h, m int) time.Time {
		return from.AddDate(0, 0, d-1).Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute)
	}
	maintFrom, maintTo := day(12, 1, 0), day(12, 3, 0)
	f.cfg = writeConfig(t, fmt.Sprintf(`site: Acme Dental
%sprovisioning: {mount_roots: [], block_devices: false}
devices:
  - {name: web1, address: 127.0.0.1, group: servers}
report:
  target: 99.9
  groups: {servers: 99.95}
%smaintenance:
  - {name: switch firmware, device: web1, start: %q, end: %q}
checks:
  - {id: %s, kind: tcp, target: '127.0.0.1:9', interval: 24h, labels: {device: web1, group: servers, severity: critical}}
  - {id: %s, kind: disk, target: /, interval: 24h, labels: {group: servers}}
  - {id: capacity, kind: forecast, interval: 2s, labels: {severity: warning}, options: {horizon: 14d}}
  - {id: %s, kind: backup, interval: 24h, options: {uuid: %s, period: 24h}}
`, extra, inReport, maintFrom.Format(time.RFC3339), maintTo.Format(time.RFC3339), f.web, f.disk, f.backup, reportBackupUUID))

	st, err := store.Open(filepath.Join(f.data, "outpost.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	res := func(at time.Time, s checks.Status) checks.Result {
		return checks.Result{Time: at, Status: s, Detail: s.String()}
	}
	for _, r := range []checks.Result{
		res(from.Add(-time.Hour), checks.OK),
		res(day(3, 10, 0), checks.Critical), res(day(3, 12, 0), checks.OK),
		res(day(12, 2, 40), checks.Critical), res(day(12, 3, 20), checks.OK),
		res(to.Add(time.Hour), checks.OK),
	} {
		st.Append(f.web, r)
	}
	// Month minus the 2 h window; down 2 h + the 20 min after the window.
	measured := to.Sub(from) - 2*time.Hour
	f.wantWebPct = 100 * float64(measured-2*time.Hour-20*time.Minute) / float64(measured)
	for at := now.Add(-14 * 24 * time.Hour); !at.After(now); at = at.Add(10 * time.Minute) {
		v := 75 - now.Sub(at).Hours()/24
		st.Append(f.disk, checks.Result{Time: at, Status: checks.OK, Detail: "/: used"}.WithValue(v))
	}
	// The backup job: a good run on the 5th, a failed one on the 6th;
	// discovery found a printer on the 8th.
	one := 1
	for _, p := range []checks.BackupPing{
		{Time: day(5, 1, 0), Signal: checks.BackupStart}, {Time: day(5, 1, 40), Signal: checks.BackupSuccess},
		{Time: day(6, 1, 0), Signal: checks.BackupStart}, {Time: day(6, 1, 10), Signal: checks.BackupFail, Exit: &one},
	} {
		if _, err := st.AddBackupPing(reportBackupUUID, p); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.RecordSweep("192.0.2.0/24", day(8, 9, 0), []store.Sighting{{IP: "192.0.2.10", MAC: "3c:2a:f4:00:00:01", Name: "HP-2F", Class: "printer"}}); err != nil {
		t.Fatal(err)
	}
	// Notifications of the first incident: the email delivered, the
	// webhook given up on after a retry.
	for _, e := range []string{
		fmt.Sprintf(`{"time":%q,"channel":"email","incident":1,"kind":"opened","attempt":1,"ok":true,"final":true}`, day(3, 10, 2).Format(time.RFC3339)),
		fmt.Sprintf(`{"time":%q,"channel":"webhook","incident":1,"kind":"opened","attempt":1,"ok":false}`, day(3, 10, 2).Format(time.RFC3339)),
		fmt.Sprintf(`{"time":%q,"channel":"webhook","incident":1,"kind":"opened","attempt":2,"ok":false,"final":true}`, day(3, 10, 5).Format(time.RFC3339)),
	} {
		if err := st.NotifyLogAdd([]byte(e)); err != nil {
			t.Fatal(err)
		}
	}
	tp := func(t time.Time) *time.Time { return &t }
	for _, in := range []incident.Incident{
		{ID: 1, Check: f.web, Device: "web1", Group: "servers", Severity: checks.SeverityCritical, Status: checks.Critical, State: incident.Resolved,
			Summary: "127.0.0.1:9 refused", Opened: day(3, 10, 1), Acked: tp(day(3, 10, 7)), Resolved: tp(day(3, 12, 0)), Escalated: true, Resolution: incident.ByTechnician,
			Timeline: []incident.Event{{Time: day(3, 10, 1), Kind: incident.Detected, Text: "critical: 127.0.0.1:9 refused"}, {Time: day(3, 10, 7), Kind: incident.Ack, By: "alice", Text: "acknowledged"}, {Time: day(3, 12, 0), Kind: incident.Resolve, By: "alice", Text: "resolved by hand"}}},
		{ID: 2, Check: f.web, Device: "web1", Severity: checks.SeverityCritical, Status: checks.Critical, State: incident.Resolved,
			Opened: day(20, 4, 0), Resolved: tp(day(20, 4, 1)), Resolution: incident.SelfHealed,
			Timeline: []incident.Event{{Time: day(20, 4, 0), Kind: incident.Detected, Text: "critical"}, {Time: day(20, 4, 0), Kind: incident.Healing, Text: "restarted web"}, {Time: day(20, 4, 1), Kind: incident.Resolve, Text: "self-healed"}}},
		{ID: 3, Check: f.web, Device: "web1", Severity: checks.SeverityCritical, Status: checks.Critical, State: incident.Resolved, InMaintenance: true,
			Opened: day(12, 2, 41), Resolved: tp(day(12, 3, 20)), Resolution: incident.ResolvedByItself},
	} {
		doc, _ := json.Marshal(in)
		if err := st.PutIncident(in.ID, false, doc); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	return f
}

// outpostTZ runs the binary in UTC, so the month is the test's.
func outpostTZ(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	cmd.Env = append(os.Environ(), "TZ=UTC")
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), 0
}

func findRow(rows []report.Row, name string) *report.Row {
	for i := range rows {
		if rows[i].Name == name {
			return &rows[i]
		}
	}
	return nil
}

// TestReportFromStoppedDaemon: `outpost report` with no daemon reads the
// store itself; its JSON, text and PDF carry the hand-computed figures,
// and the PDF reads back with poppler's pdftotext; a page goes to
// testout/screenshots/report.png with pdftoppm (docs/screenshots with OUTPOST_DOC_SHOTS).
func TestReportFromStoppedDaemon(t *testing.T) {
	for _, tool := range []string{"pdftotext", "pdftoppm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not installed (poppler-utils, in the Makefile's TEST_DEBS): %v", tool, err)
		}
	}
	f := seedReport(t)
	month := f.from.Format("2006-01")
	out, code := outpostTZ(t, "report", "--month", month, "--json", "--data", f.data, "--config", f.cfg)
	if code != 0 {
		t.Fatalf("report --json: exit %d\n%s", code, out)
	}
	var rep report.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	web := findRow(rep.Checks, f.web)
	if web == nil {
		t.Fatalf("no row for %s: %+v", f.web, rep.Checks)
	}
	if math.Abs(web.Uptime.Percent-f.wantWebPct) > 1e-9 || web.Uptime.Down != 2*time.Hour+20*time.Minute || web.Uptime.Maintenance != 2*time.Hour || web.Target != 99.95 || web.Met {
		t.Errorf("web row %+v, want %.6f %% below the 99.95 target", web, f.wantWebPct)
	}
	if dev := findRow(rep.Devices, "web1"); dev == nil || dev.Uptime.Percent != web.Uptime.Percent {
		t.Errorf("device web1 %+v", dev)
	}
	if rep.Healing != (report.Healing{Total: 3, SelfHealed: 1, Recovered: 1, Technician: 1, Maintenance: 1}) {
		t.Errorf("healing %+v", rep.Healing)
	}
	if len(rep.Response) != 1 || rep.Response[0].Ack.Mean != 6*time.Minute || rep.Response[0].Resolve.N != 2 {
		t.Errorf("response %+v", rep.Response)
	}
	if len(rep.Backups) != 1 || rep.Backups[0].Runs != 2 || rep.Backups[0].OK != 1 || rep.Backups[0].Failed != 1 || rep.Backups[0].Longest != 40*time.Minute {
		t.Errorf("backups %+v", rep.Backups)
	}
	if len(rep.Inventory) != 1 || rep.Inventory[0].Kind != "new device" || rep.Inventory[0].IP != "192.0.2.10" {
		t.Errorf("inventory changes %+v", rep.Inventory)
	}
	var disk *checks.SeriesForecast
	for i := range rep.Forecasts {
		if rep.Forecasts[i].Series.Check == f.disk {
			disk = &rep.Forecasts[i]
		}
	}
	if disk == nil || disk.Forecast == nil || disk.Forecast.Warning == nil || math.Abs(disk.Forecast.Warning.In.Hours()/24-5) > 0.1 {
		t.Fatalf("disk forecast %+v", disk)
	}

	pdf := filepath.Join(t.TempDir(), "report.pdf")
	out, code = outpostTZ(t, "report", "--month", month, "--pdf", pdf, "--data", f.data, "--config", f.cfg)
	if code != 0 || !strings.Contains(out, "wrote "+pdf) {
		t.Fatalf("report --pdf: exit %d\n%s", code, out)
	}
	txt, err := exec.Command("pdftotext", "-layout", pdf, "-").Output()
	if err != nil {
		t.Fatal(err)
	}
	text := string(txt)
	webPct := fmt.Sprintf("%.3f %%", f.wantWebPct)
	for _, want := range []string{
		"Monthly report: Acme Dental, " + month,
		webPct, // the check's and the device's uptime
		"3: 1 self-healed, 1 recovered by themselves, 1 needed a technician, 0 open",
		"switch firmware", "device web1", // the maintenance window, shown
		"used % reaches warning 80 in 5 days",
		"#1 " + f.web, "acknowledged by alice", // an incident's timeline
		"6m 00s",            // the critical incidents' mean time to acknowledge
		"Backups", f.backup, // the backup job: 2 runs, 1 good, 1 failed
		"Inventory changes", "new device HP-2F at 192.0.2.10 (printer)",
		"email 1, webhook 0 (1 failed)", // notifications sent
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the PDF does not say %q:\n%s", want, text)
		}
	}
	// Page 1 as a PNG, in testout/screenshots (and docs/screenshots
	// with OUTPOST_DOC_SHOTS, as the browser tests do).
	dirs := []string{filepath.Join("testout", "screenshots")}
	if os.Getenv("OUTPOST_DOC_SHOTS") != "" {
		dirs = append(dirs, filepath.Join("docs", "screenshots"))
	}
	for _, dir := range dirs {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := exec.Command("pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile", pdf, filepath.Join(dir, "report")).Run(); err != nil {
			t.Fatal(err)
		}
	}

	out, code = outpostTZ(t, "report", "--month", month, "--data", f.data, "--config", f.cfg)
	if code != 0 || !strings.Contains(out, webPct) || !strings.Contains(out, "below target") {
		t.Errorf("report (text): exit %d\n%s", code, out)
	}
	if out, code := outpostTZ(t, "report", "--month", "November", "--data", f.data); code != 2 || !strings.Contains(out, `"November" is not a month like 2026-11`) {
		t.Errorf("bad month: exit %d\n%s", code, out)
	}
}

// TestReportThroughDaemonAndForecastIncident: with the daemon running,
// `outpost report` asks it over the control socket and gets the same
// figures; the forecast check opens a warning incident for the disk
// forecast to reach its warning threshold in 5 days.
func TestReportThroughDaemonAndForecastIncident(t *testing.T) {
	f := seedReport(t)
	box, lt := startBox(t, f.cfg, f.data, "TZ=UTC")
	defer kill(box)
	month := f.from.Format("2006-01")
	out, code := outpostTZ(t, "report", "--month", month, "--json", "--data", f.data)
	if code != 0 {
		t.Fatalf("report through the daemon: exit %d\n%s\nlog:\n%s", code, out, lt.String())
	}
	var rep report.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if web := findRow(rep.Checks, f.web); web == nil || math.Abs(web.Uptime.Percent-f.wantWebPct) > 1e-9 {
		t.Errorf("web row through the daemon %+v, want %.6f", web, f.wantWebPct)
	}
	// outpost status lists the disk, the next to fill, as the box's
	// (its target is a mount point, not a device).
	out, code = outpost(t, "status", "--data", f.data)
	if want := "! " + f.disk + " (/) on outpost: used % reaches warning 80 in 5 days"; code != 0 || !strings.Contains(out, want) || !strings.Contains(out, "next to fill first (! within 14d)") {
		t.Errorf("outpost status does not say %q: exit %d\n%s", want, code, out)
	}
	waitFor(t, "the forecast incident", patience, func() string {
		out, _ := outpost(t, "incidents", "--open", "--data", f.data)
		if strings.Contains(out, "capacity") && strings.Contains(out, "reaches warning 80 in 5 days") {
			return ""
		}
		return out
	})
}

// TestForecastsPhonedHome: a box whose disk fills 1 %/day phones home to
// a real hq; the stored summaries (as sent, checked against
// docs/phone-home.schema.json) carry the disk in capacity with its
// forecast although its check is ok: warning 80 in 5 days, on the box.
func TestForecastsPhonedHome(t *testing.T) {
	dir := t.TempDir()
	caFile, certFile, keyFile, _ := testCA(t, dir, "hq")
	hqData := t.TempDir()
	hqAddr, uiAddr := freePort(t), freePort(t)
	hqCmd := startHQ(t, hqData, hqAddr, uiAddr, certFile, keyFile)
	f := seedReportWith(t, fmt.Sprintf("phonehome: {url: 'https://%s/v1/summaries', interval: 1s, ca_file: '%s', backoff_max: 1s}\n", hqAddr, caFile), "")
	box, lt := startBox(t, f.cfg, f.data, "TZ=UTC")
	defer kill(box)
	id, key := boxIdentity(t, f.data)
	registerBox(t, hqData, id, key)
	waitDrained(t, f.data, 2, lt)
	// hq's page of the box lists the disk with the forecast.
	client := fleetLogin(t, hqData, uiAddr)
	resp, err := client.Get("http://" + uiAddr + "/boxes/" + id)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := f.disk + " (/) on outpost: used % reaches warning 80 in 5 days"; !strings.Contains(string(page), want) || !strings.Contains(string(page), `data-testid="capacity-`+f.disk+`"`) {
		t.Errorf("hq's box page does not show the forecast %q:\n%s", want, page)
	}
	kill(box)
	hqCmd.Process.Signal(syscall.SIGTERM)
	hqCmd.Wait()
	docs := validateStored(t, hqData, id)
	var disk map[string]any
	for _, c := range docs[len(docs)-1]["capacity"].([]any) {
		if c := c.(map[string]any); c["check"] == f.disk {
			disk = c
		}
	}
	fc, _ := disk["forecast"].(map[string]any)
	num := func(v any) float64 { x, _ := strconv.ParseFloat(fmt.Sprint(v), 64); return x } // the schema library decodes numbers as json.Number
	if disk == nil || disk["device"] != "outpost" || disk["status"] != "ok" || fc == nil || fc["crossing"] != "warning" || num(fc["threshold"]) != 80 || math.Abs(num(fc["days"])-5) > 0.1 ||
		fc["text"] != f.disk+" (/) on outpost: used % reaches warning 80 in 5 days" {
		t.Fatalf("the disk in the newest summary's capacity: %v", disk)
	}
}

// smtpInbox is a real SMTP server (go-smtp) on loopback keeping what it
// is sent.
type smtpInbox struct {
	mu   sync.Mutex
	mail []string
}

func (b *smtpInbox) NewSession(*smtp.Conn) (smtp.Session, error) { return &inboxSession{b}, nil }

type inboxSession struct{ b *smtpInbox }

func (s *inboxSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *inboxSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *inboxSession) Data(r io.Reader) error {
	b, _ := io.ReadAll(r)
	s.b.mu.Lock()
	s.b.mail = append(s.b.mail, string(b))
	s.b.mu.Unlock()
	return nil
}
func (s *inboxSession) Reset()        {}
func (s *inboxSession) Logout() error { return nil }

func (b *smtpInbox) count() int { b.mu.Lock(); defer b.mu.Unlock(); return len(b.mail) }

// pdfOf returns the PDF attached to a mail, decoded.
func pdfOf(t *testing.T, raw string) []byte {
	t.Helper()
	m, err := mail.ReadMessage(strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	_, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err != nil {
			t.Fatalf("no PDF attached: %v\n%.500s", err, raw)
		}
		if strings.HasPrefix(p.Header.Get("Content-Type"), "application/pdf") {
			b, err := io.ReadAll(base64.NewDecoder(base64.StdEncoding, p))
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
}

// TestReportMailedByTheDaemon: with report.email set, the real daemon
// mails last month's PDF to the configured recipient through the email
// channel once it starts (the month is over), a real SMTP server
// receives it and pdftotext reads the figures back; a restart does not
// mail it again (the month mailed is in the store); `outpost report
// --email` mails a month on request.
func TestReportMailedByTheDaemon(t *testing.T) {
	inbox := &smtpInbox{}
	srv := smtp.NewServer(inbox)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	f := seedReportWith(t, fmt.Sprintf(`notify:
  channels:
    - {name: office, kind: email, options: {server: '%s', security: none, from: 'outpost@acme.test', to: [noc@msp.test]}}
`, ln.Addr()), "  email: {channel: office, to: ['Dr Molar <dr.molar@acme.test>']}\n")
	month := f.from.Format("2006-01")
	box, lt := startBox(t, f.cfg, f.data, "TZ=UTC")
	waitFor(t, "the daemon to mail last month's report", patience, func() string {
		if inbox.count() == 0 {
			return "no mail; box log:\n" + lt.String()
		}
		return ""
	})
	inbox.mu.Lock()
	first := inbox.mail[0]
	inbox.mu.Unlock()
	if !strings.Contains(first, "To: Dr Molar <dr.molar@acme.test>") || !strings.Contains(first, "Monthly report "+month) {
		t.Errorf("the mail's header:\n%.800s", first)
	}
	path := filepath.Join(t.TempDir(), "mailed.pdf")
	os.WriteFile(path, pdfOf(t, first), 0o600)
	txt, err := exec.Command("pdftotext", "-layout", path, "-").Output()
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("%.3f %%", f.wantWebPct); !strings.Contains(string(txt), want) || !strings.Contains(string(txt), "Monthly report: Acme Dental, "+month) {
		t.Errorf("the mailed PDF does not say %q:\n%s", want, txt)
	}
	// Restarted, the daemon does not mail the month again; asked, it does.
	kill(box)
	box, lt = startBox(t, f.cfg, f.data, "TZ=UTC")
	defer kill(box)
	waitFor(t, "the restarted daemon to look at the monthly mail", patience, func() string {
		if !strings.Contains(lt.String(), "monthly report mail: last month mailed") || !strings.Contains(lt.String(), "month="+month) {
			return "box log:\n" + lt.String()
		}
		return ""
	})
	if n := inbox.count(); n != 1 {
		t.Fatalf("%d mails after a restart, want the first one only", n)
	}
	out, code := outpostTZ(t, "report", "--month", month, "--email", "--data", f.data)
	if code != 0 || !strings.Contains(out, "mailed the "+month+" report: accepted by") {
		t.Fatalf("report --email: exit %d\n%s\n%s", code, out, lt.String())
	}
	if n := inbox.count(); n != 2 {
		t.Fatalf("%d mails after one request, want 2", n)
	}
}
