package healing_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"outpost/appliance/config"
	"outpost/checks"
	"outpost/checks/clock"
	"outpost/checks/snmp"
	"outpost/healing"

	"go.yaml.in/yaml/v3"
)

// remediation builds the first remediation of a one-check config through
// the real config decoder.
func remediation(t *testing.T, allow, yaml string) healing.Action {
	t.Helper()
	return remediationYAML(t, "site: s\nhealing: {allow_commands: ["+allow+"]}\nchecks:\n  - id: c\n    kind: tcp\n    target: 127.0.0.1:1\n    remediations:\n      - "+yaml+"\n")
}

func remediationYAML(t *testing.T, y string) healing.Action {
	t.Helper()
	cfg, err := config.Parse("s.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	poller := snmp.NewPoller(nil)
	t.Cleanup(func() { poller.Close() })
	acts, err := healing.ConfigOf(cfg).Actions(cfg.Specs()[0], checks.Deps{SNMP: poller})
	if err != nil || len(acts) != 1 {
		t.Fatalf("%v %v", acts, err)
	}
	return acts[0]
}

func TestConfigErrors(t *testing.T) {
	cases := map[string]string{
		"{action: command, command: [/bin/echo, hi]}":            `s.yaml:8: checks[0].remediations[0].command: "/bin/echo" is not in healing.allow_commands`,
		"{action: command, command: [/usr/bin/true, -x]}":        `s.yaml:8: checks[0].remediations[0].command: ["/usr/bin/true", "-x"] is not allowed: healing.allow_commands allows /usr/bin/true only as [/usr/bin/true]`,
		"{action: command, command: [echo, hi]}":                 `s.yaml:8: checks[0].remediations[0].command: "echo" must be an absolute path`,
		"{action: reboot}":                                       `s.yaml:8: checks[0].remediations[0].action: unknown action "reboot" (one of agent_restart, command, http, snmp_set, systemd_restart, wol)`,
		"{action: wol, mac: nope, broadcast: '127.0.0.1:9'}":     `s.yaml:8: checks[0].remediations[0].mac: "nope" is not a MAC address like 00:11:22:33:44:55`,
		"{action: http, url: 'ftp://x/'}":                        `s.yaml:8: checks[0].remediations[0].url: "ftp://x/" is not an http:// or https:// URL`,
		"{action: systemd_restart, unit: nginx, restart: yes}":   `s.yaml:8: checks[0].remediations[0].restart: unknown field (expected one of action, unit)`,
		"{action: agent_restart, device: fs9, service: Spooler}": `s.yaml:8: checks[0].remediations[0].device: "fs9" is neither a configured device nor a configured agent`,
	}
	for y, want := range cases {
		_, err := config.Parse("s.yaml", []byte("site: s\nhealing: {allow_commands: [/usr/bin/true]}\nchecks:\n  - id: c\n    kind: tcp\n    target: 127.0.0.1:1\n    remediations:\n      - "+y+"\n"))
		if err == nil || err.Error() != want {
			t.Errorf("%s:\n got  %v\n want %s", y, err, want)
		}
	}
}

func TestCommandCapturesOutputWithoutShell(t *testing.T) {
	a := remediation(t, "[/bin/echo, \"*\", \"*\"]", "{action: command, command: [/bin/echo, 'hello; rm -rf /tmp/x', '$HOME']}")
	r := healing.NewRunner(nil, nil)
	e := r.Run(context.Background(), a, "c", 0, "alice", time.Second)
	if !e.OK || e.Output != "hello; rm -rf /tmp/x $HOME\n" || e.Who != "alice" {
		t.Fatalf("%+v", e)
	}
	slow := remediation(t, "[/bin/sleep, \"*\"]", "{action: command, command: [/bin/sleep, '5']}")
	e = r.Run(context.Background(), slow, "c", 0, "auto", 100*time.Millisecond)
	if e.OK || !strings.Contains(e.Error, "timed out") {
		t.Fatalf("timeout: %+v", e)
	}
}

func TestHTTPAction(t *testing.T) {
	var got atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got.Store(r.Method + " " + r.URL.Path + " " + r.Header.Get("X-Key") + " " + string(b))
		if r.URL.Path == "/bad" {
			http.Error(w, "nope", 403)
			return
		}
		io.WriteString(w, "outlet 4 cycled")
	}))
	defer srv.Close()
	a := remediation(t, "", "{action: http, url: '"+srv.URL+"/outlet/4', headers: {X-Key: k1}, body: 'cycle'}")
	e := healing.NewRunner(nil, nil).Run(context.Background(), a, "c", 0, "auto", time.Second)
	if !e.OK || !strings.Contains(e.Output, "outlet 4 cycled") || got.Load() != "POST /outlet/4 k1 cycle" {
		t.Fatalf("%+v %v", e, got.Load())
	}
	bad := remediation(t, "", "{action: http, url: '"+srv.URL+"/bad'}")
	e = healing.NewRunner(nil, nil).Run(context.Background(), bad, "c", 0, "auto", time.Second)
	if e.OK || !strings.Contains(e.Error, "403") {
		t.Fatalf("%+v", e)
	}
}

func TestWakeOnLANPacket(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	a := remediation(t, "", "{action: wol, mac: '00:11:22:aa:bb:cc', broadcast: '"+pc.LocalAddr().String()+"'}")
	e := healing.NewRunner(nil, nil).Run(context.Background(), a, "c", 0, "auto", time.Second)
	if !e.OK {
		t.Fatal(e.Error)
	}
	buf := make([]byte, 200)
	pc.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, _, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	mac, _ := net.ParseMAC("00:11:22:aa:bb:cc")
	want := append(bytes.Repeat([]byte{0xff}, 6), bytes.Repeat(mac, 16)...)
	if !bytes.Equal(buf[:n], want) {
		t.Fatalf("packet % x", buf[:n])
	}
}

type memAudit struct {
	mu sync.Mutex
	es []healing.AuditEntry
}

func (m *memAudit) Audit(e healing.AuditEntry) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.es = append(m.es, e)
	return nil
}

func TestAttemptLimitsAndTargetLock(t *testing.T) {
	fc := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	r := healing.NewRunner(fc, nil)
	l := healing.Limits{MaxAttempts: 3, Window: time.Hour}
	for i := 1; i <= 3; i++ {
		if ok, n := r.Allow("app", l); !ok || n != i {
			t.Fatalf("attempt %d refused (%v %d)", i, ok, n)
		}
		fc.Advance(10 * time.Minute)
	}
	if ok, n := r.Allow("app", l); ok || n != 3 {
		t.Fatalf("4th attempt within the hour allowed (%v %d)", ok, n)
	}
	if ok, _ := r.Allow("other", l); !ok {
		t.Fatal("limits are per check")
	}
	fc.Advance(35 * time.Minute) // the first attempt leaves the window
	if ok, _ := r.Allow("app", l); !ok {
		t.Fatal("attempt refused after the window moved on")
	}

	// Two actions on the same target never overlap.
	audit := &memAudit{}
	rr := healing.NewRunner(nil, audit)
	a := remediation(t, "[/bin/sleep, \"*\"]", "{action: command, command: [/bin/sleep, '0.2']}")
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); rr.Run(context.Background(), a, "c", 0, "auto", 5*time.Second) }()
	}
	wg.Wait()
	audit.mu.Lock()
	defer audit.mu.Unlock()
	if len(audit.es) != 2 {
		t.Fatalf("%d audit entries", len(audit.es))
	}
	first, second := audit.es[0], audit.es[1]
	if second.Time.Before(first.Time.Add(first.Duration - 20*time.Millisecond)) {
		t.Fatalf("actions overlapped: %v+%v then %v", first.Time, first.Duration, second.Time)
	}
}

// agents stands in for agent mode, which does not exist yet: it records
// what it was asked and answers like an agent would.
type agents struct {
	mu    sync.Mutex
	calls []string
}

func (a *agents) RestartService(ctx context.Context, device, service string) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := ctx.Deadline(); !ok {
		return "", fmt.Errorf("no deadline")
	}
	if device != "fs1" {
		return "", fmt.Errorf("%w for device %s", checks.ErrNoAgent, device)
	}
	a.calls = append(a.calls, device+"/"+service)
	return "service " + service + " restarted", nil
}

func TestAgentRestart(t *testing.T) {
	y := "site: s\ndevices:\n  - {name: fs1}\nchecks:\n  - id: c\n    kind: tcp\n    target: 127.0.0.1:1\n    remediations:\n      - {action: agent_restart, device: fs1, service: Spooler}\n"
	a := remediationYAML(t, y)
	if a.Target() != "agent:fs1/Spooler" || a.Describe() != "restart service Spooler on fs1 (agent)" {
		t.Fatalf("target %q, describe %q", a.Target(), a.Describe())
	}
	audit := &memAudit{}
	r := healing.NewRunner(nil, audit)
	// No agent support wired: a clear failure, audited like any other.
	e := r.Run(context.Background(), a, "c", 7, "auto", time.Second)
	if e.OK || e.Error != "no agent connected for device fs1 (no agent client in this process)" {
		t.Fatalf("without agents: %+v", e)
	}
	ag := &agents{}
	r.SetAgents(ag)
	e = r.Run(context.Background(), a, "c", 7, "alice", time.Second)
	if !e.OK || e.Output != "service Spooler restarted" || e.Who != "alice" || e.Incident != 7 {
		t.Fatalf("through an agent: %+v", e)
	}
	if fmt.Sprint(ag.calls) != "[fs1/Spooler]" {
		t.Fatalf("agent calls %v", ag.calls)
	}
	if len(audit.es) != 2 {
		t.Fatalf("%d audit entries, want 2", len(audit.es))
	}
}

// The attempts limit counts real time: a clock stepped ten years forward
// does not hand a crash-looping service a fresh set of attempts, and one
// stepped back a day does not block healing for a day. Attempts restored
// from the audit after a restart are judged by their age once.
func TestAttemptLimitSurvivesClockSteps(t *testing.T) {
	fc := clock.NewFake(time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC))
	r := healing.NewRunner(fc, nil)
	l := healing.Limits{MaxAttempts: 2, Window: time.Hour}
	r.Allow("app", l)
	r.Allow("app", l)
	fc.Jump(10 * 365 * 24 * time.Hour)
	if ok, _ := r.Allow("app", l); ok {
		t.Fatal("a forward step reset the attempts limit")
	}
	fc.JumpTo(time.Unix(0, 0))
	fc.Advance(61 * time.Minute)
	if ok, _ := r.Allow("app", l); !ok {
		t.Fatal("a backward step kept healing blocked after the window")
	}

	restarted := healing.NewRunner(fc, nil)
	now := fc.Now()
	restarted.Restore(healing.AuditEntry{Time: now.Add(-30 * time.Minute), Check: "db", Who: "auto"})
	restarted.Restore(healing.AuditEntry{Time: now.Add(24 * time.Hour), Check: "db", Who: "auto"}) // made before a step back
	if ok, _ := restarted.Allow("db", l); ok {
		t.Fatal("restored attempts not counted")
	}
	fc.Advance(61 * time.Minute)
	if ok, _ := restarted.Allow("db", l); !ok {
		t.Fatal("an audit entry from the future blocked healing beyond one window")
	}
}

func TestAllowedCommandMatchesWholeCommandLines(t *testing.T) {
	list := []healing.AllowedCommand{{"/usr/local/bin/fix-app"}, {"/usr/bin/systemctl", "restart", "*"}}
	for _, c := range []struct {
		argv []string
		ok   bool
	}{
		{[]string{"/usr/local/bin/fix-app"}, true},
		{[]string{"/usr/local/bin/fix-app", "--all"}, false},
		{[]string{"/usr/bin/systemctl", "restart", "cups"}, true},
		{[]string{"/usr/bin/systemctl", "stop", "sshd"}, false},
		{[]string{"/usr/bin/systemctl", "restart"}, false},
		{[]string{"/usr/bin/systemctl", "restart", "cups", "sshd"}, false},
		{[]string{"/bin/systemctl", "restart", "cups"}, false},
	} {
		got := false
		for _, a := range list {
			got = got || a.Allows(c.argv)
		}
		if got != c.ok {
			t.Errorf("%q: allowed %v, want %v", c.argv, got, c.ok)
		}
	}
	out, err := yaml.Marshal(healing.Config{AllowCommands: list})
	if err != nil || !strings.Contains(string(out), "allow_commands:\n    - /usr/local/bin/fix-app\n    - - /usr/bin/systemctl\n      - restart\n      - '*'\n") {
		t.Fatalf("%v\n%s", err, out)
	}
}
