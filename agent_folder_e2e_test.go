//go:build linux

package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"outpost/checks"
	"outpost/store"
)

// TestAgentFolderGrowthAlarm: a simulated Exchange transaction-log
// folder on a server with a real agent. Its history (as the box
// recorded it) grew 50 MiB a day for nine days, then 1,000 MiB in the
// last day: the backups stopped truncating it. The box's agent_folder
// check reads the folder's real size through the agent (sparse files,
// 2,450 MiB), and the forecast check opens an incident naming the
// expected and the actual growth. A folder the server's allow-list does
// not name (the parent) is refused by the agent.
func TestAgentFolderGrowthAlarm(t *testing.T) {
	root := t.TempDir()
	logs := filepath.Join(root, "Exchange", "Logs")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	const nowMiB = 2450
	for i := 0; i < 5; i++ { // sparse: the sizes, not the disk space
		f, err := os.Create(filepath.Join(logs, fmt.Sprintf("E00%07X.log", i)))
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(nowMiB / 5 << 20); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	ui := freePort(t)
	cfg := writeConfig(t, fmt.Sprintf(`site: Acme Dental
provisioning: {mount_roots: [], block_devices: false}
agents:
  - name: exch01
checks:
  - {id: exch-logs, kind: agent_folder, target: exch01, interval: 2s, options: {path: '%s', critical: 100GB}}
  - {id: exch-all, kind: agent_folder, target: exch01, interval: 2s, options: {path: '%s'}}
  - {id: capacity, kind: forecast, interval: 2s, labels: {severity: warning}}
`, logs, filepath.Dir(logs)))
	boxData, agentData := t.TempDir(), t.TempDir()

	// The box's record of the folder: 50 MiB a day, then 1,000 in the
	// last day.
	st, err := store.Open(filepath.Join(boxData, "outpost.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for at := now.Add(-10 * 24 * time.Hour); at.Before(now.Add(-5 * time.Minute)); at = at.Add(10 * time.Minute) {
		a := now.Sub(at).Hours() / 24
		v := nowMiB - 1000*a
		if a > 1 {
			v = nowMiB - 1000 - 50*(a-1)
		}
		st.Append("exch-logs", checks.Result{Time: at, Status: checks.OK, Detail: "logs"}.WithValue(v))
	}
	if err := st.Flush(); err != nil {
		t.Fatal(err)
	}
	st.Close()

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
		out, code = outpost(t, "agent", "pair-code", "exch01", "--data", boxData)
		if code != 0 {
			return "pair-code never answered:\n" + out + "\nbox log:\n" + boxLog.String()
		}
		return ""
	})
	m := regexp.MustCompile(`--pair-code (\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("pair-code output:\n%s", out)
	}
	ag := exec.Command(binPath, "agent", "run", "--listen", freePort(t), "--data", agentData, "--box", "https://"+ui, "--pair-code", m[1], "--allow-folder", logs)
	var agLog logTail
	agLog.follow(ag)
	if err := ag.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { ag.Process.Signal(syscall.SIGTERM); ag.Wait() }()

	logsRow := regexp.MustCompile(`exch-logs\s+agent_folder\s+exch01\s+OK\s.*` + regexp.QuoteMeta(logs) + `: 2\.4 GiB in 5 files`)
	allRow := regexp.MustCompile(`exch-all\s+agent_folder\s+exch01\s+UNKNOWN\s.*is not on this agent's allow-list`)
	waitFor(t, "the folder's size through the agent, and the parent refused", patience, func() string {
		out, _ = outpost(t, "status", "--data", boxData)
		if !logsRow.MatchString(out) || !allRow.MatchString(out) {
			return "status:\n" + out + "\nbox log:\n" + boxLog.String() + "\nagent log:\n" + agLog.String()
		}
		return ""
	})
	waitFor(t, "the growth incident", patience, func() string {
		out, _ = outpost(t, "incidents", "--open", "--data", boxData)
		m := regexp.MustCompile(`exch-logs on exch01: size \(MiB\) growing (\d+)/day over the last day, against ([0-9.]+)/day before`).FindStringSubmatch(out)
		if m == nil {
			return "open incidents:\n" + out
		}
		// The median day-over-day rise of the last day (1,000 MiB/day
		// since 24 h ago, half of it at the day's midpoint), against
		// the 50 MiB/day before.
		recent, _ := strconv.ParseFloat(m[1], 64)
		base, _ := strconv.ParseFloat(m[2], 64)
		if recent < 400 || recent > 700 || base < 45 || base > 55 {
			t.Fatalf("growth %v/day against %v/day, want about 525 against 50:\n%s", recent, base, out)
		}
		return ""
	})
	if !strings.Contains(agLog.String(), "folder size refused: not on this agent's allow-list") {
		t.Errorf("the agent did not log the refused folder:\n%s", agLog.String())
	}
}
