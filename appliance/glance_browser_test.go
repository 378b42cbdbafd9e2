package appliance_test

import (
	"context"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"outpost/appliance"
	"outpost/appliance/hq"
	"outpost/appliance/incidents"
	"outpost/checks"
	"outpost/checks/snmp"
)

// frontDeskPrinter is a colour laser printer as its SNMP agent answers
// (written for this test: no permissively licensed recording has a
// printer with ENTITY-MIB and a serial): four toners, one low, a drum
// that only says "some remaining", a waste box a fifth full.
var frontDeskPrinter = map[string]string{
	"1.3.6.1.2.1.1.1.0": "4|Brother NC-8800h, Firmware Ver.ZC ,MID 8C5-K8H,FID 2",
	"1.3.6.1.2.1.1.2.0": "6|1.3.6.1.4.1.2435.2.3.9.1",
	"1.3.6.1.2.1.1.3.0": "67|40123456",
	"1.3.6.1.2.1.1.4.0": "4|front desk",
	"1.3.6.1.2.1.1.5.0": "4|BRN-FRONTDESK",
	"1.3.6.1.2.1.1.6.0": "4|Reception, ground floor",
	// hrDeviceTable: the printer row.
	"1.3.6.1.2.1.25.3.2.1.2.1": "6|1.3.6.1.2.1.25.3.1.5",
	"1.3.6.1.2.1.25.3.2.1.3.1": "4|Brother HL-L8360CDW series",
	"1.3.6.1.2.1.25.3.2.1.5.1": "2|2",
	"1.3.6.1.2.1.25.3.5.1.1.1": "2|3",
	"1.3.6.1.2.1.25.3.5.1.2.1": "4x|00",
	// ENTITY-MIB: the printer as its one chassis.
	"1.3.6.1.2.1.47.1.1.1.1.2.1":  "4|Brother HL-L8360CDW series",
	"1.3.6.1.2.1.47.1.1.1.1.5.1":  "2|3",
	"1.3.6.1.2.1.47.1.1.1.1.10.1": "4|ZC2201061631",
	"1.3.6.1.2.1.47.1.1.1.1.11.1": "4|E78912K3N123456",
	"1.3.6.1.2.1.47.1.1.1.1.12.1": "4|Brother Industries, Ltd.",
	"1.3.6.1.2.1.47.1.1.1.1.13.1": "4|HL-L8360CDW",
	// prtMarkerSuppliesTable: class, description, max, level.
	"1.3.6.1.2.1.43.11.1.1.4.1.1": "2|3", "1.3.6.1.2.1.43.11.1.1.6.1.1": "4|Black Toner Cartridge", "1.3.6.1.2.1.43.11.1.1.8.1.1": "2|6500", "1.3.6.1.2.1.43.11.1.1.9.1.1": "2|4030",
	"1.3.6.1.2.1.43.11.1.1.4.1.2": "2|3", "1.3.6.1.2.1.43.11.1.1.6.1.2": "4|Cyan Toner Cartridge", "1.3.6.1.2.1.43.11.1.1.8.1.2": "2|6500", "1.3.6.1.2.1.43.11.1.1.9.1.2": "2|2275",
	"1.3.6.1.2.1.43.11.1.1.4.1.3": "2|3", "1.3.6.1.2.1.43.11.1.1.6.1.3": "4|Magenta Toner Cartridge", "1.3.6.1.2.1.43.11.1.1.8.1.3": "2|6500", "1.3.6.1.2.1.43.11.1.1.9.1.3": "2|520",
	"1.3.6.1.2.1.43.11.1.1.4.1.4": "2|3", "1.3.6.1.2.1.43.11.1.1.6.1.4": "4|Yellow Toner Cartridge", "1.3.6.1.2.1.43.11.1.1.8.1.4": "2|6500", "1.3.6.1.2.1.43.11.1.1.9.1.4": "2|4615",
	"1.3.6.1.2.1.43.11.1.1.4.1.5": "2|3", "1.3.6.1.2.1.43.11.1.1.6.1.5": "4|Drum Unit", "1.3.6.1.2.1.43.11.1.1.8.1.5": "2|30000", "1.3.6.1.2.1.43.11.1.1.9.1.5": "2|-3",
	"1.3.6.1.2.1.43.11.1.1.4.1.6": "2|4", "1.3.6.1.2.1.43.11.1.1.6.1.6": "4|Waste Toner Box", "1.3.6.1.2.1.43.11.1.1.8.1.6": "2|100", "1.3.6.1.2.1.43.11.1.1.9.1.6": "2|20",
	"1.3.6.1.2.1.43.5.1.1.17.1": "4|E78912K3N123456",
}

// writeRecording writes an .snmprec file, its OIDs in order.
func writeRecording(t *testing.T, path string, rec map[string]string) {
	t.Helper()
	oids := make([]string, 0, len(rec))
	for o := range rec {
		oids = append(oids, o)
	}
	less := func(a, b string) bool {
		pa, pb := strings.Split(a, "."), strings.Split(b, ".")
		for i := 0; i < len(pa) && i < len(pb); i++ {
			x, _ := strconv.Atoi(pa[i])
			y, _ := strconv.Atoi(pb[i])
			if x != y {
				return x < y
			}
		}
		return len(pa) < len(pb)
	}
	sort.Slice(oids, func(i, j int) bool { return less(oids[i], oids[j]) })
	var b strings.Builder
	for _, o := range oids {
		fmt.Fprintf(&b, "%s|%s\n", o, rec[o])
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// startSNMPSim serves the printer above and the real Eaton 93E UPS
// recording from snmpsimd (Debian's snmpsim) on a loopback port, and
// stops it when the test ends.
func startSNMPSim(t *testing.T) int {
	t.Helper()
	bin, err := exec.LookPath("snmpsimd")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("snmpsimd is not installed (make test installs it)")
		}
		t.Skip("snmpsimd is not installed; `make test` installs it")
	}
	// snmpsimd drops root to nobody, who must reach the files: not under
	// the test's private temp dir.
	base, err := os.MkdirTemp("", "outpost-glance-snmpsim-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	data, cache := filepath.Join(base, "data"), filepath.Join(base, "cache")
	os.MkdirAll(data, 0o755)
	os.MkdirAll(cache, 0o755)
	os.Chmod(base, 0o755)
	writeRecording(t, filepath.Join(data, "front_desk_printer.snmprec"), frontDeskPrinter)
	ups, err := os.ReadFile(filepath.Join("..", "checks", "snmp", "testdata", "snmprec", "ups_eaton_93e.snmprec"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(data, "ups_eaton_93e.snmprec"), ups, 0o644)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := pc.LocalAddr().(*net.UDPAddr).Port
	pc.Close()
	args := []string{"--data-dir=" + data, "--cache-dir=" + cache, "--logging-method=null", fmt.Sprintf("--agent-udpv4-endpoint=127.0.0.1:%d", port)}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("nobody")
		if err != nil {
			t.Fatal(err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		filepath.Walk(base, func(p string, _ os.FileInfo, _ error) error { os.Lchown(p, uid, gid); return nil })
		g, _ := user.LookupGroupId(u.Gid)
		args = append(args, "--process-user=nobody", "--process-group="+g.Name)
	}
	cmd := exec.Command(bin, args...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for _, rec := range []string{"front_desk_printer", "ups_eaton_93e"} {
		tg := snmp.Target{Name: rec, Address: "127.0.0.1", SNMP: checks.SNMP{Port: port, Version: "2c", Community: checks.Secret(rec), Timeout: time.Second}}.WithDefaults()
		waitFor(t, "snmpsimd to serve "+rec, patience, func() (bool, string) {
			s, err := snmp.Dial(tg)
			if err != nil {
				return false, err.Error()
			}
			defer s.Close()
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_, err = snmp.ReadSystem(ctx, s)
			return err == nil, fmt.Sprint(err, out.String())
		})
	}
	return port
}

// claimInBrowser creates the first admin with the box's claim code and
// lands on the dashboard.
func claimInBrowser(t *testing.T, ctx context.Context, base, cfgPath string) {
	t.Helper()
	var claim []byte
	waitFor(t, "the box's claim code", patience, func() (bool, string) {
		var err error
		claim, err = os.ReadFile(filepath.Join(filepath.Dir(cfgPath), "data", "claim-code"))
		return err == nil, fmt.Sprint(err)
	})
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="create-admin"]`)),
		chromedp.SetValue(chromedp.CSS("#claim"), strings.TrimSpace(string(claim))),
		chromedp.SetValue(chromedp.CSS("#password"), "Toner-Drum-2041"),
		chromedp.SetValue(chromedp.CSS("#confirm"), "Toner-Drum-2041"),
		chromedp.Click(chromedp.CSS(`[data-testid="create-admin"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="counts"]`)),
	); err != nil {
		t.Fatal(err)
	}
}

// visit opens a page and waits for an element.
func visit(t *testing.T, ctx context.Context, url, wait string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS(wait))); err != nil {
		t.Fatalf("%s (waiting for %s): %v", url, wait, err)
	}
}

// waitText waits until the element's text contains want.
func waitText(t *testing.T, ctx context.Context, sel, want string) {
	t.Helper()
	expr := fmt.Sprintf(`!!document.querySelector(%q) && document.querySelector(%q).innerText.includes(%q)`, sel, sel, want)
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(100*time.Millisecond))); err != nil {
		t.Fatalf("waiting for %q in %s: %v (it says %q)", want, sel, err, text(t, ctx, sel))
	}
}

// incidentList lists the daemon's incidents, failing the test (with the
// goroutines' stacks) rather than hanging when the incident engine does
// not answer within patience: a lock held forever is a bug to see.
func incidentList(t *testing.T, a *appliance.Appliance, open bool) []incidents.Incident {
	t.Helper()
	got := make(chan []incidents.Incident, 1)
	go func() {
		list, _ := a.Incidents().List(open, 0)
		got <- list
	}()
	select {
	case list := <-got:
		return list
	case <-time.After(patience):
		buf := make([]byte, 1<<20)
		t.Fatalf("the incident engine did not answer List within %s (a lock held forever?):\n%s", patience, buf[:runtime.Stack(buf, true)])
	}
	return nil
}

// TestBrowserTechnicianDay runs the real daemon against real peers (an
// snmpsimd printer and UPS, an HTTP service its remediation fixes, a TCP
// service that goes away, a real hq receiving the summaries) and reads
// what a technician reads on install day in chromium: the dashboard with
// toner gauges, the UPS's charge, runtime and battery temperature, phone
// home, a self-healed incident shown healed; the printer's and the UPS's
// pages with their SNMP facts; the Open tab with no open incident; a
// self-healed incident linking to its check and device; the check's
// graph over the last hour with its unit; the masked channel
// destinations; phone home on Settings.
func TestBrowserTechnicianDay(t *testing.T) {
	port := startSNMPSim(t)
	var down atomic.Bool
	svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/fix" {
			down.Store(false)
			io.WriteString(w, "intranet restarted")
			return
		}
		if down.Load() {
			http.Error(w, "down for the test", http.StatusBadGateway)
			return
		}
		io.WriteString(w, "welcome")
	}))
	defer svc.Close()
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer hook.Close()
	pcLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := pcLn.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	pcAddr := pcLn.Addr().String()

	dir := t.TempDir()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	h, err := hq.Open(filepath.Join(dir, "hq.db"), nil, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	hqSrv := httptest.NewTLSServer(h.Handler())
	defer hqSrv.Close()
	ca := filepath.Join(dir, "hq-ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: hqSrv.Certificate().Raw}), 0o644)

	cfg := fmt.Sprintf(`site: Acme Dental, 2nd floor closet
incidents: {confirm: 1, recover: 1}
healing: {settle: 1s}
phonehome: {url: '%[1]s/v1/summaries', ca_file: '%[2]s', interval: 1m}
notify:
  channels:
    - {name: noc-hook, kind: webhook, options: {url: '%[3]s/hooks/T0KEN-IN-PATH', secret: hmac-secret-value}}
    - {name: oncall-mail, kind: email, options: {server: '127.0.0.1:1', security: none, from: outpost@acme.example, to: [oncall@msp.example]}}
    - {name: phone-push, kind: ntfy, options: {url: '%[3]s/acme-secret-topic', token: ntfy-token-value}}
    - {name: alice-sms, kind: sms, options: {url: '%[3]s/sms', account: AC0123, token: sms-token-value, from: "+15550001", to: ["+15550002987"]}}
  policies:
    - {name: everything, steps: [{channels: [noc-hook]}], repeat: 0}
devices:
  - {name: front-desk-printer, class: printer, address: 127.0.0.1, snmp: {community: front_desk_printer, port: %[4]d, timeout: 2s}}
  - {name: closet-ups, address: 127.0.0.1, snmp: {community: ups_eaton_93e, port: %[4]d, timeout: 2s}}
  - {name: web01, class: server, address: 127.0.0.1}
checks:
  # Low toner is for the next visit, not an incident within the hour.
  - {id: toner, kind: snmp_printer, target: front-desk-printer, interval: 10s, confirm: 100}
  - {id: printer-uptime, kind: snmp_uptime, target: front-desk-printer, interval: 10s}
  - {id: ups-battery, kind: snmp_ups, target: closet-ups, interval: 10s}
  - id: intranet
    kind: http
    target: '%[5]s'
    interval: 1s
    labels: {device: web01}
    remediations:
      - {action: http, url: '%[5]s/fix'}
  - {id: front-desk-pc, kind: tcp, target: '%[6]s', interval: 2s, timeout: 500ms, labels: {device: front-desk-pc}}
`, hqSrv.URL, ca, hook.URL, port, svc.URL, pcAddr)
	cfgPath := filepath.Join(dir, "site.yaml")
	os.WriteFile(cfgPath, []byte(cfg), 0o644)
	a, err := appliance.New(appliance.Options{ConfigPath: cfgPath, DataDir: filepath.Join(dir, "data"), Listen: "127.0.0.1:0", UIListen: "127.0.0.1:0", Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Register(a.Identity().ID(), a.Identity().PublicKeyString(), "Acme Dental"); err != nil {
		t.Fatal(err)
	}
	if err := a.Listen(); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(runCtx) }()
	defer func() {
		stop()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
			a.Close()
		case <-time.After(patience):
			t.Errorf("the daemon did not stop within %s", patience)
		}
	}()
	ctx, cancel := browser(t)
	defer cancel()
	base := a.UIURL()
	claimInBrowser(t, ctx, base, cfgPath)

	// The intranet goes down; its remediation brings it back: the
	// incident heals by itself.
	waitFor(t, "the intranet to be seen up", patience, func() (bool, string) {
		r, ok, state := latest(a, "intranet")
		return ok && r.Status == checks.OK, state
	})
	down.Store(true)
	var healedID uint64
	waitFor(t, "the intranet incident to heal", patience, func() (bool, string) {
		list := incidentList(t, a, false)
		for _, inc := range list {
			if inc.Check == "intranet" && inc.SelfHealed() {
				healedID = inc.ID
				return true, ""
			}
		}
		return false, fmt.Sprintf("incidents %+v", list)
	})

	// The intranet's latest results, seen at once: the failure the
	// remediation fixed, with its own detail, among the ok runs with
	// theirs.
	visit(t, ctx, base+"/checks/intranet", `[data-testid="recent"]`)
	recent := text(t, ctx, `[data-testid="recent"] tbody`)
	if !regexp.MustCompile(`(?mi)^.*\tcritical\t.*\tunexpected status 502 Bad Gateway in [0-9.]+ ms$`).MatchString(recent) ||
		!regexp.MustCompile(`(?mi)^.*\tok\t([0-9.]+) ms\t200 OK in [0-9.]+ ms$`).MatchString(recent) {
		t.Errorf("latest results lack the runs' own detail:\n%s", recent)
	}

	// Only a closed incident: the Open tab says so.
	waitFor(t, "no incident to be open", patience, func() (bool, string) {
		open := incidentList(t, a, true)
		return len(open) == 0, fmt.Sprintf("open: %+v", open)
	})
	visit(t, ctx, base+"/incidents", `[data-testid="no-open-incidents"]`)
	if s := text(t, ctx, `[data-testid="no-open-incidents"]`); s != "No open incidents." {
		t.Fatalf("Open tab: %q", s)
	}
	screenshot(t, ctx, "incidents-none-open")

	// The healed incident: healed, with when, and links to its check and
	// device.
	visit(t, ctx, base+"/incidents?all=1", fmt.Sprintf(`[data-testid="incident-%d"]`, healedID))
	row := fmt.Sprintf(`[data-testid="incident-%d"]`, healedID)
	if b := text(t, ctx, row+` [data-testid="incident-badge"]`); !strings.EqualFold(b, "healed") {
		t.Fatalf("healed incident's badge %q", b)
	}
	if e := text(t, ctx, row+` [data-testid="ended"]`); !strings.HasPrefix(e, "healed ") || !strings.HasSuffix(e, "after detection") {
		t.Fatalf("healed incident says %q", e)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(row+` a[href^="/incidents/"]`)), chromedp.WaitVisible(chromedp.CSS(`[data-testid="incident-check"]`))); err != nil {
		t.Fatal(err)
	}
	if c := text(t, ctx, `[data-testid="incident-check"]`); c != "intranet" {
		t.Fatalf("incident's check link %q", c)
	}
	waitText(t, ctx, `[data-testid="timeline"]`, "intranet restarted")
	screenshot(t, ctx, "incident-healed")
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`[data-testid="incident-device"]`)), chromedp.WaitVisible(chromedp.CSS(`[data-testid="device-checks"]`))); err != nil {
		t.Fatal(err)
	}
	if n := text(t, ctx, `[data-testid="device-name"]`); n != "web01" {
		t.Fatalf("the incident's device link led to %q", n)
	}
	// Install day: the device's sparklines cover the last hour, each
	// with its newest figure.
	if h := text(t, ctx, `[data-testid="device-checks"] thead`); !strings.Contains(strings.ToLower(h), "last 1h") {
		t.Errorf("device page's sparklines on install day: %q, want the last 1h", h)
	}
	if l := text(t, ctx, `[data-testid="device-check-intranet"] [data-testid="spark-last"]`); !strings.HasSuffix(l, " ms") {
		t.Errorf("intranet's sparkline ends on %q, want its newest response time in ms", l)
	}

	// The reception PC goes away: an open incident, a failing check.
	pcLn.Close()
	waitFor(t, "summaries to reach hq, and the printer and UPS checks to run", patience, func() (bool, string) {
		var states []string
		for _, id := range []string{"toner", "ups-battery", "front-desk-pc"} {
			r, ok, state := latest(a, id)
			if !ok || (id == "front-desk-pc" && r.Status == checks.OK) {
				return false, state
			}
			states = append(states, state)
		}
		st := a.Store()
		m, _ := st.PhoneMeta()
		return m.Acked > 0, fmt.Sprintf("%v, phone home acked %d", states, m.Acked)
	})

	// The dashboard at a glance.
	visit(t, ctx, base+"/", `[data-testid="glance-toner"]`)
	waitText(t, ctx, `[data-testid="open-incidents"]`, "front-desk-pc")
	waitText(t, ctx, `[data-testid="dash-phonehome-state"]`, "delivering")
	for sel, want := range map[string]string{
		`[data-testid="glance-toner"]`:          "Magenta Toner Cartridge",
		`[data-testid="glance-ups-battery"]`:    "1092 min",
		`[data-testid="healed"]`:                "healed",
		`[data-testid="failing-front-desk-pc"]`: "connection refused",
	} {
		if s := text(t, ctx, sel); !strings.Contains(s, want) {
			t.Errorf("%s says %q, want %q", sel, s, want)
		}
	}
	waitText(t, ctx, `[data-testid="glance-ups-battery"]`, "25 °C")
	if s := text(t, ctx, `[data-testid="glance-toner"]`); !strings.Contains(s, "8 %") || !strings.Contains(s, "62 %") || !strings.Contains(s, "some remaining") || !strings.Contains(s, "80 % free") {
		t.Errorf("toner gauges: %q", s)
	}
	screenshot(t, ctx, "dashboard-glance")

	// The printer's page: its SNMP facts and supplies.
	visit(t, ctx, base+"/devices/front-desk-printer", `[data-testid="snmp-serial"]`)
	for sel, want := range map[string]string{
		`[data-testid="device-class"]`:   "printer",
		`[data-testid="device-address"]`: "127.0.0.1",
		`[data-testid="snmp-vendor"]`:    "Brother Industries, Ltd.",
		`[data-testid="snmp-model"]`:     "HL-L8360CDW",
		`[data-testid="snmp-serial"]`:    "E78912K3N123456",
		`[data-testid="snmp-firmware"]`:  "ZC2201061631",
		`[data-testid="snmp-uptime"]`:    "4d 15h",
		`[data-testid="glance-toner"]`:   "Cyan Toner Cartridge",
	} {
		if s := text(t, ctx, sel); !strings.Contains(s, want) {
			t.Errorf("printer page %s says %q, want %q", sel, s, want)
		}
	}
	screenshot(t, ctx, "device-printer")

	// The UPS's page: charge, runtime, battery temperature and identity,
	// its class guessed from what it answered.
	visit(t, ctx, base+"/devices/closet-ups", `[data-testid="snmp-model"]`)
	for sel, want := range map[string]string{
		`[data-testid="device-class"]`:       "ups",
		`[data-testid="snmp-vendor"]`:        "EATON",
		`[data-testid="snmp-model"]`:         "EATON 93E 80",
		`[data-testid="snmp-firmware"]`:      "INV: 2.08.0011",
		`[data-testid="glance-ups-battery"]`: "25 °C",
	} {
		if s := text(t, ctx, sel); !strings.Contains(s, want) {
			t.Errorf("UPS page %s says %q, want %q", sel, s, want)
		}
	}
	if s := text(t, ctx, `[data-testid="glance-ups-battery"]`); !strings.Contains(s, "100 %") || !strings.Contains(s, "1092 min") {
		t.Errorf("UPS levels: %q", s)
	}
	screenshot(t, ctx, "device-ups")

	// The intranet's page: the last hour, in ms.
	visit(t, ctx, base+"/checks/intranet", `[data-testid="recent"]`)
	if cur := text(t, ctx, `nav.tabs a[aria-current="page"]`); cur != "1h" {
		t.Errorf("install day check page opens on %q, want 1h", cur)
	}
	if u := text(t, ctx, `[data-testid="graph-unit"]`); !strings.HasPrefix(u, "response time in ms") {
		t.Errorf("graph unit %q", u)
	}
	screenshot(t, ctx, "check-install-day")

	// Channels with whom they reach, and never a secret.
	visit(t, ctx, base+"/notifications", `[data-testid="channels"]`)
	hookHost := strings.TrimPrefix(hook.URL, "http://")
	for sel, want := range map[string]string{
		`[data-testid="channel-to-noc-hook"]`:    hookHost,
		`[data-testid="channel-to-oncall-mail"]`: "oncall@msp.example",
		`[data-testid="channel-to-alice-sms"]`:   "…2987",
		`[data-testid="channel-to-phone-push"]`:  hookHost,
	} {
		if s := text(t, ctx, sel); s != want {
			t.Errorf("%s says %q, want %q", sel, s, want)
		}
	}
	if page := text(t, ctx, "main"); strings.Contains(page, "T0KEN") || strings.Contains(page, "sms-token-value") || strings.Contains(page, "hmac-secret") || strings.Contains(page, "15550002987") ||
		strings.Contains(page, "acme-secret-topic") || strings.Contains(page, "ntfy-token") {
		t.Errorf("the notifications page shows a secret:\n%s", page)
	}
	screenshot(t, ctx, "notifications-channels")

	// Settings: phone home's receiver, last success and queue.
	visit(t, ctx, base+"/settings", `[data-testid="phonehome"]`)
	if r := text(t, ctx, `[data-testid="phonehome-receiver"]`); r != hqSrv.URL+"/v1/summaries" {
		t.Errorf("receiver %q", r)
	}
	if s := text(t, ctx, `[data-testid="phonehome-last-success"]`); !strings.Contains(s, "acknowledged") {
		t.Errorf("last success %q", s)
	}
	if q := text(t, ctx, `[data-testid="phonehome-queue"]`); !strings.Contains(q, "waiting") {
		t.Errorf("queue %q", q)
	}
	screenshot(t, ctx, "settings-phonehome")
}
