package main

import (
	"crypto/tls"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestBorgmaticPingsTheBox: the real borgmatic backs up a folder with the
// real borg into a repository and reports through its healthchecks hook to
// the running box's ping URL on its HTTPS UI port: one job trusting the
// box's certificate (REQUESTS_CA_BUNDLE), one with verify_tls: false whose
// repository is missing, so it fails and sends its log. `outpost backups`
// lists both with their runs, durations, status and the tail of the
// output; the failure opens an incident; a job that never ran waits for its
// first run (it goes late under the injected clock in the appliance's
// TestBackupDeadMansSwitchOnTheDaemon).
func TestBorgmaticPingsTheBox(t *testing.T) {
	for _, prog := range []string{"borgmatic", "borg"} {
		if _, err := exec.LookPath(prog); err != nil {
			t.Fatalf("%s is needed (Debian packages borgmatic and borgbackup): %v", prog, err)
		}
	}
	const (
		okJob     = "0b7a4b52-6f4e-4a0c-9d43-2f1e8c3a5d71"
		brokenJob = "9e2d7c61-0a5b-4f38-b1c4-6d8e2f7a9b03"
		idleJob   = "5a4f3e2d-1c0b-4a9b-8c7d-6e5f4a3b2c1d"
	)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	uiAddr := ln.Addr().String()
	ln.Close()
	cfg := writeConfig(t, fmt.Sprintf(`site: Acme
ui: {listen: "%s"}
checks:
  - {id: borg-home, kind: backup, confirm: 1, recover: 1, options: {uuid: %s, period: 24h}}
  - {id: borg-offsite, kind: backup, confirm: 1, recover: 1, options: {uuid: %s, cron: "30 2 * * *", timezone: Europe/Berlin, grace: 2h, max_duration: 6h}}
  - {id: veeam-sql, kind: backup, options: {uuid: %s, period: 7d}}
`, uiAddr, okJob, brokenJob, idleJob))
	data := t.TempDir()
	cmd := exec.Command(binPath, "run", "--config", cfg, "--data", data, "--listen", "127.0.0.1:0")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()

	// The box's certificate, as a technician would save it from the UI.
	var certPEM []byte
	waitFor(t, "the web UI to answer TLS", patience, func() string {
		c, err := tls.Dial("tcp", uiAddr, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			return err.Error()
		}
		defer c.Close()
		certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.ConnectionState().PeerCertificates[0].Raw})
		return ""
	})
	work := t.TempDir()
	caFile := filepath.Join(work, "box.pem")
	os.WriteFile(caFile, certPEM, 0o644)
	src := filepath.Join(work, "src")
	os.MkdirAll(filepath.Join(src, "docs"), 0o755)
	os.WriteFile(filepath.Join(src, "docs", "invoice.txt"), []byte("Invoice 42: 3 crowns\n"), 0o644)
	os.WriteFile(filepath.Join(src, "patients.csv"), []byte(strings.Repeat("id,name\n", 1000)), 0o644)
	repo := filepath.Join(work, "repo")
	env := append(os.Environ(), "HOME="+work, "BORG_BASE_DIR="+filepath.Join(work, "borg"), "BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes",
		"BORG_RELOCATED_REPO_ACCESS_IS_OK=yes", "REQUESTS_CA_BUNDLE="+caFile, "NO_PROXY=*", "no_proxy=*")
	run := func(name string, args ...string) (string, error) {
		c := exec.Command(name, args...)
		c.Env, c.Dir = env, work
		out, err := c.CombinedOutput()
		return string(out), err
	}
	if out, err := run("borg", "init", "--encryption=none", repo); err != nil {
		t.Fatalf("borg init: %v\n%s", err, out)
	}
	borgmaticConfig := func(name, repo, pingURL, extra string) string {
		p := filepath.Join(work, name+".yaml")
		os.WriteFile(p, []byte(fmt.Sprintf(`location:
  source_directories: [%s]
  repositories: [%s]
storage:
  archive_name_format: 'outpost-{now:%%Y-%%m-%%dT%%H:%%M:%%S.%%f}'
hooks:
  healthchecks:
    ping_url: %s
%s`, src, repo, pingURL, extra)), 0o644)
		return p
	}
	okCfg := borgmaticConfig("home", repo, "https://"+uiAddr+"/ping/"+okJob, "")
	if out, err := run("borgmatic", "--config", okCfg, "--verbosity", "1", "create", "--stats"); err != nil || strings.Contains(out, "Healthchecks error") {
		t.Fatalf("borgmatic create: %v\n%s", err, out)
	}
	if out, err := run("borg", "list", repo); err != nil || !strings.Contains(out, "outpost-") {
		t.Fatalf("no archive in the repository: %v\n%s", err, out)
	}
	brokenCfg := borgmaticConfig("offsite", filepath.Join(work, "no-such-repo"), "https://"+uiAddr+"/ping/"+brokenJob, "    verify_tls: false\n")
	out, err := run("borgmatic", "--config", brokenCfg, "--verbosity", "1", "create")
	if err == nil || strings.Contains(out, "Healthchecks error") {
		t.Fatalf("borgmatic on a missing repository: %v\n%s", err, out)
	}

	out, code := outpost(t, "backups", "--data", data)
	if code != 0 {
		t.Fatalf("outpost backups: %d\n%s", code, out)
	}
	for _, want := range []string{
		"borg-home  OK  every 1d, grace 1h, max_duration 1h",
		"ping URL: https://" + uiAddr + "/ping/" + okJob,
		"borg-offsite  CRITICAL  cron 30 2 * * * (Europe/Berlin), grace 2h, max_duration 6h",
		"last run failed at",
		"veeam-sql  OK  every 7d",
		"waiting for the first run",
		"no pings yet",
		"output of the failed run at",
		"no-such-repo: Error running actions for repository",
		"    | ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("outpost backups lacks %q:\n%s", want, out)
		}
	}

	var reports []struct {
		Check  string
		Status string
		Runs   []struct {
			Result      string
			Duration_ns time.Duration
			Output      string
			Started     time.Time
			Finished    time.Time
		}
	}
	out, code = outpost(t, "backups", "--json", "--data", data)
	if code != 0 || json.Unmarshal([]byte(out), &reports) != nil || len(reports) != 3 {
		t.Fatalf("outpost backups --json: %d\n%s", code, out)
	}
	home, offsite := reports[0], reports[1]
	if home.Status != "ok" || len(home.Runs) != 1 || home.Runs[0].Result != "ok" || home.Runs[0].Duration_ns <= 0 ||
		home.Runs[0].Started.IsZero() || !strings.Contains(home.Runs[0].Output, "Creating archive") {
		t.Errorf("borg-home: %+v", home)
	}
	if offsite.Status != "critical" || len(offsite.Runs) != 1 || offsite.Runs[0].Result != "failed" || offsite.Runs[0].Duration_ns <= 0 ||
		!strings.Contains(offsite.Runs[0].Output, "no-such-repo") {
		t.Errorf("borg-offsite: %+v", offsite)
	}
	waitFor(t, "the failed backup's incident", patience, func() string {
		out, _ := outpost(t, "incidents", "--open", "--data", data)
		if !strings.Contains(out, "borg-offsite") || strings.Contains(out, "borg-home") {
			return "incidents --open:\n" + out
		}
		return ""
	})

	id, code := outpost(t, "backups", "new-id")
	if code != 0 || len(strings.TrimSpace(id)) != 36 {
		t.Fatalf("backups new-id: %d %q", code, id)
	}
	if out, code := outpost(t, "backups", "frobnicate"); code != 2 || !strings.Contains(out, `unknown backups action "frobnicate"`) {
		t.Fatalf("unknown action: %d %s", code, out)
	}
}
