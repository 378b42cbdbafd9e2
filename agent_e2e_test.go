//go:build linux

package main

import (
	"bufio"
	"fmt"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// logTail collects a process's output lines for assertions.
type logTail struct {
	mu    sync.Mutex
	lines []string
}

func (l *logTail) follow(cmd *exec.Cmd) {
	r, _ := cmd.StderrPipe()
	cmd.Stdout = cmd.Stderr
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			l.mu.Lock()
			l.lines = append(l.lines, sc.Text())
			l.mu.Unlock()
		}
	}()
}

func (l *logTail) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestAgentPairsWithRunningBox runs a real box daemon and a real agent
// daemon (both this binary) on loopback: the technician's pair code, the
// agent's checks with this machine's true disk figures, inventory
// collected by the box on its own after pairing, healing through the
// agent, and revocation.
func TestAgentPairsWithRunningBox(t *testing.T) {
	ui := freePort(t)
	cfg := writeConfig(t, `site: Acme
healing: {settle: 100ms}
agents:
  - name: srv1
    services: [outpost-e2e-unit]
checks:
  - {id: srv1-disk, kind: agent_disk, target: srv1, interval: 1s, options: {volume: /}}
  - id: srv1-up
    kind: agent_uptime
    target: srv1
    interval: 1s
    remediations:
      - {action: agent_restart, device: srv1, service: outpost-e2e-unit}
`)
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
		out, code = outpost(t, "agent", "pair-code", "srv1", "--data", boxData)
		if code != 0 {
			return "pair-code never answered:\n" + out + "\nbox log:\n" + boxLog.String()
		}
		return ""
	})
	m := regexp.MustCompile(`--box (\S+) --pair-code (\S+) --box-fingerprint (\S+)`).FindStringSubmatch(out)
	if m == nil || m[1] != "https://"+ui {
		t.Fatalf("pair-code output (want --box https://%s):\n%s", ui, out)
	}
	code, fp := m[2], m[3]

	// A wrong code is refused with a reason the technician can act on.
	bad, rc := outpost(t, "agent", "run", "--listen", "127.0.0.1:0", "--data", t.TempDir(), "--box", "https://"+ui, "--pair-code", "000-000", "--box-fingerprint", fp)
	if rc == 0 || !strings.Contains(bad, "pair code wrong") {
		t.Fatalf("wrong pair code: %d\n%s", rc, bad)
	}

	ag := exec.Command(binPath, "agent", "run", "--listen", "127.0.0.1:0", "--data", agentData, "--box", "https://"+ui, "--pair-code", code, "--box-fingerprint", fp)
	var agLog logTail
	agLog.follow(ag)
	if err := ag.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { ag.Process.Signal(syscall.SIGTERM); ag.Wait() }()

	// The disk check reports this machine's root volume as statfs sees it.
	var st unix.Statfs_t
	if err := unix.Statfs("/", &st); err != nil {
		t.Fatal(err)
	}
	// df's Use%, which is what a technician compares with.
	usedBlocks := float64(st.Blocks - st.Bfree)
	used := 100 * usedBlocks / (usedBlocks + float64(st.Bavail))
	re := regexp.MustCompile(`srv1-disk\s+agent_disk\s+srv1\s+OK\s.*?/ ([0-9.]+)% used`)
	waitFor(t, "agent_disk OK with this machine's figures", patience, func() string {
		out, _ = outpost(t, "status", "--data", boxData)
		m := re.FindStringSubmatch(out)
		if m == nil {
			return "agent_disk never OK:\n" + out + "\nbox log:\n" + boxLog.String() + "\nagent log:\n" + agLog.String()
		}
		got, _ := strconv.ParseFloat(m[1], 64)
		if got < used-1 || got > used+1 {
			return fmt.Sprintf("agent_disk says %.1f%% used, statfs %.1f%%", got, used)
		}
		return ""
	})
	if out, _ := outpost(t, "agent", "list", "--data", boxData); !regexp.MustCompile(`srv1\s+paired\s+127\.0\.0\.1:\d+`).MatchString(out) {
		t.Fatalf("agent list:\n%s", out)
	}
	// The box collects the first inventory by itself after pairing: at
	// once when it hears of the pairing, or at its next poll a minute
	// later if that first try found the agent not serving yet (so the
	// ceiling is that minute plus patience, not a fixed 10 s).
	waitFor(t, "the first agent inventory", time.Minute+patience, func() string {
		if !strings.Contains(boxLog.String(), "agent inventory collected") {
			return "no inventory collected after pairing:\n" + boxLog.String()
		}
		return ""
	})

	// Healing reaches the agent: the unit is on the allow-list, and the
	// agent's own answer (systemctl cannot restart a unit that does not
	// exist here) comes back, not "no agent".
	out, rc = outpost(t, "heal", "srv1-up", "--by", "alice", "--data", boxData)
	if !strings.Contains(out, "outpost-e2e-unit") || strings.Contains(out, "no agent") {
		t.Fatalf("heal through the agent: %d\n%s", rc, out)
	}
	// The agent's log reaches us through a pipe, after its answer.
	waitFor(t, "the agent to log the command", patience, func() string {
		if !strings.Contains(agLog.String(), "outpost-e2e-unit") {
			return "agent did not log the command:\n" + agLog.String()
		}
		return ""
	})

	out, rc = outpost(t, "agent", "revoke", "srv1", "--data", boxData)
	if rc != 0 || !strings.Contains(out, "it forgot this box too") {
		t.Fatalf("revoke: %d\n%s", rc, out)
	}
	waitFor(t, "the revoked agent to show in status", patience, func() string {
		out, _ = outpost(t, "status", "--data", boxData)
		if !regexp.MustCompile(`srv1-disk\s+agent_disk\s+srv1\s+(UNKNOWN|CRITICAL)\s.*revoked`).MatchString(out) {
			return "revoked agent still polled as fine:\n" + out
		}
		return ""
	})
}
