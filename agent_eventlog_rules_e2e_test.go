//go:build linux

package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
)

// TestAgentEventLogUnderLogRules: lines a real agent reads from a
// server's log file (agent_eventlog with keep: true) are kept as events
// of the server, searched by `outpost logs --source eventlog`, and a
// log_match rule over them (the shipped raid-degraded rule with source
// eventlog) goes critical on mdadm's failure line and is cleared by its
// rebuild line, as for syslog lines.
func TestAgentEventLogUnderLogRules(t *testing.T) {
	logFile := filepath.Join(t.TempDir(), "messages")
	if err := os.WriteFile(logFile, []byte("Mar  4 02:00:00 srv1 mdadm[1234]: NewArray event detected on md device /dev/md0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ui := freePort(t)
	cfg := writeConfig(t, fmt.Sprintf(`site: Acme
devices:
  - {name: srv1, class: server}
agents:
  - {name: srv1}
checks:
  - {id: srv1-log, kind: agent_eventlog, target: srv1, interval: 1s, options: {log: '%s', keep: true, warning: 0}}
  - {id: srv1-raid, kind: log_match, target: srv1, interval: 1s, options: {rule: raid-degraded, source: eventlog}}
`, logFile))
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
	ag := exec.Command(binPath, "agent", "run", "--listen", freePort(t), "--data", agentData, "--box", "https://"+ui, "--pair-code", m[1], "--allow-log", logFile)
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
				return out + "\nagent log:\n" + agLog.String() + "\nbox log:\n" + boxLog.String()
			}
			return ""
		})
	}
	// The first poll only finds where the file ends.
	status("the log check to have polled", regexp.MustCompile(`srv1-log\s+agent_eventlog\s+srv1\s+OK\s.*no matching entries`))
	appendLine := func(l string) {
		t.Helper()
		f, err := os.OpenFile(logFile, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteString(l + "\n"); err != nil {
			t.Fatal(err)
		}
	}
	appendLine("Mar  4 02:10:01 srv1 mdadm[1234]: Fail event detected on md device /dev/md0, component device /dev/sdb1")
	status("the raid rule to fire on the agent's line", regexp.MustCompile(`srv1-raid\s+log_match\s+srv1\s+CRITICAL\s.*Fail event detected on md device /dev/md0`))
	out, code := outpost(t, "logs", "--source", "eventlog", "--device", "srv1", "--data", boxData)
	if code != 0 || !regexp.MustCompile(`srv1 eventlog\.\S+ \S+: .*Fail event detected on md device /dev/md0`).MatchString(out) {
		t.Fatalf("logs --source eventlog: %d\n%s", code, out)
	}
	appendLine("Mar  4 05:10:02 srv1 mdadm[1234]: RebuildFinished event detected on md device /dev/md0")
	status("the rebuild line to clear it", regexp.MustCompile(`srv1-raid\s+log_match\s+srv1\s+OK\s.*cleared: .*RebuildFinished`))
}
