package appliance_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"outpost/appliance"
	"outpost/checks"
	"outpost/checks/backup"
	"outpost/checks/clock"
	"outpost/checks/incident"
)

const backupJob = "6c1f0d2e-3b4a-4c5d-9e8f-7a6b5c4d3e2f"

// runOnClock starts a daemon in-process on the fake clock fc with the
// config at cfgPath and data in dataDir; stop stops it.
func runOnClock(t *testing.T, cfgPath, dataDir string, fc *clock.Fake) (a *appliance.Appliance, stop func()) {
	t.Helper()
	a, err := appliance.New(appliance.Options{ConfigPath: cfgPath, DataDir: dataDir, Listen: "127.0.0.1:0", UIListen: "127.0.0.1:0",
		Clock: fc, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		a.Close()
	}
	t.Cleanup(stop)
	return a, stop
}

// backupIncident is the newest incident of check id.
func backupIncident(a *appliance.Appliance, id string) (incident.Incident, bool) {
	list, _ := a.Incidents().List(false, 0)
	for _, inc := range list {
		if inc.Check == id {
			return inc, true
		}
	}
	return incident.Incident{}, false
}

func pingBox(t *testing.T, a *appliance.Appliance, path, body string) {
	t.Helper()
	resp, err := http.Post(a.UIURL()+"/ping/"+path, "text/plain", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(got) != "OK" {
		t.Fatalf("ping %s: %d %q", path, resp.StatusCode, got)
	}
}

// TestBackupDeadMansSwitchOnTheDaemon runs the daemon on a fake clock: a
// daily job that never pings is late after a day and its grace and opens an
// incident; a ping (over plain HTTP on loopback, without a login) resolves
// it at once; a failing run with its log opens one again, showing the
// log's last line; a run that starts and never finishes goes critical
// after max_duration. The pings and the watch survive a restart, and
// `outpost backups`' report shows the runs with durations and output.
func TestBackupDeadMansSwitchOnTheDaemon(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "site.yaml")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf(`site: Acme
ui: {listen: "127.0.0.1:0", plain_http: true}
checks:
  - id: nightly
    kind: backup
    interval: 10m
    confirm: 1
    recover: 1
    options: {uuid: %s, period: 24h, grace: 1h, max_duration: 2h}
`, strings.ToUpper(backupJob))), 0o644)
	data := filepath.Join(dir, "data")
	t0 := time.Date(2031, 2, 3, 2, 0, 0, 0, time.UTC)
	fc := clock.NewFake(t0)
	a, stop := runOnClock(t, cfgPath, data, fc)

	// The fake clock moves by at most the check's interval at a time: the
	// scheduler drops a run that waited past its next slot.
	waitFor(t, "the job to be watched", patience, func() (bool, string) {
		fc.Advance(time.Minute)
		r, ok, state := latest(a, "nightly")
		return ok && r.Status == checks.OK && strings.Contains(r.Detail, "waiting for the first run"), state
	})
	waitFor(t, "the job that never ran to open an incident", patience, func() (bool, string) {
		fc.Advance(10 * time.Minute)
		inc, ok := backupIncident(a, "nightly")
		_, _, state := latest(a, "nightly")
		return ok && inc.State == incident.Open && strings.Contains(inc.Summary, "late: no run since the box started watching"), state
	})
	if d := fc.Now().Sub(t0); d < 25*time.Hour {
		t.Fatalf("late after %s, before a day and its grace", d)
	}

	pingBox(t, a, backupJob+"/start", "")
	fc.Advance(4 * time.Minute)
	pingBox(t, a, backupJob, "Archive name: host-2031-02-04\nThis archive: 1.2 GB\n")
	waitFor(t, "the success to resolve the incident", patience, func() (bool, string) {
		inc, _ := backupIncident(a, "nightly")
		_, _, state := latest(a, "nightly")
		return inc.State == incident.Resolved, fmt.Sprintf("incident %s; %s", inc.State, state)
	})

	fc.Advance(24 * time.Hour)
	pingBox(t, a, backupJob+"/start", "")
	fc.Advance(time.Minute)
	pingBox(t, a, backupJob+"/2", "Creating archive\nRepository /srv/borg does not exist.\n")
	waitFor(t, "the failure to open an incident", patience, func() (bool, string) {
		inc, ok := backupIncident(a, "nightly")
		_, _, state := latest(a, "nightly")
		return ok && inc.State == incident.Open && strings.Contains(inc.Summary, "exit status 2") && strings.Contains(inc.Summary, "Repository /srv/borg does not exist."), state
	})
	fc.Advance(time.Hour)
	pingBox(t, a, backupJob+"/start", "")
	waitFor(t, "the retry to run", patience, func() (bool, string) {
		r, ok, state := latest(a, "nightly")
		return ok && strings.Contains(r.Detail, "a new run started"), state
	})
	waitFor(t, "the run that never finishes to be too long", patience, func() (bool, string) {
		fc.Advance(10 * time.Minute)
		r, ok, state := latest(a, "nightly")
		return ok && r.Status == checks.Critical && strings.Contains(r.Detail, "running too long"), state
	})
	watched := fc.Now()
	stop()

	a, _ = runOnClock(t, cfgPath, data, fc)
	reports, err := a.BackupReports(0)
	if err != nil || len(reports) != 1 {
		t.Fatalf("reports after restart: %+v %v", reports, err)
	}
	r := reports[0]
	if r.Check != "nightly" || r.UUID != backupJob || r.Status != checks.Critical || !strings.Contains(r.Detail, "running too long") ||
		r.Watched.Before(t0) || r.Watched.After(t0.Add(11*time.Minute)) || r.URL != a.UIURL()+"/ping/"+backupJob || r.Schedule != "every 1d" {
		t.Fatalf("report after restart (watched from %s on, stopped at %s): %+v", t0, watched, r)
	}
	if len(r.Runs) != 3 || r.Runs[0].Result != backup.RunRunning || r.Runs[1].Result != backup.RunFailed || r.Runs[1].Duration != time.Minute ||
		*r.Runs[1].Exit != 2 || !strings.Contains(r.Runs[1].Output, "does not exist") || r.Runs[2].Result != backup.RunOK || r.Runs[2].Duration != 4*time.Minute ||
		!strings.Contains(r.Runs[2].Output, "This archive: 1.2 GB") {
		t.Fatalf("runs after restart: %+v", r.Runs)
	}
}
