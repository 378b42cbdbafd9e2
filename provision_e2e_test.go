//go:build linux

package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"outpost/store"
)

// startBox runs the real daemon with extra environment and returns it
// with its log.
func startBox(t *testing.T, cfg, data string, env ...string) (*exec.Cmd, *logTail) {
	t.Helper()
	return startBoxBinary(t, binPath, cfg, data, env...)
}

var (
	pauseBinOnce sync.Once
	pauseBin     string
	pauseBinErr  error
)

// pauseBinary is the daemon built with -tags provisionpause: its applies
// sleep for OUTPOST_TEST_PROVISION_PAUSE between validation and the
// switch (firmware/provision/pause_tag.go). It is built once, on first
// use, next to binPath (TestMain removes it).
func pauseBinary(t *testing.T) string {
	t.Helper()
	pauseBinOnce.Do(func() {
		pauseBin = filepath.Join(filepath.Dir(binPath), "outpost-provisionpause")
		out, err := exec.Command("go", "build", "-tags", "provisionpause", "-ldflags", testLDFlags, "-o", pauseBin, ".").CombinedOutput()
		if err != nil {
			pauseBinErr = fmt.Errorf("building outpost -tags provisionpause: %v\n%s", err, out)
		}
	})
	if pauseBinErr != nil {
		t.Fatal(pauseBinErr)
	}
	return pauseBin
}

func startBoxBinary(t *testing.T, bin, cfg, data string, env ...string) (*exec.Cmd, *logTail) {
	t.Helper()
	args := []string{"run", "--data", data, "--listen", "127.0.0.1:0", "--ui-listen", "127.0.0.1:0"}
	if cfg != "" {
		args = append(args, "--config", cfg)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	lt := &logTail{}
	lt.follow(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitFor(t, "the daemon to answer bundle status", patience, func() string {
		if _, code := outpost(t, "bundle", "status", "--data", data); code != 0 {
			return "daemon never answered:\n" + lt.String()
		}
		return ""
	})
	return cmd, lt
}

func kill(cmd *exec.Cmd) {
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
}

// TestProvisioningSurvivesSIGKILL: the daemon killed in the middle of
// applying a stick's bundle comes back with the old config, whole; killed
// right after an apply, with the new one, whole; and a stick inserted
// into the running box configures it and gets its receipt.
func TestProvisioningSurvivesSIGKILL(t *testing.T) {
	dir := t.TempDir()
	if out, code := outpost(t, "bundle", "keygen", "--out", dir); code != 0 {
		t.Fatalf("keygen: %s", out)
	}
	if out, code := outpost(t, "bundle", "keygen", "--out", dir); code != 1 || !strings.Contains(out, "refusing to overwrite") {
		t.Fatalf("keygen over an existing key: %d %s", code, out)
	}
	sticks := t.TempDir()
	stick := filepath.Join(sticks, "OUTPOST")
	os.MkdirAll(stick, 0o755)
	// The site config carries where the box looks for sticks too.
	watch := "provisioning: {mount_roots: ['" + sticks + "'], block_devices: false, interval: 500ms}\n"
	site := filepath.Join(dir, "site.yaml")
	os.WriteFile(site, []byte("site: Acme Dental\n"+watch+"checks:\n  - {id: provisioned-check, kind: tcp, target: 127.0.0.1:1, interval: 1s}\n"), 0o644)
	bundleFile := filepath.Join(dir, "acme.bundle")
	if out, code := outpost(t, "bundle", "make", "--key", filepath.Join(dir, "msp.key"), "--site", site, "--out", bundleFile, "--version", "10"); code != 0 {
		t.Fatalf("make: %s", out)
	}
	cfg := writeConfig(t, "site: Factory\n"+watch+"checks:\n  - {id: factory-check, kind: tcp, target: 127.0.0.1:1, interval: 1s}\n")
	data := t.TempDir()

	// 1. Killed between reading the stick and switching the config. The
	// apply logs the key it pins (this box has none yet) just before the
	// pause (a binary built with -tags provisionpause), which holds it
	// there until the kill: the pause only has to outlast the poll that
	// sees the line.
	box, lt := startBoxBinary(t, pauseBinary(t), cfg, data, "OUTPOST_TEST_PROVISION_PAUSE=10m")
	b, _ := os.ReadFile(bundleFile)
	os.WriteFile(filepath.Join(stick, "outpost-provision.bundle"), b, 0o644)
	waitFor(t, "the apply to reach its pause (MSP key pinned, config not switched)", patience, func() string {
		log := lt.String()
		if !strings.Contains(log, "provisioning: MSP key pinned") {
			return "apply not at its pause:\n" + log
		}
		if strings.Contains(log, "provisioning: bundle applied") {
			t.Fatalf("the bundle was applied despite the pause:\n%s", log)
		}
		return ""
	})
	kill(box)
	os.Remove(filepath.Join(stick, "outpost-provision.bundle")) // stick pulled while the box was off
	box, _ = startBox(t, cfg, data)
	out, _ := outpost(t, "status", "--data", data)
	if !strings.Contains(out, "factory-check") || strings.Contains(out, "provisioned-check") {
		t.Fatalf("after a kill mid-apply the old config must run:\n%s", out)
	}
	if out, _ := outpost(t, "bundle", "status", "--data", data); !strings.Contains(out, "not pinned") {
		t.Fatalf("after a kill mid-apply nothing may be pinned:\n%s", out)
	}

	// 2. Applied by hand, killed at once: the new config, whole.
	out, code := outpost(t, "bundle", "apply", bundleFile, "--data", data)
	if code != 0 || !strings.Contains(out, `"result": "applied"`) {
		t.Fatalf("bundle apply: %d\n%s", code, out)
	}
	kill(box)
	box, lt = startBox(t, cfg, data)
	out, _ = outpost(t, "status", "--data", data)
	if !strings.Contains(out, "provisioned-check") || strings.Contains(out, "factory-check") {
		t.Fatalf("after a kill right after apply the new config must run:\n%s", out)
	}
	if out, _ := outpost(t, "bundle", "status", "--data", data); !strings.Contains(out, "applied bundle: version 10 (site Acme Dental)") {
		t.Fatalf("bundle status:\n%s", out)
	}
	// Replayed: refused, exit 1, nothing changes.
	if out, code := outpost(t, "bundle", "apply", bundleFile, "--data", data); code != 1 || !strings.Contains(out, "version 10 is not newer than the applied version 10") {
		t.Fatalf("replayed bundle: %d\n%s", code, out)
	}

	// 3. A newer bundle on a stick, the box running: applied, receipt
	// on the stick, new config in force.
	os.WriteFile(site, []byte("site: Acme Dental\n"+watch+"checks:\n  - {id: second-check, kind: tcp, target: 127.0.0.1:1, interval: 1s}\n"), 0o644)
	if out, code := outpost(t, "bundle", "make", "--key", filepath.Join(dir, "msp.key"), "--site", site, "--out", stick, "--version", "11"); code != 0 {
		t.Fatalf("make onto the stick: %s", out)
	}
	var receipt []byte
	waitFor(t, "the receipt on the stick", patience, func() string {
		matches, _ := filepath.Glob(filepath.Join(stick, "outpost-receipt-ob-*.json"))
		if len(matches) != 1 {
			return "no receipt on the stick; box log:\n" + lt.String()
		}
		receipt, _ = os.ReadFile(matches[0])
		return ""
	})
	if !strings.Contains(string(receipt), `"result": "applied"`) || !strings.Contains(string(receipt), `"bundle_version": 11`) {
		t.Fatalf("receipt:\n%s", receipt)
	}
	waitFor(t, "the stick's config in force", patience, func() string {
		if out, _ := outpost(t, "status", "--data", data); !strings.Contains(out, "second-check") {
			return "stick's config not in force:\n" + out
		}
		return ""
	})
	// The receipt registers the box for a targeted bundle: its config
	// encrypted to this box alone.
	recFile := filepath.Join(dir, "receipt.json")
	os.WriteFile(recFile, receipt, 0o644)
	if out, code := outpost(t, "bundle", "make", "--key", filepath.Join(dir, "msp.key"), "--site", site, "--out", bundleFile, "--version", "12", "--receipt", recFile); code != 0 {
		t.Fatalf("targeted make: %s", out)
	}
	if out, _ := outpost(t, "bundle", "inspect", bundleFile, "--key", filepath.Join(dir, "msp.pub")); !strings.Contains(out, "encrypted to the target box") || !strings.Contains(out, "target:    ob-") {
		t.Fatalf("inspect targeted:\n%s", out)
	}
	if out, code := outpost(t, "bundle", "apply", bundleFile, "--data", data); code != 0 {
		t.Fatalf("targeted apply: %s", out)
	}
	// Factory reset at the box: another MSP's key is accepted after it.
	if out, code := outpost(t, "factory-reset", "--data", data); code != 2 || !strings.Contains(out, "--yes") {
		t.Fatalf("factory-reset without --yes: %d %s", code, out)
	}
	if out, code := outpost(t, "factory-reset", "--yes", "--data", data); code != 0 || !strings.Contains(out, "MSP key unpinned") {
		t.Fatalf("factory-reset: %d %s", code, out)
	}
	if out, _ := outpost(t, "bundle", "status", "--data", data); !strings.Contains(out, "not pinned") {
		t.Fatalf("after factory reset:\n%s", out)
	}
	kill(box)
}

// TestBundleMakeRefusesABadSite: the office gets the error the box would
// give, with file:line, and nothing lands on the stick.
func TestBundleMakeRefusesABadSite(t *testing.T) {
	dir, stick := t.TempDir(), t.TempDir()
	if out, code := outpost(t, "bundle", "keygen", "--out", dir); code != 0 {
		t.Fatalf("keygen: %s", out)
	}
	site := filepath.Join(dir, "site.yaml")
	os.WriteFile(site, []byte("site: Acme\nchecks:\n  - {id: web, kind: tcp, target: 127.0.0.1:1, interval: 1ms}\n"), 0o644)
	out, code := outpost(t, "bundle", "make", "--key", filepath.Join(dir, "msp.key"), "--site", site, "--out", stick)
	if code != 1 || !strings.Contains(out, "site.yaml:3") || !strings.Contains(out, "checks[0].interval") {
		t.Fatalf("bad site: %d %s", code, out)
	}
	if entries, _ := os.ReadDir(stick); len(entries) != 0 {
		t.Fatalf("a refused make left %d files on the stick", len(entries))
	}
	os.WriteFile(site, []byte("site: Acme\nchecks:\n  - {id: web, kind: tcp, target: 127.0.0.1:1, interval: 10s}\n"), 0o644)
	if out, code := outpost(t, "bundle", "make", "--key", filepath.Join(dir, "msp.key"), "--site", site, "--out", stick, "--target", "ob-../../x", "--recipient", "age1x"); code != 1 || !strings.Contains(out, `target "ob-../../x" is neither`) {
		t.Fatalf("bad target: %d %s", code, out)
	}
	if out, code := outpost(t, "bundle", "make", "--key", filepath.Join(dir, "msp.key"), "--site", site, "--out", stick); code != 0 {
		t.Fatalf("make: %s", out)
	}
	entries, _ := os.ReadDir(stick)
	if len(entries) != 1 || entries[0].Name() != "outpost-provision.bundle" {
		t.Fatalf("stick holds %v, want the bundle alone", entries)
	}
	if fi, _ := entries[0].Info(); fi.Mode().Perm() != 0o644 {
		t.Fatalf("bundle mode %v", fi.Mode())
	}
}

// TestProvisionedBoxKeepsItsConfigAcrossFirmwareUpdates: a box set up
// from a stick runs without a config file, on the embedded default. A
// firmware update that changes that default must not replace the site's
// provisioned config at the next start (a changed file still wins: that
// is a technician's edit on the box).
func TestProvisionedBoxKeepsItsConfigAcrossFirmwareUpdates(t *testing.T) {
	dir, data := t.TempDir(), t.TempDir()
	if out, code := outpost(t, "bundle", "keygen", "--out", dir); code != 0 {
		t.Fatalf("keygen: %s", out)
	}
	site := filepath.Join(dir, "site.yaml")
	os.WriteFile(site, []byte("site: Acme Dental\nprovisioning: {mount_roots: [], block_devices: false}\nchecks:\n  - {id: provisioned-check, kind: tcp, target: 127.0.0.1:1, interval: 1s}\n"), 0o644)
	bundleFile := filepath.Join(dir, "acme.bundle")
	if out, code := outpost(t, "bundle", "make", "--key", filepath.Join(dir, "msp.key"), "--site", site, "--out", bundleFile); code != 0 {
		t.Fatalf("make: %s", out)
	}
	box, _ := startBox(t, "", data)
	if out, code := outpost(t, "bundle", "apply", bundleFile, "--data", data); code != 0 {
		t.Fatalf("apply: %s", out)
	}
	kill(box)

	// The default this box last started with differs from the one the
	// (updated) binary embeds.
	st, err := store.Open(filepath.Join(data, "outpost.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutBlob("config-file-seed", []byte("site: the previous firmware's default\n")); err != nil {
		t.Fatal(err)
	}
	st.Close()

	box, lt := startBox(t, "", data)
	defer kill(box)
	out, _ := outpost(t, "status", "--data", data)
	if !strings.Contains(out, "provisioned-check") || strings.Contains(out, "box-cpu") {
		t.Fatalf("after a firmware update the provisioned config must still run:\n%s\nlog:\n%s", out, lt.String())
	}
	// Nor does a reload.
	box.Process.Signal(syscall.SIGHUP)
	waitFor(t, "the SIGHUP to be handled", patience, func() string {
		if !strings.Contains(lt.String(), "keeping the running config") {
			return "SIGHUP not handled:\n" + lt.String()
		}
		return ""
	})
	if out, _ := outpost(t, "status", "--data", data); !strings.Contains(out, "provisioned-check") {
		t.Fatalf("after SIGHUP the provisioned config must still run:\n%s", out)
	}
}
