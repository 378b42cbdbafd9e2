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
// daemon (both this binary) on loopback: the technician's pair code (no
// --box-fingerprint: the code authenticates the box), the server's own
// allow-list, which the box's config cannot widen, the agent's checks
// with this machine's true disk figures, inventory collected by the box
// on its own after pairing, healing through the agent, and revocation of
// an agent that is down at the time, delivered when it is back.
func TestAgentPairsWithRunningBox(t *testing.T) {
	// Mostly waiting on the daemon: it runs beside the other waiting tests.
	t.Parallel()
	ui := freePort(t)
	cfg := writeConfig(t, `site: Acme
healing: {settle: 100ms}
agents:
  - name: srv1
    services: [outpost-e2e-unit, sshd]
    scripts:
      - {name: shell, command: /bin/sh, args: [-c, id]}
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
	m := regexp.MustCompile(`--box (\S+) --pair-code (\S+) --box-fingerprint (\S+) --allow-service outpost-e2e-unit --allow-service sshd --allow-script shell=/bin/sh\n`).FindStringSubmatch(out)
	if m == nil || m[1] != "https://"+ui {
		t.Fatalf("pair-code output (want --box https://%s and the config's allow-list):\n%s", ui, out)
	}
	code, fp := m[2], m[3]

	// A wrong code (the right handle, a wrong secret) is refused with a
	// reason the technician can act on.
	bad, rc := outpost(t, "agent", "run", "--listen", "127.0.0.1:0", "--data", t.TempDir(), "--box", "https://"+ui, "--pair-code", code[:4]+"000-000", "--box-fingerprint", fp)
	if rc == 0 || !strings.Contains(bad, "pair code wrong") {
		t.Fatalf("wrong pair code: %d\n%s", rc, bad)
	}

	// The server allows one unit: not sshd, not a shell.
	agListen := freePort(t)
	startAgent := func(args ...string) (*exec.Cmd, *logTail) {
		ag := exec.Command(binPath, append([]string{"agent", "run", "--listen", agListen, "--data", agentData}, args...)...)
		var l logTail
		l.follow(ag)
		if err := ag.Start(); err != nil {
			t.Fatal(err)
		}
		return ag, &l
	}
	ag, agLog := startAgent("--box", "https://"+ui, "--pair-code", code, "--allow-service", "outpost-e2e-unit")
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
		if !strings.Contains(agLog.String(), `msg=command action=restart service=outpost-e2e-unit`) {
			return "agent did not log the command:\n" + agLog.String()
		}
		return ""
	})
	// What the box's config asks beyond the server's allow-list is
	// refused by the agent, logged there with the full command line, and
	// the box says so too.
	if l := agLog.String(); !strings.Contains(l, `script \"shell\" = /bin/sh -c id (not on this server's allow-list)`) || !strings.Contains(l, `service \"sshd\" (not on this server's allow-list)`) {
		t.Fatalf("the agent did not log the refused part of the box's allow-list:\n%s", l)
	}
	if !strings.Contains(boxLog.String(), "the agent's own allow-list does not allow this script") {
		t.Fatalf("the box did not warn that the agent refuses part of its config:\n%s", boxLog.String())
	}

	// Revoked while the agent is down: the box destroys the key it
	// presented, and delivers its signed revocation when the agent is
	// back (its inventory round, every minute).
	ag.Process.Signal(syscall.SIGTERM)
	ag.Wait()
	out, rc = outpost(t, "agent", "revoke", "srv1", "--data", boxData)
	if rc != 0 || !strings.Contains(out, "could not be told now") {
		t.Fatalf("revoke while the agent is down: %d\n%s", rc, out)
	}
	ag, agLog = startAgent()
	waitFor(t, "the revocation to reach the agent", time.Minute+patience, func() string {
		if !strings.Contains(agLog.String(), "the box revoked this agent's pairing (signed revocation checked)") {
			return "the agent never heard of its revocation:\nagent log:\n" + agLog.String() + "\nbox log:\n" + boxLog.String()
		}
		return ""
	})
	waitFor(t, "the revoked agent to show in status", patience, func() string {
		out, _ = outpost(t, "status", "--data", boxData)
		if !regexp.MustCompile(`srv1-disk\s+agent_disk\s+srv1\s+(UNKNOWN|CRITICAL)\s.*revoked`).MatchString(out) {
			return "revoked agent still polled as fine:\n" + out
		}
		return ""
	})
}
