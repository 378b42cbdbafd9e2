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
	"time"

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
	var args []string
	if cfg != "" {
		args = append(args, "--config", cfg)
	}
	return startBoxWith(t, bin, data, args, env)
}

// startBoxWith runs the daemon with extra `run` flags.
func startBoxWith(t *testing.T, bin, data string, flags, env []string) (*exec.Cmd, *logTail) {
	t.Helper()
	args := append([]string{"run", "--data", data, "--listen", "127.0.0.1:0", "--ui-listen", "127.0.0.1:0"}, flags...)
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
	// Installed with the MSP's key (what `outpost install --msp-key` writes).
	if out, code := outpost(t, "bundle", "trust", filepath.Join(dir, "msp.pub"), "--data", data); code != 0 {
		t.Fatalf("bundle trust: %s", out)
	}

	// 1. Killed between reading the stick and switching the config. The
	// apply logs that the bundle passed every rule just before the pause
	// (a binary built with -tags provisionpause), which holds it there
	// until the kill: the pause only has to outlast the poll that sees
	// the line.
	box, lt := startBoxBinary(t, pauseBinary(t), cfg, data, "OUTPOST_TEST_PROVISION_PAUSE=10m")
	b, _ := os.ReadFile(bundleFile)
	os.WriteFile(filepath.Join(stick, "outpost-provision.bundle"), b, 0o644)
	waitFor(t, "the apply to reach its pause (bundle verified, config not switched)", patience, func() string {
		log := lt.String()
		if !strings.Contains(log, "provisioning: bundle verified; switching the config") {
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
	if out, _ := outpost(t, "bundle", "status", "--data", data); strings.Contains(out, "applied bundle:") || !strings.Contains(out, "installed key file") {
		t.Fatalf("after a kill mid-apply no bundle may be recorded, and the installed key stays trusted:\n%s", out)
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
	// The box is unclaimed and headless: the stick that provisioned it
	// brings back the code that claims its web UI.
	claim, _ := os.ReadFile(filepath.Join(data, "claim-code"))
	if c := strings.TrimSpace(string(claim)); c == "" || !strings.Contains(string(receipt), `"claim_code": "`+c+`"`) {
		t.Fatalf("receipt of an unclaimed box lacks its claim code %q:\n%s", c, receipt)
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
	// Factory reset at the box: the box then trusts no key (msp.pub is
	// removed) until it is told one there.
	if out, code := outpost(t, "factory-reset", "--data", data); code != 2 || !strings.Contains(out, "--yes") {
		t.Fatalf("factory-reset without --yes: %d %s", code, out)
	}
	if out, code := outpost(t, "factory-reset", "--yes", "--data", data); code != 0 || !strings.Contains(out, "MSP key unpinned") {
		t.Fatalf("factory-reset: %d %s", code, out)
	}
	if out, _ := outpost(t, "bundle", "status", "--data", data); !strings.Contains(out, "none trusted") {
		t.Fatalf("after factory reset:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(data, "msp.pub")); !os.IsNotExist(err) {
		t.Fatalf("msp.pub after factory reset: %v", err)
	}
	if out, code := outpost(t, "bundle", "apply", bundleFile, "--data", data); code != 1 || !strings.Contains(out, "this box trusts no MSP key") {
		t.Fatalf("a bundle after factory reset: %d %s", code, out)
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
	if fi, _ := entries[0].Info(); fi.Mode().Perm() != 0o600 {
		t.Fatalf("bundle mode %v: it carries the site's secrets", fi.Mode())
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
	if out, code := outpost(t, "bundle", "trust", filepath.Join(dir, "msp.pub"), "--data", data); code != 0 || !strings.Contains(out, "trusts MSP key") {
		t.Fatalf("bundle trust: %s", out)
	}
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

// mspKeys makes an MSP key pair in a directory of its own (msp.key,
// msp.pub) and returns the directory.
func mspKeys(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if out, code := outpost(t, "bundle", "keygen", "--out", dir); code != 0 {
		t.Fatalf("keygen: %s", out)
	}
	return dir
}

// makeBundle signs site with the key in keyDir and writes the bundle to
// out (a file, or a stick's root), with extra `bundle make` flags.
func makeBundle(t *testing.T, keyDir, site, out string, version int, flags ...string) {
	t.Helper()
	args := append([]string{"bundle", "make", "--key", filepath.Join(keyDir, "msp.key"), "--site", site, "--out", out, "--version", fmt.Sprint(version)}, flags...)
	if o, code := outpost(t, args...); code != 0 {
		t.Fatalf("bundle make: %s", o)
	}
}

// stickReceipt waits for the box's receipt for bundle version v on the
// stick and returns it.
func stickReceipt(t *testing.T, stick string, v int, lt *logTail) string {
	t.Helper()
	var rc string
	waitFor(t, fmt.Sprintf("the receipt for bundle v%d on the stick", v), patience, func() string {
		matches, _ := filepath.Glob(filepath.Join(stick, "outpost-receipt-ob-*.json"))
		if len(matches) != 1 {
			return "no receipt on the stick; box log:\n" + lt.String()
		}
		b, _ := os.ReadFile(matches[0])
		if rc = string(b); !strings.Contains(rc, fmt.Sprintf(`"bundle_version": %d,`, v)) {
			return "receipt for another bundle:\n" + rc
		}
		return ""
	})
	return rc
}

// hostileSite is what an attacker's stick carries: a command allow-list
// with a shell and a remediation that runs it as root when its check
// fails (at once: nothing listens on port 1).
func hostileSite(t *testing.T, dir, watch, pwned string) string {
	t.Helper()
	site := filepath.Join(dir, "evil.yaml")
	body := fmt.Sprintf(`site: Evil
%shealing: {allow_commands: [[/bin/sh, -c, "*"]], settle: 100ms}
checks:
  - id: evil-check
    kind: tcp
    target: 127.0.0.1:1
    interval: 1s
    timeout: 200ms
    remediations:
      - {action: command, command: [/bin/sh, -c, "touch %s"]}
`, watch, pwned)
	if err := os.WriteFile(site, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return site
}

// TestStickSignedByAnUnknownKeyIsRefused: a box never told which MSP
// key to trust (set up from a file, or brand new on the embedded default)
// refuses a stick signed by an attacker's key that would give it a root
// shell remediation: nothing is applied, nothing pinned, and the receipt
// on the stick says why.
func TestStickSignedByAnUnknownKeyIsRefused(t *testing.T) {
	evil := mspKeys(t)
	sticks := t.TempDir()
	stick := filepath.Join(sticks, "EVIL")
	os.MkdirAll(stick, 0o755)
	watch := "provisioning: {mount_roots: ['" + sticks + "'], block_devices: false, interval: 500ms}\n"
	pwned := filepath.Join(t.TempDir(), "pwned")
	cfg := writeConfig(t, "site: Client B\n"+watch+"checks:\n  - {id: client-check, kind: tcp, target: 127.0.0.1:1, interval: 1s}\n")
	data := t.TempDir()
	box, lt := startBox(t, cfg, data)
	defer kill(box)
	makeBundle(t, evil, hostileSite(t, evil, watch, pwned), stick, 100)
	rc := stickReceipt(t, stick, 100, lt)
	if !strings.Contains(rc, `"result": "refused"`) || !strings.Contains(rc, "this box trusts no MSP key") {
		t.Fatalf("receipt for the attacker's stick:\n%s", rc)
	}
	time.Sleep(2 * time.Second) // long enough for the evil check to fail and heal
	if out, _ := outpost(t, "status", "--data", data); strings.Contains(out, "evil-check") || !strings.Contains(out, "client-check") {
		t.Fatalf("the attacker's config is in force:\n%s", out)
	}
	if _, err := os.Stat(pwned); err == nil {
		t.Fatal("the attacker's remediation ran")
	}
	if out, _ := outpost(t, "bundle", "status", "--data", data); !strings.Contains(out, "MSP key:        none trusted") {
		t.Fatalf("bundle status after the attacker's stick:\n%s", out)
	}

	// A brand-new box on the embedded default refuses it too: trust on
	// first use is off unless the box was installed with it.
	fresh := t.TempDir()
	box2, _ := startBox(t, "", fresh)
	defer kill(box2)
	b := filepath.Join(evil, "evil.bundle")
	makeBundle(t, evil, hostileSite(t, evil, "", pwned), b, 101)
	if out, code := outpost(t, "bundle", "apply", b, "--data", fresh); code != 1 || !strings.Contains(out, "this box trusts no MSP key") {
		t.Fatalf("a fresh box applying an unknown key's bundle: %d\n%s", code, out)
	}
}

// TestInstalledMSPKeyIsTheTrustAnchor: a box told its MSP's key before
// its first start (`outpost install --msp-key`, which writes DATA/msp.pub
// as `bundle trust` does with the daemon stopped) pins that key at start,
// refuses a stick signed by any other key, applies one signed by it, and
// changes key only by a bundle signed with the old key or at the box.
func TestInstalledMSPKeyIsTheTrustAnchor(t *testing.T) {
	msp, other := mspKeys(t), mspKeys(t)
	data := t.TempDir()
	if out, code := outpost(t, "bundle", "trust", filepath.Join(msp, "msp.pub"), "--data", data); code != 0 || !strings.Contains(out, "msp.pub") {
		t.Fatalf("bundle trust with the daemon stopped: %d %s", code, out)
	}
	if fi, err := os.Stat(filepath.Join(data, "msp.pub")); err != nil || fi.Mode().Perm()&0o022 != 0 {
		t.Fatalf("installed key file: %v %v", fi, err)
	}
	sticks := t.TempDir()
	stick := filepath.Join(sticks, "OUTPOST")
	os.MkdirAll(stick, 0o755)
	watch := "provisioning: {mount_roots: ['" + sticks + "'], block_devices: false, interval: 500ms}\n"
	site := filepath.Join(msp, "site.yaml")
	os.WriteFile(site, []byte("site: Acme Dental\n"+watch+"checks:\n  - {id: msp-check, kind: tcp, target: 127.0.0.1:1, interval: 1s}\n"), 0o600)
	cfg := writeConfig(t, "site: Acme Dental\n"+watch+"checks: []\n")
	box, lt := startBox(t, cfg, data)
	defer kill(box)
	mspPub, _ := os.ReadFile(filepath.Join(msp, "msp.pub"))
	if out, _ := outpost(t, "bundle", "status", "--data", data); !strings.Contains(out, strings.TrimSpace(string(mspPub))) || !strings.Contains(out, "installed key file") {
		t.Fatalf("bundle status of an installed box:\n%s", out)
	}

	makeBundle(t, other, site, stick, 10)
	if rc := stickReceipt(t, stick, 10, lt); !strings.Contains(rc, `"result": "refused"`) || !strings.Contains(rc, "this box trusts") {
		t.Fatalf("receipt for another key's stick:\n%s", rc)
	}
	makeBundle(t, msp, site, stick, 11)
	rc := stickReceipt(t, stick, 11, lt)
	if !strings.Contains(rc, `"result": "applied"`) {
		t.Fatalf("receipt for the MSP's stick:\n%s", rc)
	}
	matches, _ := filepath.Glob(filepath.Join(stick, "outpost-receipt-ob-*.json"))
	if fi, _ := os.Stat(matches[0]); fi.Mode().Perm() != 0o600 {
		t.Fatalf("receipt mode %v", fi.Mode())
	}

	// Rotation: a bundle signed by the pinned key names the next key.
	b := filepath.Join(msp, "b.bundle")
	makeBundle(t, msp, site, b, 12, "--next-key", filepath.Join(other, "msp.pub"))
	if out, code := outpost(t, "bundle", "apply", b, "--data", data); code != 0 {
		t.Fatalf("rotation bundle: %s", out)
	}
	makeBundle(t, msp, site, b, 13)
	if out, code := outpost(t, "bundle", "apply", b, "--data", data); code != 1 || !strings.Contains(out, "this box trusts") {
		t.Fatalf("the old key after rotation: %d %s", code, out)
	}
	makeBundle(t, other, site, b, 14)
	if out, code := outpost(t, "bundle", "apply", b, "--data", data); code != 0 {
		t.Fatalf("the new key after rotation: %s", out)
	}
	if out, _ := outpost(t, "bundle", "status", "--data", data); !strings.Contains(out, "rotated by bundle v12") {
		t.Fatalf("bundle status after rotation:\n%s", out)
	}

	// At the box: another key replaces the pinned one only when asked to.
	third := mspKeys(t)
	if out, code := outpost(t, "bundle", "trust", filepath.Join(third, "msp.pub"), "--data", data); code != 1 || !strings.Contains(out, "--replace") {
		t.Fatalf("bundle trust over a pinned key: %d %s", code, out)
	}
	if out, code := outpost(t, "bundle", "trust", filepath.Join(third, "msp.pub"), "--replace", "--data", data); code != 0 {
		t.Fatalf("bundle trust --replace: %s", out)
	}
	makeBundle(t, third, site, b, 15)
	if out, code := outpost(t, "bundle", "apply", b, "--data", data); code != 0 {
		t.Fatalf("the key trusted at the box: %s", out)
	}
}

// TestTrustOnFirstUseOnlyInFactoryState: a box installed with
// --trust-first-stick pins the key of its first bundle only while it is
// as it left the factory (embedded default config, no accounts), and says
// so; set up from a file, it refuses.
func TestTrustOnFirstUseOnlyInFactoryState(t *testing.T) {
	msp := mspKeys(t)
	site := filepath.Join(msp, "site.yaml")
	os.WriteFile(site, []byte("site: Acme Dental\nprovisioning: {mount_roots: [], block_devices: false}\nchecks: []\n"), 0o600)
	b := filepath.Join(msp, "b.bundle")
	makeBundle(t, msp, site, b, 1)

	data := t.TempDir()
	box, _ := startBoxWith(t, binPath, data, []string{"--trust-first-stick"}, nil)
	if out, code := outpost(t, "bundle", "apply", b, "--data", data); code != 0 {
		t.Fatalf("first bundle on a factory-state box: %s", out)
	}
	if out, _ := outpost(t, "bundle", "status", "--data", data); !strings.Contains(out, "trust on first use") {
		t.Fatalf("a key pinned on first use must say so:\n%s", out)
	}
	kill(box)

	cfg := writeConfig(t, "site: Set up from a file\nchecks: []\n")
	data2 := t.TempDir()
	box, _ = startBoxWith(t, binPath, data2, []string{"--trust-first-stick", "--config", cfg}, nil)
	defer kill(box)
	if out, code := outpost(t, "bundle", "apply", b, "--data", data2); code != 1 || !strings.Contains(out, "not in factory state") {
		t.Fatalf("first bundle on a box set up from a file: %d %s", code, out)
	}
}

// TestBootPartitionKey: an image whose boot partition carries
// outpost-msp.pub trusts that key from its first start.
func TestBootPartitionKey(t *testing.T) {
	msp := mspKeys(t)
	data := t.TempDir()
	box, _ := startBoxWith(t, binPath, data, []string{"--boot-msp-key", filepath.Join(msp, "msp.pub")}, nil)
	defer kill(box)
	pub, _ := os.ReadFile(filepath.Join(msp, "msp.pub"))
	if out, _ := outpost(t, "bundle", "status", "--data", data); !strings.Contains(out, strings.TrimSpace(string(pub))) || !strings.Contains(out, "boot partition") {
		t.Fatalf("bundle status of a box with a boot-partition key:\n%s", out)
	}
}

// TestAnyBoxBundleIsBoundToItsSite: an any-box bundle made for one client
// (site A) does not reconfigure a box already provisioned for another
// (site B), though both trust the same MSP key, unless it was made to move
// that box (--resite-from).
func TestAnyBoxBundleIsBoundToItsSite(t *testing.T) {
	msp := mspKeys(t)
	data := t.TempDir()
	box, _ := startBox(t, "", data)
	defer kill(box)
	if out, code := outpost(t, "bundle", "trust", filepath.Join(msp, "msp.pub"), "--data", data); code != 0 {
		t.Fatalf("bundle trust: %s", out)
	}
	write := func(name string) string {
		p := filepath.Join(msp, name+".yaml")
		os.WriteFile(p, []byte("site: "+name+"\nprovisioning: {mount_roots: [], block_devices: false}\nchecks:\n  - {id: "+strings.ToLower(strings.ReplaceAll(name, " ", "-"))+", kind: tcp, target: 127.0.0.1:1, interval: 1s}\n"), 0o600)
		return p
	}
	siteA, siteB := write("Client A"), write("Client B")
	b := filepath.Join(msp, "b.bundle")
	makeBundle(t, msp, siteB, b, 10)
	if out, code := outpost(t, "bundle", "apply", b, "--data", data); code != 0 {
		t.Fatalf("site B's bundle: %s", out)
	}
	makeBundle(t, msp, siteA, b, 20)
	if out, code := outpost(t, "bundle", "apply", b, "--data", data); code != 1 || !strings.Contains(out, `an any-box bundle for site "Client A"; this box is provisioned for site "Client B"`) {
		t.Fatalf("site A's bundle on site B's box: %d %s", code, out)
	}
	if out, _ := outpost(t, "status", "--data", data); !strings.Contains(out, "client-b") || strings.Contains(out, "client-a") {
		t.Fatalf("site A's config in force on site B's box:\n%s", out)
	}
	makeBundle(t, msp, siteA, b, 21, "--resite-from", "Client B")
	if out, code := outpost(t, "bundle", "apply", b, "--data", data); code != 0 {
		t.Fatalf("a bundle moving the box to site A: %s", out)
	}
}
