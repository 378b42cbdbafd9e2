package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"outpost/firmware/identity"
	"outpost/store"
)

// The tests here run the real binary, as a technician would.

var binPath string

// testLDFlags stamps the test binaries' version (TestVersion checks it).
const testLDFlags = "-X outpost/appliance.Version=v9.9.9-test -X outpost/appliance.Commit=abc1234 -X outpost/appliance.BuildDate=2026-11-24T00:00:00Z"

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "outpost-bin-")
	if err != nil {
		panic(err)
	}
	binPath = filepath.Join(dir, "outpost")
	build := exec.Command("go", "build", "-ldflags", testLDFlags, "-o", binPath, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building outpost:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func outpost(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

func TestVersion(t *testing.T) {
	out, code := outpost(t, "version")
	if code != 0 || strings.TrimSpace(out) != "outpost v9.9.9-test (commit abc1234, built 2026-11-24T00:00:00Z)" {
		t.Fatalf("version: %d %q", code, out)
	}
}

func TestUsageErrors(t *testing.T) {
	if out, code := outpost(t); code != 2 || !strings.Contains(out, "Commands:") {
		t.Fatalf("no args: %d %s", code, out)
	}
	if out, code := outpost(t, "frobnicate"); code != 2 || !strings.Contains(out, `unknown command "frobnicate"`) {
		t.Fatalf("unknown command: %d %s", code, out)
	}
	if out, code := outpost(t, "check", "--nope"); code != 2 || !strings.Contains(out, "flag provided but not defined: -nope") {
		t.Fatalf("bad flag: %d %s", code, out)
	}
	if out, code := outpost(t, "check", "--config", "/nonexistent/site.yaml"); code != 1 || !strings.Contains(out, "reading config") {
		t.Fatalf("missing file: %d %s", code, out)
	}
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "site.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCheckPrintsScheduleOrExactError(t *testing.T) {
	good := writeConfig(t, "site: Acme Dental\nchecks:\n  - {id: web, kind: tcp, target: '127.0.0.1:80', interval: 30s}\n  - {id: dns, kind: tcp, target: '127.0.0.1:53', interval: 5m, timeout: 2s}\n")
	out, code := outpost(t, "check", "--config", good)
	if code != 0 || !strings.Contains(out, "ok, site \"Acme Dental\", 2 checks") || !strings.Contains(out, "NEXT RUN") || !strings.Contains(out, "web") {
		t.Fatalf("check good: %d\n%s", code, out)
	}
	bad := writeConfig(t, "site: Acme Dental\nchecks:\n  - id: web\n    kind: tcp\n    target: 127.0.0.1:80\n    interval: 5x\n")
	out, code = outpost(t, "check", "--config", bad)
	want := bad + `:6: checks[0].interval: "5x" is not a duration (e.g. 30s, 5m, 2h, 7d)`
	if code != 1 || !strings.Contains(out, want) {
		t.Fatalf("check bad: %d\n%s\nwant %s", code, out, want)
	}
	out, code = outpost(t, "check")
	if code != 0 || !strings.Contains(out, "embedded default config: ok") {
		t.Fatalf("check default: %d\n%s", code, out)
	}
}

// TestAllowCommandsAreWholeCommandLines: allowing a program allows it
// only with the arguments listed. A remediation that reuses an allowed
// program with other arguments (systemctl stop sshd where systemctl
// restart cups is allowed; sh -c where sh is) is refused by the real
// binary (`outpost check` and `outpost run` share the parser), which
// names how the program is allowed; nothing is created.
func TestAllowCommandsAreWholeCommandLines(t *testing.T) {
	dir := t.TempDir()
	pwned := filepath.Join(dir, "pwned")
	cases := []struct{ allow, command, want string }{
		{`[[/usr/bin/touch, ` + dir + `/ok]]`, `[/usr/bin/touch, ` + pwned + `]`,
			`command: ["/usr/bin/touch", "` + pwned + `"] is not allowed: healing.allow_commands allows /usr/bin/touch only as [/usr/bin/touch, ` + dir + `/ok]`},
		{`[/bin/sh]`, `[/bin/sh, -c, "touch ` + pwned + `"]`,
			`command: ["/bin/sh", "-c", "touch ` + pwned + `"] is not allowed: healing.allow_commands allows /bin/sh only as [/bin/sh]`},
		{`[[/usr/bin/touch, "*"], [/bin/sh, -c, "*"]]`, `[/usr/bin/touch, ` + pwned + `, ` + pwned + `2]`,
			`is not allowed: healing.allow_commands allows /usr/bin/touch only as [/usr/bin/touch, *]`},
		{`[[usr/bin/touch]]`, `[/usr/bin/touch]`, `healing.allow_commands[0]: "usr/bin/touch" must be an absolute path`},
		{`[[/usr/bin/../bin/touch]]`, `[/usr/bin/touch]`, `healing.allow_commands[0]: "/usr/bin/../bin/touch" must be a clean path`},
		{`[{command: /bin/sh}]`, `[/bin/sh]`, `an allow_commands entry is a program path or a list [program, arg, ...]`},
	}
	for _, c := range cases {
		cfg := writeConfig(t, "site: Acme\nhealing: {allow_commands: "+c.allow+"}\nchecks:\n  - id: app\n    kind: tcp\n    target: 127.0.0.1:1\n    remediations:\n      - {action: command, command: "+c.command+"}\n")
		out, code := outpost(t, "check", "--config", cfg)
		if code != 1 || !strings.Contains(out, c.want) {
			t.Errorf("allow %s, command %s: exit %d\n%s\nwant %s", c.allow, c.command, code, out, c.want)
		}
	}
	// The exact command line, and a wildcard argument, are allowed.
	cfg := writeConfig(t, "site: Acme\nhealing: {allow_commands: [[/usr/bin/touch, \"*\"]]}\nchecks:\n  - id: app\n    kind: tcp\n    target: 127.0.0.1:1\n    remediations:\n      - {action: command, command: [/usr/bin/touch, "+dir+"/ok]}\n")
	if out, code := outpost(t, "check", "--config", cfg); code != 0 {
		t.Fatalf("exact command refused: %d\n%s", code, out)
	}
	if _, err := os.Stat(pwned); err == nil {
		t.Fatal("a refused command ran")
	}
}

func TestOnceTable(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") }))
	defer up.Close()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := ln.Addr().String()
	ln.Close()
	cfg := writeConfig(t, fmt.Sprintf("site: Acme\nchecks:\n  - {id: web, kind: http, target: %q}\n  - {id: dead, kind: tcp, target: %q, timeout: 2s}\n", up.URL, closed))
	out, code := outpost(t, "once", "--config", cfg)
	if code != 1 || !strings.Contains(out, "1 of 4 checks not ok") { // with the built-in outpost-clock and outpost-store
		t.Fatalf("once: %d\n%s", code, out)
	}
	lines := strings.Split(out, "\n")
	if !strings.HasPrefix(lines[0], "CHECK") || !strings.Contains(lines[1], "web") || !strings.Contains(lines[1], "OK") ||
		!strings.Contains(lines[2], "dead") || !strings.Contains(lines[2], "CRITICAL") {
		t.Fatalf("once table:\n%s", out)
	}
	out, code = outpost(t, "once", "--config", cfg, "--only", "web")
	if code != 0 || strings.Contains(out, "dead") {
		t.Fatalf("once --only: %d\n%s", code, out)
	}
}

// TestRunStopsCleanlyOnSIGTERM runs the daemon, lets it store results,
// stops it with SIGTERM and checks everything it reported is on disk.
func TestRunStopsCleanlyOnSIGTERM(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") }))
	defer up.Close()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	status := ln.Addr().String()
	ln.Close()
	cfg := writeConfig(t, fmt.Sprintf("site: Acme\nlisten: %s\nchecks:\n  - {id: web, kind: http, target: %q, interval: 1s}\n", status, up.URL))
	data := t.TempDir()
	cmd := exec.Command(binPath, "run", "--config", cfg, "--data", data, "--ui-listen", "127.0.0.1:0")
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logs := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logs <- sc.Text()
		}
		close(logs)
	}()
	// Three runs of the 1 s check, as the daemon's own metrics count them.
	runs := regexp.MustCompile(`outpost_checks_run_total\{kind="http"\} (\d+)`)
	waitFor(t, "three http check runs in /metrics", patience, func() string {
		resp, err := http.Get("http://" + status + "/metrics")
		if err != nil {
			return "status endpoint not answering: " + err.Error()
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if m := runs.FindStringSubmatch(string(b)); m != nil {
			if n, _ := strconv.Atoi(m[1]); n >= 3 {
				return ""
			}
		}
		return "metrics:\n" + string(b)
	})
	resp, err := http.Get("http://" + status + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	out, code := outpost(t, "status", "--data", data)
	if code != 0 || !strings.Contains(out, "web") || !strings.Contains(out, "OK") {
		t.Fatalf("status: %d\n%s", code, out)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("daemon exit after SIGTERM: %v", err)
		}
	case <-time.After(patience):
		cmd.Process.Kill()
		t.Fatalf("daemon did not stop within %s of SIGTERM", patience)
	}
	var all []string
	for l := range logs {
		all = append(all, l)
	}
	if !strings.Contains(strings.Join(all, "\n"), "outpost stopped cleanly") {
		t.Fatalf("no clean-stop log line:\n%s", strings.Join(all, "\n"))
	}
	st, err := store.Open(filepath.Join(data, "outpost.db"), store.Options{})
	if err != nil {
		t.Fatalf("store after stop: %v", err)
	}
	defer st.Close()
	rs, err := st.Results("web", time.Now().Add(-time.Hour), time.Now())
	if err != nil || len(rs) < 3 {
		t.Fatalf("stored results after clean stop: %d, %v", len(rs), err)
	}
	// Config versions are sealed with the box's key, itself sealed with
	// the store key kept beside the store file.
	key, err := store.LoadKeyFile(filepath.Join(data, "keys", "store.key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetBlobKey(key); err != nil {
		t.Fatal(err)
	}
	id, err := identity.Load(st)
	if err != nil {
		t.Fatal(err)
	}
	st.SetSealer(id)
	cv, ok, err := st.CurrentConfig()
	if err != nil || !ok || cv.Version != 1 || !strings.Contains(string(cv.Raw), "site: Acme") {
		t.Fatalf("recorded config: %+v %v %v", cv, ok, err)
	}
}

// TestSecondInstanceFailsFast: the store lock keeps a second daemon on
// the same data dir from starting (and from corrupting anything).
func TestSecondInstanceFailsFast(t *testing.T) {
	data := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first := exec.CommandContext(ctx, binPath, "run", "--data", data, "--listen", "127.0.0.1:0", "--ui-listen", "127.0.0.1:0")
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	defer first.Wait()
	waitFor(t, "the first daemon's control socket", patience, func() string {
		if _, err := os.Stat(filepath.Join(data, "control.sock")); err != nil {
			return "first daemon not started: " + err.Error()
		}
		return ""
	})
	start := time.Now()
	out, code := outpost(t, "run", "--data", data, "--listen", "127.0.0.1:0", "--ui-listen", "127.0.0.1:0")
	if code == 0 || !strings.Contains(out, "locked") || time.Since(start) > 10*time.Second {
		t.Fatalf("second instance: code %d after %s:\n%s", code, time.Since(start), out)
	}
	first.Process.Signal(syscall.SIGTERM)
}

// TestIncidentCommands drives incidents through the CLI against a running
// daemon: list, show, acknowledge, note, run a remediation, audit.
func TestIncidentCommands(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	cfg := writeConfig(t, fmt.Sprintf(`site: Acme
healing: {allow_commands: [[/bin/echo, restarting db]], settle: 100ms}
checks:
  - id: db
    kind: tcp
    target: %s
    interval: 1s
    timeout: 500ms
    remediations:
      - {action: command, command: [/bin/echo, restarting db]}
`, dead))
	data := t.TempDir()
	cmd := exec.Command(binPath, "run", "--config", cfg, "--data", data, "--listen", "127.0.0.1:0", "--ui-listen", "127.0.0.1:0")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	var out string
	waitFor(t, "the db incident to open", patience, func() string {
		out, _ = outpost(t, "incidents", "--open", "--data", data)
		if !strings.Contains(out, " db ") {
			return "incidents --open:\n" + out
		}
		return ""
	})
	if !strings.Contains(out, "ID") {
		t.Fatalf("incidents --open:\n%s", out)
	}
	// Wait for healing to finish (one attempt, then escalation).
	waitFor(t, "incident 1 to be handed to a technician", patience, func() string {
		out, _ = outpost(t, "incident", "show", "1", "--data", data)
		if !strings.Contains(out, "technician") {
			return "incident show 1:\n" + out
		}
		return ""
	})
	if !strings.Contains(out, "detected") || !strings.Contains(out, "| restarting db") || !strings.Contains(out, "healing exhausted") {
		t.Fatalf("incident show:\n%s", out)
	}
	out, code := outpost(t, "incident", "ack", "1", "--by", "alice", "--note", "on my way", "--data", data)
	if code != 0 || !strings.Contains(out, "[alice] acknowledged: on my way") {
		t.Fatalf("ack: %d\n%s", code, out)
	}
	out, code = outpost(t, "incident", "ack", "1", "--by", "bob", "--data", data)
	if code != 1 || !strings.Contains(out, "already acknowledged by alice") {
		t.Fatalf("second ack: %d\n%s", code, out)
	}
	out, code = outpost(t, "incident", "note", "1", "--data", data)
	if code != 2 || !strings.Contains(out, "needs --note") {
		t.Fatalf("empty note: %d\n%s", code, out)
	}
	out, code = outpost(t, "heal", "db", "--by", "alice", "--data", data)
	if code != 0 || !strings.Contains(out, "run /bin/echo restarting db (command:/bin/echo): ok") {
		t.Fatalf("heal: %d\n%s", code, out)
	}
	out, code = outpost(t, "audit", "--data", data)
	if code != 0 || !strings.Contains(out, "alice") || !strings.Contains(out, "auto") {
		t.Fatalf("audit: %d\n%s", code, out)
	}
	out, code = outpost(t, "incident", "show", "99", "--data", data)
	if code != 1 || !strings.Contains(out, "no such incident: 99") {
		t.Fatalf("missing incident: %d\n%s", code, out)
	}
	out, code = outpost(t, "incidents", "--data", t.TempDir())
	if code != 1 || !strings.Contains(out, "cannot reach the outpost daemon") {
		t.Fatalf("no daemon: %d\n%s", code, out)
	}
}
