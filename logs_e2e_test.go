//go:build linux

package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"outpost/checks"
)

// TestSyslogRuleThroughTheBinary: the real daemon receives util-linux
// logger's lines (RFC 3164 over UDP, RFC 5424 over TCP with octet
// counting), a log_match rule opens an incident carrying the line when
// more than 2 failed logins come within a minute, `outpost logs` finds
// them by device, severity and text, and the clear line resolves the
// incident.
func TestSyslogRuleThroughTheBinary(t *testing.T) {
	logger, err := exec.LookPath("logger")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("logger is not installed (make test installs Debian's bsdutils)")
		}
		t.Skip("logger is not installed")
	}
	pc, _ := net.ListenPacket("udp", "127.0.0.1:0")
	udp := pc.LocalAddr().String()
	pc.Close()
	tcp := freePort(t)
	_, udpPort, _ := net.SplitHostPort(udp)
	_, tcpPort, _ := net.SplitHostPort(tcp)
	cfg := writeConfig(t, fmt.Sprintf(`site: Acme
incidents: {confirm: 1, recover: 1}
syslog: {udp: '%s', tcp: '%s'}
devices:
  - {name: gw, address: 127.0.0.1, class: router}
checks:
  - id: failed-logins
    kind: log_match
    interval: 1s
    options: {device: gw, facility: authpriv, app: sshd, regex: 'Failed password', threshold: 2, window: 1m, quiet: 1h, clear: 'Accepted password'}
`, udp, tcp))
	data := t.TempDir()
	cmd := exec.Command(binPath, "run", "--config", cfg, "--data", data, "--listen", "127.0.0.1:0", "--ui-listen", "127.0.0.1:0")
	lt := &logTail{}
	lt.follow(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	waitFor(t, "the syslog receiver to listen", patience, func() string {
		if !strings.Contains(lt.String(), "syslog receiver listening") {
			return "daemon log:\n" + lt.String() // never "": that ends the wait
		}
		return ""
	})
	send := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(logger, args...).CombinedOutput(); err != nil {
			t.Fatalf("logger %v: %v %s", args, err, out)
		}
	}
	for i := range 3 {
		send("--udp", "--rfc3164", "-n", "127.0.0.1", "-P", udpPort, "-t", "sshd", "-p", "authpriv.warning", fmt.Sprintf("Failed password for root from 198.51.100.%d port 22 ssh2", i))
	}
	send("--udp", "-n", "127.0.0.1", "-P", udpPort, "-t", "cron", "-p", "cron.info", "session opened for user root")
	var out string
	waitFor(t, "the failed-logins incident", patience, func() string {
		out, _ = outpost(t, "incidents", "--open", "--data", data)
		if !strings.Contains(out, "failed-logins") {
			logs, _ := outpost(t, "logs", "--stats", "--data", data)
			return "incidents --open:\n" + out + "\n" + logs + "\n" + lt.String()
		}
		return ""
	})
	if !strings.Contains(out, "more than 2 matching in 1m0s") || !strings.Contains(out, "gw sshd: Failed password for root from 198.51.100.") {
		t.Fatalf("incident summary:\n%s", out)
	}

	out, code := outpost(t, "logs", "--device", "gw", "--severity", "warning", "--grep", "Failed password", "--since", "1h", "--data", data)
	if code != 0 || strings.Count(out, "authpriv.warning sshd: Failed password for root from 198.51.100.") != 3 || strings.Contains(out, "cron") {
		t.Fatalf("logs --grep: %d\n%s", code, out)
	}
	out, code = outpost(t, "logs", "--device", "gw", "--json", "--data", data)
	if code != 0 {
		t.Fatalf("logs --json: %d\n%s", code, out)
	}
	var evs []checks.Event
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var e checks.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("logs --json line %q: %v", sc.Text(), err)
		}
		evs = append(evs, e)
	}
	if len(evs) != 4 || evs[3].Name != "cron" || evs[3].Fields["format"] != "rfc5424" || evs[0].Fields["format"] != "rfc3164" || evs[0].Fields["sender"] != "127.0.0.1" {
		t.Fatalf("logs --json: %+v", evs)
	}
	if out, code = outpost(t, "logs", "--device", "nobody", "--data", data); code != 0 || !strings.Contains(out, "no matching lines or traps") {
		t.Fatalf("logs for nobody: %d\n%s", code, out)
	}
	if out, code = outpost(t, "logs", "--severity", "loud", "--data", data); code != 2 || !strings.Contains(out, `"loud" is not a syslog severity`) {
		t.Fatalf("logs --severity loud: %d\n%s", code, out)
	}

	send("--rfc5424", "--tcp", "--octet-count", "-n", "127.0.0.1", "-P", tcpPort, "-t", "sshd", "-p", "authpriv.info", "Accepted password for root from 198.51.100.1 port 22 ssh2")
	waitFor(t, "the incident to resolve", patience, func() string {
		out, _ = outpost(t, "incidents", "--data", data)
		if !strings.Contains(out, "resolved") || strings.Contains(out, "open") {
			return "incidents:\n" + out
		}
		return ""
	})
	// The line that resolved the incident is stored at the next flush.
	waitFor(t, "the fifth line stored", patience, func() string {
		out, code = outpost(t, "logs", "--stats", "--data", data)
		if code != 0 || !strings.Contains(out, "lines 5: 5 kept") || !strings.Contains(out, "connections 1") || !strings.Contains(out, "5 lines of 1 devices") {
			return fmt.Sprintf("logs --stats: %d\n%s", code, out)
		}
		return ""
	})
}

// `outpost logs --rules` lists the shipped rules without a daemon, and a
// config naming one validates while a misspelt one is refused with the
// line and the names.
func TestShippedRulesThroughTheBinary(t *testing.T) {
	out, code := outpost(t, "logs", "--rules")
	if code != 0 || !strings.Contains(out, "ups-on-battery-trap") || !strings.Contains(out, "sqlserver-critical") || !strings.Contains(out, "rule: ups-on-battery-trap") {
		t.Fatalf("logs --rules: exit %d\n%s", code, out)
	}
	good := writeConfig(t, "site: Acme\ndevices:\n  - {name: ups, address: 127.0.0.1}\nchecks:\n  - {id: power, kind: log_match, target: ups, options: {rule: ups-on-battery-trap}}\n")
	if out, code := outpost(t, "check", "--config", good); code != 0 {
		t.Fatalf("a config naming a shipped rule: exit %d\n%s", code, out)
	}
	bad := writeConfig(t, "site: Acme\ndevices:\n  - {name: ups, address: 127.0.0.1}\nchecks:\n  - {id: power, kind: log_match, target: ups, options: {rule: ups-on-batery}}\n")
	if out, code := outpost(t, "check", "--config", bad); code == 0 || !strings.Contains(out, `:5: checks[0].options.rule: "ups-on-batery" is not a shipped rule (one of`) {
		t.Fatalf("a misspelt rule: exit %d\n%s", code, out)
	}
}
