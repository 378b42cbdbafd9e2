//go:build linux

package agent

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"outpost/appliance/config"
	"outpost/checks"
	"outpost/checks/agent/wire"
)

// needTool skips when a tool is missing, except in CI where `make test`
// installs it and a skip would hide a broken setup.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not installed (apt-get install wine wine64 gcc-mingw-w64-x86-64)", name)
	}
	t.Skipf("%s is not installed: skipping the Windows agent under Wine (apt-get install wine wine64 gcc-mingw-w64-x86-64)", name)
	return ""
}

// winePrefix builds the ProcessPrng shim the Go runtime needs under
// Wine 8 and a Wine prefix holding it, once per user (creating a prefix
// takes tens of seconds).
func winePrefix(t *testing.T, wine string) string {
	t.Helper()
	gcc := needTool(t, "x86_64-w64-mingw32-gcc")
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	prefix := filepath.Join(cache, "outpost-test-wine")
	dll := filepath.Join(prefix, "drive_c", "windows", "system32", "bcryptprimitives.dll")
	if _, err := os.Stat(dll); err == nil {
		return prefix
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, wine, "cmd", "/c", "exit")
	cmd.Env = append(os.Environ(), "WINEPREFIX="+prefix, "WINEDEBUG=-all")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("creating the Wine prefix: %v\n%s", err, out)
	}
	out, err := exec.Command(gcc, "-shared", "-O2", "-o", dll, "testdata/wine/bcryptprimitives.c", "testdata/wine/bcryptprimitives.def", "-ladvapi32").CombinedOutput()
	if err != nil {
		t.Fatalf("building the shim DLL: %v\n%s", err, out)
	}
	return prefix
}

// TestWindowsAgentUnderWine runs the Windows build of outpost as an agent
// under Wine: console-mode service wrapper, pairing, pinned transport,
// the allow-list, and WMI answers Wine cannot give coming back as a clear
// per-check error.
func TestWindowsAgentUnderWine(t *testing.T) {
	// Debian installs wine64 outside PATH.
	wine := "/usr/lib/wine/wine64"
	if _, err := os.Stat(wine); err != nil {
		wine = needTool(t, "wine64")
	}
	prefix := winePrefix(t, wine)
	dir := t.TempDir()
	exe := filepath.Join(dir, "outpost.exe")
	build := exec.Command("go", "build", "-o", exe, "outpost")
	build.Env = append(os.Environ(), "GOOS=windows", "GOARCH=amd64")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the Windows binary: %v\n%s", err, out)
	}

	r := newBox(t)
	peers := PeersFromConfig(r.cfg.Agents)
	peers[0].Services = []string{"Spooler"}
	peers[0].Scripts = []wire.Script{{Name: "ver", Command: `C:\windows\system32\cmd.exe`, Args: []string{"/c", "echo", "from-wine"}}}
	r.c.SetPeers(peers)
	code, _, err := r.c.NewPairCode("srv1")
	if err != nil {
		t.Fatal(err)
	}
	// The server's own allow-list, as `agent install --allow-service
	// Spooler --allow-script ver=...` leaves it (args added by hand).
	if err := os.MkdirAll(filepath.Join(dir, "agent"), 0o700); err != nil {
		t.Fatal(err)
	}
	allow := "services: [Spooler]\nscripts:\n  - {name: ver, command: 'C:\\windows\\system32\\cmd.exe', args: [/c, echo, from-wine]}\nlogs: [Application]\n"
	if err := os.WriteFile(filepath.Join(dir, "agent", "allow.yaml"), []byte(allow), 0o600); err != nil {
		t.Fatal(err)
	}
	winData := "Z:" + strings.ReplaceAll(filepath.Join(dir, "agent"), "/", `\`)
	cmd := exec.Command(wine, exe, "agent", "run", "--listen", "127.0.0.1:0", "--data", winData, "--box", r.pairTS.URL, "--pair-code", code)
	cmd.Env = append(os.Environ(), "WINEPREFIX="+prefix, "WINEDEBUG=-all")
	stdout, _ := cmd.StdoutPipe()
	if testing.Verbose() {
		cmd.Stderr = os.Stderr
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := make(chan string, 4)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	// Wine starting up (wineserver, the prefix) is slow, and slower on a
	// busy machine: wait for the agent's own line, with a generous ceiling.
	deadline := time.After(2 * patience)
	for r.addr == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("the Windows agent exited before listening")
			}
			t.Log(l)
			if a, ok := strings.CutPrefix(l, "agent listening on "); ok {
				r.addr, _, _ = strings.Cut(a, " ")
			}
		case <-deadline:
			t.Fatalf("the Windows agent did not start within %s", 2*patience)
		}
	}
	rec, ok, err := r.st.GetAgent("srv1")
	if err != nil || !ok || rec.OS != "windows" {
		t.Fatalf("pairing record %+v %v %v", rec, ok, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*patience)
	defer cancel()
	info, err := r.c.Info(ctx, "srv1")
	if err != nil || info.OS != "windows" {
		t.Fatalf("info %+v %v", info, err)
	}

	// Wine's WMI returns rows but not their properties: a per-check
	// error naming the class and property, and the agent keeps serving.
	a, err := r.c.Query(ctx, "srv1", wire.Query{Kind: wire.QueryService, Name: "Spooler"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(a.Error, "Win32_Service") {
		t.Fatalf("WMI error not explained: %+v", a)
	}
	t.Logf("agent_service under Wine: %s", a.Error)
	cfg, err := config.Parse("w.yaml", []byte("site: w\nagents: [{name: srv1}]\nchecks:\n  - {id: svc, kind: agent_service, target: srv1, options: {service: Spooler}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	ch, err := checks.Build(cfg.Specs()[0], checks.Deps{Agents: r.c})
	if err != nil {
		t.Fatal(err)
	}
	if res := ch.Check(ctx); res.Status != checks.Unknown || !strings.Contains(res.Detail, "WMI") {
		t.Fatalf("%+v", res)
	}
	if _, err := r.c.Info(ctx, "srv1"); err != nil {
		t.Fatalf("agent gone after a WMI failure: %v", err)
	}

	// Allow-list: an allowed script runs, anything else is refused by
	// the agent itself, and a replayed command too.
	out, err := r.c.RunScript(ctx, "srv1", "ver")
	if err != nil || !strings.Contains(out, "from-wine") {
		t.Fatalf("allowed script: %q %v", out, err)
	}
	cn := r.conn(t, rec)
	var res wire.CommandResult
	err = r.c.send(ctx, "srv1", cn, "POST", wire.PathCommand, wire.Command{Action: "restart", Target: "Schedule", Nonce: newNonce(), Time: time.Now()}, &res)
	if !errors.Is(err, ErrRefused) {
		t.Fatalf("off-list restart: %v", err)
	}
	// A file the allow-list does not name is not read as a log.
	a, err = r.c.Query(ctx, "srv1", wire.Query{Kind: wire.QueryEventLog, Events: &wire.EventQuery{Log: `C:\windows\win.ini`, Cursor: "x:0", Pattern: "."}})
	if err != nil || a.Events != nil || !strings.Contains(a.Error, "allow-list") {
		t.Fatalf("log outside the allow-list: %+v %v", a, err)
	}
	c := wire.Command{Action: "script", Target: "ver", Nonce: newNonce(), Time: time.Now()}
	if err := r.c.send(ctx, "srv1", cn, "POST", wire.PathCommand, c, &res); err != nil {
		t.Fatal(err)
	}
	if err := r.c.send(ctx, "srv1", cn, "POST", wire.PathCommand, c, &res); !errors.Is(err, ErrRefused) {
		t.Fatalf("replayed command: %v", err)
	}
}
