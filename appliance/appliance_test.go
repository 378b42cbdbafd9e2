package appliance_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"outpost/appliance"
	"outpost/appliance/incidents"
	"outpost/checks"
	"outpost/store"
)

// MustRun starts a whole daemon in-process on a free loopback port with a
// temp data dir, and stops it when the test ends.
func MustRun(tb testing.TB, cfg string) (*appliance.Appliance, string) {
	tb.Helper()
	return mustRunSeeded(tb, cfg, nil)
}

// mustRunSeeded is MustRun on a store that seed (when not nil) wrote
// first, as a daemon that ran before would have.
func mustRunSeeded(tb testing.TB, cfg string, seed func(st *store.Store)) (*appliance.Appliance, string) {
	tb.Helper()
	dir := tb.TempDir()
	p := filepath.Join(dir, "site.yaml")
	if err := os.WriteFile(p, []byte(cfg), 0o644); err != nil {
		tb.Fatal(err)
	}
	if seed != nil {
		os.MkdirAll(filepath.Join(dir, "data"), 0o700)
		st, err := store.Open(filepath.Join(dir, "data", "outpost.db"), store.Options{})
		if err != nil {
			tb.Fatal(err)
		}
		seed(st)
		if err := st.Flush(); err != nil {
			tb.Fatal(err)
		}
		if err := st.Close(); err != nil {
			tb.Fatal(err)
		}
	}
	a, err := appliance.New(appliance.Options{
		ConfigPath: p, DataDir: filepath.Join(dir, "data"), Listen: "127.0.0.1:0", UIListen: "127.0.0.1:0",
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		tb.Fatal(err)
	}
	if err := a.Listen(); err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("Run: %v", err)
		}
		a.Close()
	})
	return a, p
}

// patience bounds one awaited event of a running daemon (a check run, a
// heal, a trap arriving). It is generous on purpose: a machine busy with
// other work runs the daemon many times slower than an idle one, and a
// wait returns as soon as its event happens, so it costs nothing when
// things work.
const patience = 90 * time.Second

// waitFor polls cond every 20 ms until it reports done. If ceiling passes
// first, the test fails naming what it waited for and the state cond last
// observed.
func waitFor(tb testing.TB, what string, ceiling time.Duration, cond func() (done bool, state string)) {
	tb.Helper()
	start := time.Now()
	for {
		done, state := cond()
		if done {
			return
		}
		if time.Since(start) > ceiling {
			tb.Fatalf("waited %s for %s; last observed: %s", ceiling, what, state)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// latest is a check's latest result as a wait's observed state.
func latest(a *appliance.Appliance, id string) (checks.Result, bool, string) {
	r, ok := a.Store().Latest(id)
	if !ok {
		return r, false, id + ": no result yet"
	}
	return r, true, fmt.Sprintf("%s: %s %q", id, r.Status, r.Detail)
}

func TestDaemonRunsChecksStoresAndReloads(t *testing.T) {
	var down bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down {
			http.Error(w, "maintenance", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "hello")
	}))
	defer srv.Close()
	a, cfgPath := MustRun(t, "site: Acme\nchecks:\n  - {id: web, kind: http, target: '"+srv.URL+"', interval: 1s}\n")

	waitFor(t, "a first ok result", patience, func() (bool, string) {
		r, ok, state := latest(a, "web")
		return ok && r.Status == checks.OK, state
	})
	down = true
	waitFor(t, "the outage to be seen", patience, func() (bool, string) {
		r, ok, state := latest(a, "web")
		return ok && r.Status == checks.Critical && strings.Contains(r.Detail, "503"), state
	})
	waitFor(t, "the change to be committed", patience, func() (bool, string) {
		ch, ok, err := a.Store().LastChange("web")
		return err == nil && ok && ch.To == checks.Critical && ch.From == checks.OK, fmt.Sprintf("last change %+v (found %v, err %v)", ch, ok, err)
	})

	// /healthz and /metrics on the status port.
	resp, err := http.Get("http://" + a.StatusAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`outpost_checks_run_total{kind="http"}`, `outpost_check_failures_total{kind="http"}`, "outpost_scheduler_lateness_seconds_bucket", "outpost_store_commits_total", "outpost_store_size_bytes", `outpost_check_status{check="web",device=`, `outpost_check_up{check="web",device=`, "process_resident_memory_bytes", "go_goroutines"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	// A reload with a bad file keeps the running config; a good one is
	// applied and recorded as a new version.
	os.WriteFile(cfgPath, []byte("site: Acme\nchecks:\n  - {id: web, kind: http, target: '"+srv.URL+"', interval: 5x}\n"), 0o644)
	if err := a.Reload(); err == nil || !strings.Contains(err.Error(), `"5x" is not a duration`) {
		t.Fatalf("bad reload: %v", err)
	}
	if ids := checkIDs(a); ids != "web" {
		t.Fatal("bad reload changed the running config")
	}
	os.WriteFile(cfgPath, []byte("site: Acme\nchecks:\n  - {id: web, kind: http, target: '"+srv.URL+"', interval: 1s}\n  - {id: web2, kind: http, target: '"+srv.URL+"', interval: 1s}\n"), 0o644)
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	hist, err := a.Store().ConfigHistory()
	if err != nil || len(hist) != 2 || hist[len(hist)-1].Version != 2 {
		t.Fatalf("config history: %+v %v", hist, err)
	}
	waitFor(t, "the new check to run", patience, func() (bool, string) { _, ok, state := latest(a, "web2"); return ok, state })
}

// TestRealProcessHealed kills a real service and lets the daemon restart
// it through an allow-listed command: detect, confirm, act, re-check,
// resolve as self-healed, with the action audited.
func TestRealProcessHealed(t *testing.T) {
	took := healScenario(t, time.Second, 300*time.Millisecond)
	t.Logf("failure to healed: %s (interval 1s, confirm 2, settle 300ms)", took.Round(time.Millisecond))
}

// BenchmarkFailureToHealed is the figure: a 10 s interval and the
// default 10 s settle time; the bar is 2 intervals plus the settle time.
func BenchmarkFailureToHealed(b *testing.B) {
	for i := 0; i < b.N; i++ {
		took := healScenario(b, 10*time.Second, 10*time.Second)
		b.ReportMetric(took.Seconds(), "s-failure-to-healed")
	}
}

func healScenario(tb testing.TB, interval, settle time.Duration) time.Duration {
	dir := tb.TempDir()
	flaky := filepath.Join(dir, "flaky")
	if out, err := exec.Command("go", "build", "-o", flaky, "./incidents/testdata/flaky").CombinedOutput(); err != nil {
		tb.Fatalf("building flaky: %v\n%s", err, out)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	srv := exec.Command(flaky, "serve", addr)
	if err := srv.Start(); err != nil {
		tb.Fatal(err)
	}
	defer exec.Command("pkill", "-f", flaky+" serve").Run()
	cfg := fmt.Sprintf(`site: Acme
healing: {allow_commands: [[%s, start, "*"]], settle: %s}
checks:
  - id: app
    kind: tcp
    target: %s
    interval: %s
    timeout: 1s
    remediations:
      - {action: command, command: [%s, start, %s]}
`, flaky, settle, addr, interval, flaky, addr)
	a, _ := MustRun(tb, cfg)
	waitFor(tb, "the service to be seen up", interval+patience, func() (bool, string) {
		r, ok, state := latest(a, "app")
		return ok && r.Status == checks.OK, state
	})
	srv.Process.Kill()
	srv.Wait()
	killed := time.Now()
	var healed incidents.Incident
	// The poll is also the measurement: took is at most 20 ms late.
	waitFor(tb, "the incident to be resolved by healing", 3*interval+settle+patience, func() (bool, string) {
		list, _ := a.Incidents().List(false, 0)
		for _, inc := range list {
			if inc.State == incidents.Resolved {
				healed = inc
				return true, ""
			}
		}
		return false, fmt.Sprintf("incidents %+v", list)
	})
	took := time.Since(killed)
	if healed.Resolution != "self-healed" || len(healed.Timeline) < 3 || !strings.Contains(healed.Timeline[1].Output, "started pid") {
		tb.Fatalf("incident %+v", healed)
	}
	for _, ev := range healed.Timeline {
		tb.Logf("%s %s %s", ev.Time.Sub(killed).Round(10*time.Millisecond), ev.Kind, ev.Text)
	}
	var audit []byte
	a.Store().ListAudit(func(doc []byte) bool { audit = doc; return false })
	if !strings.Contains(string(audit), `"who":"auto"`) || !strings.Contains(string(audit), `"ok":true`) {
		tb.Fatalf("audit %s", audit)
	}
	return took
}

// TestUIEditSurvivesRestartUntilFileChanges: a check added in the UI is a
// new config version that the next start keeps, while the file on disk is
// unchanged; editing the file makes the file win again.
func TestUIEditSurvivesRestartUntilFileChanges(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "site.yaml")
	os.WriteFile(cfgPath, []byte("site: Acme\n# the seed file\nchecks:\n  - {id: a, kind: tcp, target: '127.0.0.1:1'}\n"), 0o644)
	open := func() *appliance.Appliance {
		a, err := appliance.New(appliance.Options{ConfigPath: cfgPath, DataDir: filepath.Join(dir, "data"), Listen: "127.0.0.1:0", UIListen: "127.0.0.1:0", Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	a := open()
	err := a.EditCheck("", appliance.CheckEdit{ID: "b", Kind: "tcp", Target: "127.0.0.1:2", Interval: "5x"}, "alice")
	if !errors.Is(err, appliance.ErrConfigInvalid) || !strings.Contains(err.Error(), `checks[1].interval: "5x" is not a duration`) {
		t.Fatalf("invalid edit: %v", err)
	}
	if err := a.EditCheck("", appliance.CheckEdit{ID: "b", Kind: "http", Target: "http://127.0.0.1:2/", Interval: "30s", Device: "web01", Options: "{body_contains: ok}"}, "alice"); err != nil {
		t.Fatal(err)
	}
	if f, ok := a.CheckForm("b"); !ok || f.Options != "{body_contains: ok}" || f.Device != "web01" {
		t.Fatalf("form back: %+v", f)
	}
	// Sections edited as YAML: validated like the file, applied as a version.
	err = a.EditSection("maintenance", "- {name: x, weekly: {days: [funday], at: '02:00', duration: 1h}}\n", "alice")
	if !errors.Is(err, appliance.ErrConfigInvalid) || !strings.Contains(err.Error(), `"funday" is not a day`) {
		t.Fatalf("bad section: %v", err)
	}
	if err := a.EditSection("maintenance", "- {name: patch night, weekly: {days: [sun], at: '02:00', duration: 3h}}\n", "alice"); err != nil {
		t.Fatal(err)
	}
	if got := a.SectionYAML("maintenance"); !strings.Contains(got, "patch night") || len(a.Config().Maintenance) != 1 {
		t.Fatalf("section back: %q", got)
	}
	if err := a.EditSection("store", "raw_retention: 1h\n", "alice"); err == nil {
		t.Fatal("store section editable")
	}
	if err := a.EditSection("maintenance", "", "alice"); err != nil || len(a.Config().Maintenance) != 0 {
		t.Fatalf("removing a section: %v", err)
	}
	if err := a.DeleteCheck("a", "alice"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(a.ConfigYAML()), "# the seed file") {
		t.Fatalf("comments lost:\n%s", a.ConfigYAML())
	}
	a.Close()
	a = open()
	if ids := checkIDs(a); ids != "b" {
		t.Fatalf("after restart: %s", ids)
	}
	a.Close()
	os.WriteFile(cfgPath, []byte("site: Acme\nchecks:\n  - {id: c, kind: tcp, target: '127.0.0.1:3'}\n"), 0o644)
	a = open()
	defer a.Close()
	if ids := checkIDs(a); ids != "c" {
		t.Fatalf("after the file changed: %s", ids)
	}
	hist, _ := a.Store().ConfigHistory()
	var sources []string
	for _, h := range hist {
		sources = append(sources, h.Source)
	}
	if len(hist) != 6 || !strings.HasPrefix(sources[1], "web UI by alice") {
		t.Fatalf("history %v", sources)
	}
}

func checkIDs(a *appliance.Appliance) string {
	var ids []string
	for _, c := range a.Config().Checks {
		if !c.Builtin {
			ids = append(ids, c.ID)
		}
	}
	return strings.Join(ids, ",")
}

// TestTrapsBecomeDeviceEvents: the daemon's trap receiver turns a real
// snmptrap into an event attached to the sending device.
func TestTrapsBecomeDeviceEvents(t *testing.T) {
	bin, err := exec.LookPath("snmptrap")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("snmptrap is not installed (make test installs Debian's snmp)")
		}
		t.Skip("snmptrap is not installed")
	}
	pc, _ := net.ListenPacket("udp", "127.0.0.1:0")
	addr := pc.LocalAddr().String()
	pc.Close()
	a, _ := MustRun(t, "site: Acme\ntraps: {listen: '"+addr+"', communities: [public], v3_users: [{user: ups, auth_protocol: SHA, auth_password: authpass123, priv_protocol: AES, priv_password: privpass123}]}\ndevices:\n  - {name: core-switch, address: 127.0.0.1, class: switch}\nchecks: []\n")
	// Traps are UDP and unacknowledged: one is sent per poll until one is
	// stored (the receiver may not be bound yet for the first).
	waitFor(t, "the trap to arrive", patience, func() (bool, string) {
		out, err := exec.Command(bin, "-v", "2c", "-c", "public", addr, "", "1.3.6.1.6.3.1.1.5.3", "1.3.6.1.2.1.2.2.1.1.7", "i", "7").CombinedOutput()
		if err != nil {
			t.Fatalf("snmptrap: %v %s", err, out)
		}
		time.Sleep(50 * time.Millisecond)
		evs, _ := a.Store().Events("core-switch", time.Now().Add(-time.Minute), time.Now().Add(time.Minute))
		for _, e := range evs {
			if e.Source == "trap" && e.Name == "linkDown" {
				return true, ""
			}
		}
		return false, fmt.Sprintf("events of core-switch: %+v", evs)
	})
	// An SNMPv3 inform is acknowledged by the daemon's engine: snmptrap
	// -Ci exits non-zero unless the encrypted response comes back (within
	// 4 tries of 15 s each: a busy machine answers late, not never).
	cmd := exec.Command(bin, "-Ci", "-r", "3", "-t", "15", "-v", "3", "-u", "ups", "-l", "authPriv", "-a", "SHA", "-A", "authpass123", "-x", "AES", "-X", "privpass123",
		addr, "", "1.3.6.1.6.3.1.1.5.1")
	cmd.Env = append(os.Environ(), "MIBS=", "SNMP_PERSISTENT_DIR="+t.TempDir(), "SNMPCONFPATH="+t.TempDir())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("v3 inform not acknowledged: %v %s", err, out)
	}
	waitFor(t, "the v3 inform as an event", patience, func() (bool, string) {
		evs, _ := a.Store().Events("core-switch", time.Now().Add(-time.Minute), time.Now().Add(time.Minute))
		for _, e := range evs {
			if e.Name == "coldStart" && strings.HasSuffix(e.Detail, "[inform]") {
				return true, ""
			}
		}
		return false, fmt.Sprintf("events of core-switch: %+v", evs)
	})
	if id, _ := a.Store().GetBlob("snmp-engine-id"); len(id) < 5 {
		t.Fatalf("engine ID not kept in the store: %x", id)
	}
}
