package cli_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"outpost/appliance/cli"
	"outpost/appliance/config"
	"outpost/appliance/incidents"
	"outpost/checks"
	"outpost/checks/clock"
	"outpost/healing"
	"outpost/store"
)

// daemon serves a real incident engine on the control socket of a data
// dir, as the daemon does, and returns the dir and a way to feed results.
func daemon(t *testing.T, y string) (string, func(check string, s checks.Status)) {
	t.Helper()
	dir := t.TempDir()
	clk := clock.NewFake(time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC))
	st, err := store.Open(filepath.Join(dir, "outpost.db"), store.Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("site.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	eng := incidents.New(incidents.Options{Store: st, Clock: clk, Runner: healing.NewRunner(clk, nil), Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := eng.Configure(cfg); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	eng.Routes(mux)
	ln, err := net.Listen("unix", cli.ControlSocket(dir))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close(); eng.Close(); st.Close() })
	specs := map[string]checks.Spec{}
	for _, s := range cfg.Specs() {
		specs[s.ID] = s
	}
	return dir, func(check string, s checks.Status) {
		clk.Advance(time.Minute)
		eng.Observe(specs[check], checks.Result{Time: clk.Now(), Status: s, Detail: "connection refused"})
	}
}

func run(args ...string) (string, string, int) {
	var out, errb bytes.Buffer
	code := cli.Run(context.Background(), &cli.Env{Stdout: &out, Stderr: &errb, Stdin: strings.NewReader("")}, args)
	return out.String(), errb.String(), code
}

func TestIncidentCommandsInProcess(t *testing.T) {
	dir, feed := daemon(t, `site: s
healing: {allow_commands: [/bin/false]}
checks:
  - {id: nas, kind: tcp, target: '127.0.0.1:1', labels: {device: nas01}}
  - id: web
    kind: tcp
    target: 127.0.0.1:2
    remediations:
      - {action: command, command: [/bin/false]}
`)
	out, _, code := run("incidents", "--data", dir)
	if code != 0 || out != "no incidents\n" {
		t.Fatalf("empty list: %d %q", code, out)
	}
	feed("nas", checks.Critical)
	feed("nas", checks.Critical)

	out, _, code = run("incidents", "--open", "--data", dir)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 2 || !strings.HasPrefix(lines[0], "ID") || !strings.Contains(lines[1], "open") || !strings.Contains(lines[1], "nas01") || !strings.Contains(lines[1], "connection refused") {
		t.Fatalf("incidents --open: %d\n%s", code, out)
	}
	out, _, code = run("incident", "ack", "1", "--by", "alice", "--note", "looking", "--data", dir)
	if code != 0 || !strings.Contains(out, "incident 1: nas critical on nas01 (critical), acknowledged") || !strings.Contains(out, "[alice] acknowledged: looking") {
		t.Fatalf("ack: %d\n%s", code, out)
	}
	out, _, code = run("incident", "resolve", "1", "--by", "alice", "--note", "cable reseated", "--data", dir)
	if code != 0 || !strings.Contains(out, "resolution: technician") || !strings.Contains(out, "resolved by alice: cable reseated") {
		t.Fatalf("resolve: %d\n%s", code, out)
	}
	out, _, code = run("incidents", "--open", "--data", dir)
	if code != 0 || out != "no incidents\n" {
		t.Fatalf("after resolve: %d %q", code, out)
	}

	// A failing remediation run by hand: its result and exit status say so.
	out, errOut, code := run("heal", "web", "--action", "1", "--by", "bob", "--data", dir)
	if code != 1 || !strings.Contains(out, "run /bin/false (command:/bin/false): FAILED: /bin/false: exit status 1") || !strings.Contains(errOut, "1 of 1 actions failed") {
		t.Fatalf("heal: %d\n%s%s", code, out, errOut)
	}

	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"incident", "ack"}, 2, "usage: outpost incident show|ack|note|resolve ID"},
		{[]string{"incident", "ack", "x1", "--data", dir}, 2, `"x1" is not an incident number`},
		{[]string{"incident", "reopen", "1", "--data", dir}, 2, `unknown action "reopen"`},
		{[]string{"incident", "resolve", "1", "--by", "bob", "--data", dir}, 1, "incident 1 is already resolved"},
		{[]string{"heal", "nope", "--data", dir}, 1, `no such check: "nope"`},
		{[]string{"heal", "web", "--action", "3", "--data", dir}, 1, `check "web" has 1 remediation(s); there is no number 3`},
	} {
		_, errOut, code := run(c.args...)
		if code != c.code || !strings.Contains(errOut, c.msg) {
			t.Errorf("%v: %d %q, want %d and %q", c.args, code, errOut, c.code, c.msg)
		}
	}
}
