package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A stolen SD card or a copied backup of outpost.db alone yields no
// secret: the site's SNMP community is nowhere in the file in clear, and
// a daemon started on the copy without the store key refuses to use it
// (it cannot read the box's keys) instead of running as that box.
func TestCopiedStoreYieldsNoSecret(t *testing.T) {
	const community = "s3cret-community-9f2c"
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	status := ln.Addr().String()
	ln.Close()
	cfg := writeConfig(t, fmt.Sprintf("site: Acme\nlisten: %s\ndevices:\n  - {name: sw1, address: 127.0.0.1, snmp: {community: %s}}\nchecks:\n  - {id: sw1-up, kind: snmp_uptime, target: sw1, interval: 10s}\n", status, community))
	data := t.TempDir()
	cmd := exec.Command(binPath, "run", "--config", cfg, "--data", data, "--ui-listen", "127.0.0.1:0")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the daemon to answer", patience, func() string {
		if out, code := outpost(t, "status", "--data", data); code != 0 {
			return out
		}
		return ""
	})
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()

	db, err := os.ReadFile(filepath.Join(data, "outpost.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, clear := range []string{community, "PRIVATE KEY", "ed25519_seed", "AGE-SECRET-KEY"} {
		if bytes.Contains(db, []byte(clear)) {
			t.Errorf("outpost.db holds %q in clear", clear)
		}
	}
	stolen := t.TempDir()
	if err := os.WriteFile(filepath.Join(stolen, "outpost.db"), db, 0o600); err != nil {
		t.Fatal(err)
	}
	run := exec.Command(binPath, "run", "--config", cfg, "--data", stolen, "--ui-listen", "127.0.0.1:0", "--listen", "127.0.0.1:0")
	done := make(chan []byte, 1)
	go func() { out, _ := run.CombinedOutput(); done <- out }()
	select {
	case out := <-done:
		if !strings.Contains(string(out), "sealed with a key this box does not have") {
			t.Fatalf("daemon on a copied outpost.db without the key:\n%s", out)
		}
	case <-time.After(patience):
		run.Process.Kill()
		t.Fatal("a daemon started on a copied outpost.db without its key runs")
	}
}
