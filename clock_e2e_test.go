package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// A box whose time source says the clock is not synchronised opens a
// warning incident for its clock and says so in outpost status, /healthz
// and /metrics; once the source says it is synchronised, the incident
// resolves. systemd does not run on the test machine, so timedatectl is
// a script answering as `timedatectl show` does on a box.
func TestUnsynchronisedClockOpensWarningIncident(t *testing.T) {
	bin := t.TempDir()
	tdc := filepath.Join(bin, "timedatectl")
	answer := func(synced string) {
		script := "#!/bin/sh\n[ \"$1\" = show ] || exit 2\necho NTP=yes\necho CanNTP=yes\necho NTPSynchronized=" + synced + "\n"
		if err := os.WriteFile(tdc+".new", []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		os.Rename(tdc+".new", tdc)
	}
	answer("no")
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	status := ln.Addr().String()
	ln.Close()
	// The site's own clock check (a short interval for the test) takes the
	// built-in one's place.
	cfg := writeConfig(t, fmt.Sprintf("site: Acme\nlisten: %s\nincidents: {confirm: 1, recover: 1}\nchecks:\n  - {id: box-clock, kind: clock, interval: 1s, labels: {severity: warning}}\n", status))
	data := t.TempDir()
	cmd := exec.Command(binPath, "run", "--config", cfg, "--data", data, "--ui-listen", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "PATH="+bin+":/usr/bin:/bin")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()

	var out string
	waitFor(t, "a warning incident for the box clock", patience, func() string {
		out, _ = outpost(t, "incidents", "--open", "--data", data)
		if !strings.Contains(out, "box-clock") || !strings.Contains(out, "warning") {
			return "incidents --open:\n" + out
		}
		return ""
	})
	if !strings.Contains(out, "no NTP server reached yet") {
		t.Fatalf("incident does not say why:\n%s", out)
	}
	out, _ = outpost(t, "status", "--data", data)
	if !strings.Contains(out, "clock: not synchronised") {
		t.Fatalf("status:\n%s", out)
	}
	get := func(path string) string {
		resp, err := http.Get("http://" + status + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if m := get("/metrics"); !strings.Contains(m, "outpost_clock_synchronized 0\n") || !strings.Contains(m, "outpost_clock_time_seconds ") {
		t.Fatalf("metrics:\n%s", m)
	}
	if h := get("/healthz"); !strings.Contains(h, "clock not synchronised") {
		t.Fatalf("healthz:\n%s", h)
	}

	answer("yes")
	waitFor(t, "the clock incident to resolve", patience, func() string {
		out, _ = outpost(t, "incidents", "--open", "--data", data)
		if strings.Contains(out, "box-clock") {
			return "incidents --open:\n" + out
		}
		return ""
	})
	if m := get("/metrics"); !strings.Contains(m, "outpost_clock_synchronized 1\n") {
		t.Fatalf("metrics after sync:\n%s", m)
	}
}
