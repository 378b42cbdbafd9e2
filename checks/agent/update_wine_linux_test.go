//go:build linux

package agent

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"outpost/firmware/bundle"
	"outpost/firmware/identity"
)

// TestWindowsAgentUpdateUnderWine updates the Windows build of the agent
// under Wine through the box's client: two versions cross-built, v1
// installed as outpost.exe and run by a loop in the test that restarts
// it when it exits unsuccessfully (the Windows service's restart on
// failure). The agent stages the new binary as a .exe, runs it once,
// renames the running outpost.exe aside, the new one into its place,
// answers and exits; the loop starts v2, which removes the aside copy,
// answers the box as v2.0.0 and confirms itself.
func TestWindowsAgentUpdateUnderWine(t *testing.T) {
	wine := "/usr/lib/wine/wine64"
	if _, err := os.Stat(wine); err != nil {
		wine = needTool(t, "wine64")
	}
	prefix := winePrefix(t, wine)
	dir := t.TempDir()
	build := func(v string) string {
		out := filepath.Join(dir, "build-"+v, "outpost.exe")
		cmd := exec.Command("go", "build", "-ldflags", "-X outpost/appliance.Version="+v, "-o", out, "outpost")
		cmd.Env = append(os.Environ(), "GOOS=windows", "GOARCH=amd64")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("building the Windows binary %s: %v\n%s", v, err, b)
		}
		return out
	}
	v1, v2 := build("v1.0.0"), build("v2.0.0")
	install := filepath.Join(dir, "Outpost")
	if err := os.MkdirAll(install, 0o755); err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(install, "outpost.exe")
	copyFile(t, v1, exe)
	winPath := func(p string) string { return "Z:" + strings.ReplaceAll(p, "/", `\`) }

	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	newBin, err := os.ReadFile(v2)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	fw, err := bundle.MakeFirmware(priv, bundle.FirmwareManifest{Version: "v2.0.0", OS: "windows", Arch: "amd64", Created: now, Expires: now.Add(time.Hour)}, newBin)
	if err != nil {
		t.Fatal(err)
	}

	r := newBox(t)
	code, _, err := r.c.NewPairCode("srv1")
	if err != nil {
		t.Fatal(err)
	}
	// A fixed port: the agent is paired at it and comes back there.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	data := filepath.Join(dir, "agent")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	args := []string{winPath(exe), "agent", "run", "--listen", addr, "--data", winPath(data), "--msp-key", identity.FormatPublicKey(pub), "--box", r.pairTS.URL, "--pair-code", code}

	// The supervisor loop: restart on an unsuccessful exit after 100 ms.
	var (
		mu     sync.Mutex
		log    strings.Builder
		starts int
		cur    *exec.Cmd
	)
	listening := make(chan struct{}, 4)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			cmd := exec.Command(wine, args...)
			cmd.Env = append(os.Environ(), "WINEPREFIX="+prefix, "WINEDEBUG=-all")
			pr, pw := io.Pipe()
			cmd.Stdout, cmd.Stderr = pw, pw
			go func() {
				sc := bufio.NewScanner(pr)
				for sc.Scan() {
					mu.Lock()
					log.WriteString(sc.Text() + "\n")
					mu.Unlock()
					if strings.HasPrefix(sc.Text(), "agent listening on ") {
						listening <- struct{}{}
					}
				}
			}()
			err := cmd.Start()
			mu.Lock()
			if err == nil {
				starts++
				cur = cmd
			}
			mu.Unlock()
			if err == nil {
				err = cmd.Wait()
			}
			pw.Close()
			select {
			case <-stop:
				return
			default:
			}
			if err == nil {
				return
			}
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() {
		close(stop)
		mu.Lock()
		if cur != nil && cur.Process != nil {
			cur.Process.Kill()
		}
		mu.Unlock()
		<-done
		if t.Failed() {
			mu.Lock()
			t.Logf("agent log:\n%s", log.String())
			mu.Unlock()
		}
	})
	agentLog := func() string { mu.Lock(); defer mu.Unlock(); return log.String() }
	waitListening := func(what string) {
		t.Helper()
		select {
		case <-listening:
		case <-time.After(2 * patience):
			t.Fatalf("the Windows agent did not start (%s) within %s:\n%s", what, 2*patience, agentLog())
		}
	}
	waitListening("v1")
	r.addr = addr
	ctx, cancel := context.WithTimeout(context.Background(), 4*patience)
	defer cancel()
	info, err := r.c.Info(ctx, "srv1")
	if err != nil || info.OS != "windows" || info.Agent != "v1.0.0" {
		t.Fatalf("info %+v %v", info, err)
	}

	open := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(fw)), nil }
	out := r.c.UpdateAgents(ctx, []string{"srv1"}, UpdateTarget{Version: "v2.0.0", OS: "windows", Arch: "amd64"}, open, 2*patience)
	if len(out) != 1 || out[0].Result != UpdateUpdated || out[0].From != "v1.0.0" {
		t.Fatalf("update: %+v\nagent log:\n%s", out, agentLog())
	}
	t.Logf("Windows agent updated under Wine: %+v", out[0])
	if got, want := sum(t, exe), sum(t, v2); got != want {
		t.Fatal("outpost.exe is not the new binary")
	}
	if got, want := sum(t, filepath.Join(install, "outpost.prev.exe")), sum(t, v1); got != want {
		t.Fatal("outpost.prev.exe is not the old binary")
	}
	mu.Lock()
	n := starts
	mu.Unlock()
	if n != 2 {
		t.Fatalf("the agent was started %d times, want 2", n)
	}
	deadline := time.Now().Add(patience)
	for !strings.Contains(agentLog(), "agent update confirmed") {
		if time.Now().After(deadline) {
			t.Fatalf("the new version never confirmed itself:\n%s", agentLog())
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, l := range strings.Split(agentLog(), "\n") {
		if strings.Contains(l, "agent update") {
			t.Log(l)
		}
	}
	// The binary renamed aside was removed by the new version's start;
	// nothing staged is left.
	if left, _ := filepath.Glob(filepath.Join(install, ".outpost-*")); len(left) > 0 {
		t.Fatalf("left in the install directory: %v", left)
	}
	if _, err := os.Stat(filepath.Join(data, "firmware", "pending.json")); !os.IsNotExist(err) {
		t.Fatalf("update marker still there: %v", err)
	}
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

func sum(t *testing.T, p string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}
