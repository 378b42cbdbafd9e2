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

// TestAgentBackupFolder: a real agent paired with a real box reports a
// backup target folder the server's administrator allowed
// (--allow-folder): the newest archive young and big enough is ok; made
// old, or cut short, it is critical; a folder outside the allow-list, a
// path climbing out of it, and a symbolic link inside it pointing
// elsewhere are refused by the agent, which logs it.
func TestAgentBackupFolder(t *testing.T) {
	target := t.TempDir()
	write := func(name string, size int, age time.Duration) {
		t.Helper()
		p := filepath.Join(target, name)
		if err := os.WriteFile(p, make([]byte, size), 0o644); err != nil {
			t.Fatal(err)
		}
		at := time.Now().Add(-age)
		if err := os.Chtimes(p, at, at); err != nil {
			t.Fatal(err)
		}
	}
	write("nightly-1.tar.zst", 4096, 26*time.Hour)
	write("nightly-2.tar.zst", 3072, 2*time.Hour)
	write("notes.txt", 10, time.Minute) // not an archive: the pattern leaves it out
	if err := os.Symlink("/etc", filepath.Join(target, "etc-link")); err != nil {
		t.Fatal(err)
	}
	ui := freePort(t)
	cfg := writeConfig(t, fmt.Sprintf(`site: Acme
agents:
  - {name: srv1}
checks:
  - {id: nightly, kind: agent_backup_folder, target: srv1, interval: 1s, options: {path: '%[1]s', pattern: '*.tar.zst', max_age: 26h, min_size: 2KiB, min_total: 5KiB}}
  - {id: outside, kind: agent_backup_folder, target: srv1, interval: 1s, options: {path: /etc}}
  - {id: climbing, kind: agent_backup_folder, target: srv1, interval: 1s, options: {path: '%[1]s/../..'}}
  - {id: through-link, kind: agent_backup_folder, target: srv1, interval: 1s, options: {path: '%[1]s/etc-link'}}
`, target))
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
		if out, code = outpost(t, "agent", "pair-code", "srv1", "--data", boxData); code != 0 {
			return "pair-code never answered:\n" + out + "\nbox log:\n" + boxLog.String()
		}
		return ""
	})
	m := regexp.MustCompile(`--pair-code (\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("pair-code output:\n%s", out)
	}
	ag := exec.Command(binPath, "agent", "run", "--listen", freePort(t), "--data", agentData, "--box", "https://"+ui, "--pair-code", m[1], "--allow-folder", target)
	var agLog logTail
	agLog.follow(ag)
	if err := ag.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { ag.Process.Signal(syscall.SIGTERM); ag.Wait() }()

	status := func(what string, re *regexp.Regexp) {
		t.Helper()
		waitFor(t, what, patience, func() string {
			out, _ := outpost(t, "status", "--data", boxData)
			if !re.MatchString(out) {
				return out + "\nagent log:\n" + agLog.String()
			}
			return ""
		})
	}
	status("the newest archive to be ok", regexp.MustCompile(`nightly\s+agent_backup_folder\s+srv1\s+OK\s.*newest file matching \*\.tar\.zst nightly-2\.tar\.zst, 3\.0 KiB, 2h0?m? old; 2 files, 7\.0 KiB in all`))
	for _, id := range []string{"outside", "climbing", "through-link"} {
		status(id+" to be refused", regexp.MustCompile(id+`\s+agent_backup_folder\s+srv1\s+UNKNOWN\s.*is not on this agent's allow-list`))
	}
	if !strings.Contains(agLog.String(), "folder read refused: not on this agent's allow-list") {
		t.Fatalf("the agent did not log the refusals:\n%s", agLog.String())
	}
	// The last night's archive was cut short; then no run for two days.
	write("nightly-2.tar.zst", 1000, 2*time.Hour)
	status("the short archive to be critical", regexp.MustCompile(`nightly\s+agent_backup_folder\s+srv1\s+CRITICAL\s.*nightly-2\.tar\.zst, 1000 B, 2h0?m? old: smaller than 2\.0 KiB`))
	write("nightly-2.tar.zst", 3072, 50*time.Hour)
	status("the old archive to be critical", regexp.MustCompile(`nightly\s+agent_backup_folder\s+srv1\s+CRITICAL\s.*nightly-1\.tar\.zst, 4\.0 KiB, 26h0?m? old: older than 26h`))
}
