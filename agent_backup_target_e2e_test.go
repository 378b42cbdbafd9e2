//go:build linux

package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestAgentBackupTarget: backup target folders on a server with a real
// agent, read through the same folder query as agent_folder. The nightly
// folder's newest file is fresh and big: OK. The weekly folder's newest
// file is 50 hours old: critical, an incident naming its age and the
// limit, resolved once a fresh file lands. The USB folder's newest file
// is fresh but 10 KiB against a 1 GiB minimum: critical. An empty folder
// is critical. The parent, not on the server's allow-list, is refused by
// the agent.
func TestAgentBackupTarget(t *testing.T) {
	root := filepath.Join(t.TempDir(), "Backups")
	nightly, weekly, usb, empty := filepath.Join(root, "nightly"), filepath.Join(root, "weekly"), filepath.Join(root, "usb"), filepath.Join(root, "empty")
	for _, d := range []string{nightly, weekly, usb, empty} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	file := func(path string, size int64, age time.Duration) {
		t.Helper()
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(size); err != nil { // sparse: the size, not the disk space
			t.Fatal(err)
		}
		f.Close()
		at := time.Now().Add(-age)
		if err := os.Chtimes(path, at, at); err != nil {
			t.Fatal(err)
		}
	}
	file(filepath.Join(nightly, "srv-2026-11-30.vbk"), 3<<30, 48*time.Hour)
	file(filepath.Join(nightly, "srv-2026-12-01.vib"), 2<<30, 3*time.Hour)
	file(filepath.Join(weekly, "srv-full.vbk"), 5<<30, 50*time.Hour)
	file(filepath.Join(usb, "rotate.tar"), 10<<10, time.Hour)

	ui := freePort(t)
	cfg := writeConfig(t, fmt.Sprintf(`site: Acme Dental
provisioning: {mount_roots: [], block_devices: false}
agents:
  - name: srv01
checks:
  - {id: nightly, kind: agent_backup_target, target: srv01, interval: 2s, options: {path: '%s', max_age: 26h, min_size: 1GB}}
  - {id: weekly, kind: agent_backup_target, target: srv01, interval: 2s, options: {path: '%s', max_age: 30h}}
  - {id: usb, kind: agent_backup_target, target: srv01, interval: 2s, options: {path: '%s', min_size: 1GiB}}
  - {id: empty, kind: agent_backup_target, target: srv01, interval: 2s, options: {path: '%s'}}
  - {id: all, kind: agent_backup_target, target: srv01, interval: 2s, options: {path: '%s'}}
`, nightly, weekly, usb, empty, root))
	boxData, agentData := t.TempDir(), t.TempDir()
	box := exec.Command(binPath, "run", "--config", cfg, "--data", boxData, "--listen", "127.0.0.1:0", "--ui-listen", ui)
	var boxLog logTail
	boxLog.follow(box)
	if err := box.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { box.Process.Signal(syscall.SIGTERM); box.Wait() }()
	var out string
	waitFor(t, "the box to answer pair-code", patience, func() string {
		var code int
		out, code = outpost(t, "agent", "pair-code", "srv01", "--data", boxData)
		if code != 0 {
			return "pair-code never answered:\n" + out + "\nbox log:\n" + boxLog.String()
		}
		return ""
	})
	m := regexp.MustCompile(`--pair-code (\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("pair-code output:\n%s", out)
	}
	args := []string{"agent", "run", "--listen", freePort(t), "--data", agentData, "--box", "https://" + ui, "--pair-code", m[1]}
	for _, d := range []string{nightly, weekly, usb, empty} {
		args = append(args, "--allow-folder", d)
	}
	ag := exec.Command(binPath, args...)
	var agLog logTail
	agLog.follow(ag)
	if err := ag.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { ag.Process.Signal(syscall.SIGTERM); ag.Wait() }()

	q := regexp.QuoteMeta
	rows := []*regexp.Regexp{
		regexp.MustCompile(`nightly\s+agent_backup_target\s+srv01\s+OK\s.*` + q(nightly) + `: newest file written 3h\d+m ago \(2\.0 GiB\), 2 files\n`),
		regexp.MustCompile(`weekly\s+agent_backup_target\s+srv01\s+CRITICAL\s.*` + q(weekly) + `: newest file written 2d2h\d+m ago \(5\.0 GiB\), 1 file: older than max_age 1d6h0m\n`),
		regexp.MustCompile(`usb\s+agent_backup_target\s+srv01\s+CRITICAL\s.*` + q(usb) + `: newest file written 1h\d+m ago \(10\.0 KiB\), 1 file: smaller than min_size 1\.0 GiB\n`),
		regexp.MustCompile(`empty\s+agent_backup_target\s+srv01\s+CRITICAL\s.*` + q(empty) + ` holds no files: no backup has been written there`),
		regexp.MustCompile(`all\s+agent_backup_target\s+srv01\s+UNKNOWN\s.*is not on this agent's allow-list`),
	}
	waitFor(t, "the backup targets through the agent, and the parent refused", patience, func() string {
		out, _ = outpost(t, "status", "--data", boxData)
		for _, r := range rows {
			if !r.MatchString(out) {
				return "no row " + r.String() + " in status:\n" + out + "\nbox log:\n" + boxLog.String() + "\nagent log:\n" + agLog.String()
			}
		}
		return ""
	})
	waitFor(t, "the stale backup's incident", patience, func() string {
		out, _ = outpost(t, "incidents", "--open", "--data", boxData)
		if !strings.Contains(out, "weekly") || !strings.Contains(out, "older than max_age 1d6h0m") {
			return "open incidents:\n" + out
		}
		return ""
	})
	// The weekly job runs again: the incident resolves.
	file(filepath.Join(weekly, "srv-full-2.vbk"), 5<<30, 0)
	waitFor(t, "the weekly target back to OK and its incident resolved", patience, func() string {
		out, _ = outpost(t, "status", "--data", boxData)
		if !regexp.MustCompile(`weekly\s+agent_backup_target\s+srv01\s+OK\s.*newest file written under a minute ago \(5\.0 GiB\), 2 files\n`).MatchString(out) {
			return "status:\n" + out
		}
		inc, _ := outpost(t, "incidents", "--open", "--data", boxData)
		if regexp.MustCompile(`(?m)^.*weekly.*$`).MatchString(inc) {
			return "weekly still open:\n" + inc
		}
		return ""
	})
	if !strings.Contains(agLog.String(), "folder size refused: not on this agent's allow-list") {
		t.Errorf("the agent did not log the refused folder:\n%s", agLog.String())
	}
}
