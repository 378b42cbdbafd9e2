//go:build linux

package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"outpost/firmware/bundle"
)

// TestAgentUpdateThroughTheBox runs a real box and a real agent, the
// agent an old version (v1.0.0, firmwaretest build) installed in a
// temporary directory under a supervisor that restarts it on failure as
// systemd's Restart=on-failure does. `outpost agent update --bundle` at
// the box: refused by an agent that trusts no MSP key; then, with the
// key set on the server, refused when signed by another key (a box
// holding the agent's pairing cannot push its own build), tampered, or a
// downgrade, each with nothing changed; a bundle for another OS/arch
// skipped; the real update restarts the agent as v2.0.0, which confirms
// itself by answering the box, and `agent list` shows its version.
func TestAgentUpdateThroughTheBox(t *testing.T) {
	// Mostly waiting on the daemon: it runs beside the other waiting tests.
	t.Parallel()
	bins := firmwareBinaries(t)
	root := t.TempDir()
	keys, other := filepath.Join(root, "keys"), filepath.Join(root, "other")
	mustOutpost(t, "bundle", "keygen", "--out", keys)
	mustOutpost(t, "bundle", "keygen", "--out", other)
	optDir, agentData, bundles := filepath.Join(root, "opt"), filepath.Join(root, "agent"), filepath.Join(root, "bundles")
	for _, d := range []string{optDir, bundles} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	agentBin := filepath.Join(optDir, "outpost")
	copyBinary(t, bins[fwOld], agentBin)
	sign := func(key, v, label string) string {
		out := filepath.Join(bundles, label+"-"+filepath.Base(key)+".bundle")
		mustOutpost(t, "bundle", "firmware", "--key", filepath.Join(key, "msp.key"), "--binary", bins[v], "--version", label, "--out", out)
		return out
	}
	good := sign(keys, fwNew, fwNew)

	ui := freePort(t)
	cfg := writeConfig(t, "site: Acme\nagents:\n  - name: srv1\n")
	boxData := t.TempDir()
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
			return out + "\nbox log:\n" + boxLog.String()
		}
		return ""
	})
	m := regexp.MustCompile(`--pair-code (\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("pair-code output:\n%s", out)
	}
	agListen := freePort(t)
	run := []string{"agent", "run", "--listen", agListen, "--data", agentData}

	// Paired, but no MSP key on the server: every update is refused.
	sup := startSupervisor(t, agentBin, append(run, "--box", "https://"+ui, "--pair-code", m[1]), nil)
	waitAgent := func(sup *supervisor, v string) {
		t.Helper()
		waitFor(t, "agent srv1 answering the box as "+v, patience, func() string {
			out, _ := outpost(t, "agent", "list", "--data", boxData)
			if regexp.MustCompile(`srv1\s+paired\s+.*\s` + regexp.QuoteMeta(v) + `\s`).MatchString(out) {
				return ""
			}
			return out + "\nagent log:\n" + sup.tail()
		})
	}
	waitAgent(sup, fwOld)
	update := func(args ...string) (string, int) {
		return outpost(t, append([]string{"agent", "update", "--data", boxData, "--wait", "2m"}, args...)...)
	}
	unchanged := func(t *testing.T, sup *supervisor, starts int) {
		t.Helper()
		if sha(t, agentBin) != sha(t, bins[fwOld]) {
			t.Fatal("the agent's binary changed")
		}
		if _, err := os.Stat(agentBin + ".prev"); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("outpost.prev exists: %v", err)
		}
		if stale, _ := filepath.Glob(filepath.Join(optDir, ".outpost-*")); len(stale) > 0 {
			t.Fatalf("left behind: %v", stale)
		}
		if n := sup.startCount(); n != starts {
			t.Fatalf("the agent was started %d times, want %d", n, starts)
		}
	}
	out, code := update("--bundle", good, "srv1")
	if code != 1 || !regexp.MustCompile(`srv1\s+refused\s+`+fwOld+`\s+`+fwNew+`\s.*trusts no MSP key`).MatchString(out) {
		t.Fatalf("update of an agent without an MSP key: exit %d\n%s", code, out)
	}
	unchanged(t, sup, 1)
	if !strings.Contains(sup.log(), "agent update refused") {
		t.Fatalf("the agent did not log the refusal:\n%s", sup.tail())
	}
	sup.halt()

	// The administrator sets the key on the server (kept in its data
	// directory: later starts without the flag keep it).
	sup = startSupervisor(t, agentBin, append(run, "--msp-key", filepath.Join(keys, "msp.pub")), nil)
	waitAgent(sup, fwOld)

	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	tampered := bytes.Clone(data)
	tampered[len(tampered)-5000] ^= 0x40
	tamperedFile := filepath.Join(bundles, "tampered.bundle")
	if err := os.WriteFile(tamperedFile, tampered, 0o644); err != nil {
		t.Fatal(err)
	}
	priv, err := bundle.ParseKey(mustRead(t, filepath.Join(keys, "msp.key")))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	otherArch, err := bundle.MakeFirmware(priv, bundle.FirmwareManifest{Version: fwNew, OS: "windows", Arch: "amd64", Created: now, Expires: now.Add(time.Hour)}, mustRead(t, bins[fwNew]))
	if err != nil {
		t.Fatal(err)
	}
	otherArchFile := filepath.Join(bundles, "windows.bundle")
	if err := os.WriteFile(otherArchFile, otherArch, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, file, want string }{
		{"signed by another key", sign(other, fwNew, fwNew), "not by the MSP key this agent trusts"},
		{"tampered", tamperedFile, "the binary was changed after signing"},
		{"downgrade", sign(keys, fwOld, "v0.9.0"), "v0.9.0 is a downgrade: this agent has run " + fwOld},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, code := update("--bundle", c.file, "--all")
			if code != 1 || !regexp.MustCompile(`srv1\s+refused\s.*update refused by the agent: .*`+regexp.QuoteMeta(c.want)).MatchString(out) {
				t.Fatalf("exit %d\n%s\nwant %q", code, out, c.want)
			}
			unchanged(t, sup, 1)
		})
	}
	if l := sup.log(); !strings.Contains(l, `msg="agent update refused"`) || !strings.Contains(l, "running="+fwOld) || !strings.Contains(l, "to=v0.9.0") {
		t.Fatalf("the agent did not log its refusals with the versions:\n%s", sup.tail())
	}
	out, code = update("--bundle", otherArchFile, "--all")
	if code != 0 || !regexp.MustCompile(`srv1\s+skipped\s.*runs on linux/`).MatchString(out) {
		t.Fatalf("a bundle for another OS: exit %d\n%s", code, out)
	}
	unchanged(t, sup, 1)

	// The real update: installed, restarted by the supervisor as v2.0.0,
	// confirmed once it answered the box.
	out, code = update("--bundle", good, "--all")
	if code != 0 || !regexp.MustCompile(`srv1\s+updated\s+`+fwOld+`\s+`+fwNew+`\s`).MatchString(out) {
		t.Fatalf("update: exit %d\n%s\nagent log:\n%s", code, out, sup.tail())
	}
	t.Logf("agent update:\n%s", out)
	if sha(t, agentBin) != sha(t, bins[fwNew]) || sha(t, agentBin+".prev") != sha(t, bins[fwOld]) {
		t.Fatal("the agent's binary is not the new one, or outpost.prev not the old one")
	}
	if n := sup.startCount(); n != 2 {
		t.Fatalf("the agent was started %d times, want 2", n)
	}
	waitAgent(sup, fwNew)
	waitFor(t, "the agent to confirm its update", patience, func() string {
		if strings.Contains(sup.log(), "agent update confirmed") {
			return ""
		}
		return sup.tail()
	})
	if _, err := os.Stat(filepath.Join(agentData, "firmware", "pending.json")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the update marker is still there: %v", err)
	}
	// The version it runs again, and the one it left: not sent / refused.
	out, code = update("--bundle", good, "srv1")
	if code != 0 || !regexp.MustCompile(`srv1\s+skipped\s.*runs `+fwNew+` already`).MatchString(out) {
		t.Fatalf("the same version again: exit %d\n%s", code, out)
	}
	out, code = update("--bundle", sign(keys, fwOld, fwOld), "srv1")
	if code != 1 || !strings.Contains(out, fwOld+" is a downgrade: this agent has run "+fwNew) {
		t.Fatalf("back to the old version: exit %d\n%s", code, out)
	}
	if n := sup.startCount(); n != 2 {
		t.Fatalf("the agent was started %d times after the refusals, want 2", n)
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAgentUpdateRollsBack: a new agent version that crashes at every
// start, and one that runs but is taken as never answering the box (the
// firmwaretest build's fault hook), are both replaced by the previous
// binary without anyone's help; the agent answers as v1.0.0 again and
// logs the rollback with the reason. The box reports the crashing one as
// failed (it never answers as v2.0.0); the other did answer as v2.0.0
// before its window ran out.
func TestAgentUpdateRollsBack(t *testing.T) {
	// Mostly waiting on the daemon: it runs beside the other waiting tests.
	t.Parallel()
	for _, c := range []struct {
		fault, result, reason string
		starts                int
	}{
		// v1; v2's three starts and the fourth that puts v1 back; v1.
		{"crash", "failed", fwNew + " did not come up healthy in 3 starts", 6},
		// v1; v2 until its window ends; v1.
		{"unhealthy", "updated", fwNew + " not healthy within its 10s health window: firmware test fault", 3},
	} {
		t.Run(c.fault, func(t *testing.T) { agentRollsBack(t, c.fault, c.result, c.reason, c.starts) })
	}
}

func agentRollsBack(t *testing.T, fault, result, reason string, starts int) {
	bins := firmwareBinaries(t)
	root := t.TempDir()
	keys := filepath.Join(root, "keys")
	mustOutpost(t, "bundle", "keygen", "--out", keys)
	agentBin := filepath.Join(root, "outpost")
	copyBinary(t, bins[fwOld], agentBin)
	good := filepath.Join(root, "v2.bundle")
	mustOutpost(t, "bundle", "firmware", "--key", filepath.Join(keys, "msp.key"), "--binary", bins[fwNew], "--version", fwNew, "--out", good)

	ui := freePort(t)
	boxData := t.TempDir()
	box := exec.Command(binPath, "run", "--config", writeConfig(t, "site: Acme\nagents:\n  - name: srv1\n"), "--data", boxData, "--listen", "127.0.0.1:0", "--ui-listen", ui)
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
			return out + "\nbox log:\n" + boxLog.String()
		}
		return ""
	})
	m := regexp.MustCompile(`--pair-code (\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("pair-code output:\n%s", out)
	}
	sup := startSupervisor(t, agentBin, []string{"agent", "run", "--listen", freePort(t), "--data", filepath.Join(root, "agent"), "--update-window", "10s",
		"--msp-key", filepath.Join(keys, "msp.pub"), "--box", "https://" + ui, "--pair-code", m[1]}, []string{"OUTPOST_TEST_FIRMWARE_FAULT=" + fwNew + ":" + fault})
	listed := func(v string) string {
		out, _ := outpost(t, "agent", "list", "--data", boxData)
		if regexp.MustCompile(`srv1\s+paired\s+.*\s` + regexp.QuoteMeta(v) + `\s`).MatchString(out) {
			return ""
		}
		return out + "\nagent log:\n" + sup.tail()
	}
	waitFor(t, "agent srv1 answering as "+fwOld, patience, func() string { return listed(fwOld) })

	// A crashing version never answers: the rollout gives up after its
	// wait. An unhealthy one answers within its window; the wait is
	// generous so a busy machine's slow start is not taken for a failure.
	wait := "5s"
	if result != "failed" {
		wait = "90s"
	}
	out, code := outpost(t, "agent", "update", "--bundle", good, "srv1", "--wait", wait, "--data", boxData)
	if wantCode := map[bool]int{true: 1, false: 0}[result == "failed"]; code != wantCode || !regexp.MustCompile(`srv1\s+`+result+`\s+`+fwOld+`\s+`+fwNew+`\s`).MatchString(out) {
		t.Fatalf("update to a version that is %s: want %s, exit %d\n%s\nagent log:\n%s", fault, result, code, out, sup.tail())
	}
	waitFor(t, "the agent back on "+fwOld+" with the rollback logged", patience, func() string {
		if l := sup.log(); !strings.Contains(l, `msg="agent update rolled back"`) || !strings.Contains(l, reason) {
			return sup.tail()
		}
		return listed(fwOld)
	})
	if sha(t, agentBin) != sha(t, bins[fwOld]) {
		t.Fatal("the previous binary was not put back")
	}
	if n := sup.startCount(); n != starts {
		t.Fatalf("the agent was started %d times, want %d", n, starts)
	}
}
