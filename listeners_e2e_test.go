//go:build linux

package main

import (
	"crypto/tls"
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
	"time"
)

// get fetches url (HTTPS without verification: the test only asks who
// answers where) and returns the status, or the error.
func get(url string) string {
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := c.Get(url)
	if err != nil {
		return err.Error()
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.Status
}

// TestBundleMovesListenersLive: a box whose web UI is on loopback over
// plain HTTP gets a bundle that puts the UI on another address over
// HTTPS: it moves at once, no restart, and the old address stops
// answering. A later bundle without `ui:` keeps the box's UI where it is
// (box-local settings stay unless a bundle sets them) and one that sets
// `listen:` moves the status endpoint. After a restart the box listens
// where the last bundle left it.
func TestBundleMovesListenersLive(t *testing.T) {
	msp := mspKeys(t)
	data := t.TempDir()
	if out, code := outpost(t, "bundle", "trust", filepath.Join(msp, "msp.pub"), "--data", data); code != 0 {
		t.Fatalf("bundle trust: %s", out)
	}
	status1, ui1, ui2, status2 := freePort(t), freePort(t), freePort(t), freePort(t)
	cfg := writeConfig(t, fmt.Sprintf("site: Acme\nlisten: %s\nui: {listen: %q, plain_http: true}\nprovisioning: {block_devices: false}\nchecks: []\n", status1, ui1))
	start := func() (*exec.Cmd, *logTail) {
		cmd := exec.Command(binPath, "run", "--config", cfg, "--data", data)
		lt := &logTail{}
		lt.follow(cmd)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		return cmd, lt
	}
	box, lt := start()
	answers := func(what, url string) {
		t.Helper()
		waitFor(t, what+" answering at "+url, patience, func() string {
			if s := get(url); s != "200 OK" {
				return s + "\n" + lt.String()
			}
			return ""
		})
	}
	silent := func(what, url string) {
		t.Helper()
		waitFor(t, what+" no longer answering at "+url, patience, func() string {
			if s := get(url); strings.Contains(s, "refused") {
				return ""
			} else {
				return s
			}
		})
	}
	answers("the UI over plain HTTP", "http://"+ui1+"/login")
	answers("the status endpoint", "http://"+status1+"/healthz")

	apply := func(v int, site string) {
		t.Helper()
		f := filepath.Join(t.TempDir(), "site.yaml")
		os.WriteFile(f, []byte(site), 0o600)
		b := filepath.Join(t.TempDir(), "b.bundle")
		makeBundle(t, msp, f, b, v)
		if out, code := outpost(t, "bundle", "apply", b, "--data", data); code != 0 {
			t.Fatalf("bundle v%d: %s\n%s", v, out, lt.String())
		}
	}
	// The bundle moves the UI to HTTPS on another address; it does not
	// set `listen:`, so the status endpoint stays.
	apply(1, fmt.Sprintf("site: Acme Dental\nui: {listen: %q}\nchecks: []\n", ui2))
	answers("the UI over HTTPS on the bundle's address", "https://"+ui2+"/login")
	silent("the old plain HTTP UI", "http://"+ui1+"/login")
	answers("the status endpoint where the box had it", "http://"+status1+"/healthz")

	// No `ui:` in the next bundle: the UI stays; `listen:` moves the
	// status endpoint.
	apply(2, fmt.Sprintf("site: Acme Dental\nlisten: %s\nchecks: []\n", status2))
	answers("the moved status endpoint", "http://"+status2+"/healthz")
	silent("the old status endpoint", "http://"+status1+"/healthz")
	if s := get("https://" + ui2 + "/login"); s != "200 OK" {
		t.Fatalf("the UI moved with a bundle that does not set ui: %s\n%s", s, lt.String())
	}

	// A restart keeps what the bundles said.
	box.Process.Signal(syscall.SIGTERM)
	box.Wait()
	_, lt = start()
	answers("the UI after a restart", "https://"+ui2+"/login")
	answers("the status endpoint after a restart", "http://"+status2+"/healthz")
}

// TestEmbeddedDefaultBoxProvisionedListensWhereTheBundleSays: a box
// that never had a config (the embedded default: web UI on
// 127.0.0.1:8480 over plain HTTP, reachable from nowhere else) gets a
// bundle whose ui: puts it on HTTPS; without a restart a real browser
// (headless chromium) finds the box's claim page there, and the
// default's plain-HTTP port is closed.
func TestEmbeddedDefaultBoxProvisionedListensWhereTheBundleSays(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium is not installed (make test installs it)")
		}
		t.Skip("chromium is not installed")
	}
	// The embedded default's own ports: a box nobody configured uses them.
	for _, addr := range []string{"127.0.0.1:8470", "127.0.0.1:8480"} {
		if ln, err := net.Listen("tcp", addr); err != nil {
			t.Fatalf("the embedded default's port %s is taken (stop `make run`?): %v", addr, err)
		} else {
			ln.Close()
		}
	}
	msp := mspKeys(t)
	data := t.TempDir()
	if out, code := outpost(t, "bundle", "trust", filepath.Join(msp, "msp.pub"), "--data", data); code != 0 {
		t.Fatalf("bundle trust: %s", out)
	}
	cmd := exec.Command(binPath, "run", "--data", data)
	lt := &logTail{}
	lt.follow(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitFor(t, "the embedded default's UI on 127.0.0.1:8480", patience, func() string {
		if s := get("http://127.0.0.1:8480/login"); s != "200 OK" {
			return s + "\n" + lt.String()
		}
		return ""
	})
	ui := freePort(t)
	site := filepath.Join(t.TempDir(), "site.yaml")
	os.WriteFile(site, []byte(fmt.Sprintf("site: Acme Dental\nui: {listen: %q}\nchecks: []\n", ui)), 0o600)
	b := filepath.Join(t.TempDir(), "b.bundle")
	makeBundle(t, msp, site, b, 1)
	if out, code := outpost(t, "bundle", "apply", b, "--data", data); code != 0 {
		t.Fatalf("bundle apply: %s\n%s", out, lt.String())
	}
	var dom string
	waitFor(t, "a real browser to find the box's claim page at https://"+ui, patience, func() string {
		out, _ := exec.Command(chromium, "--headless", "--no-sandbox", "--disable-gpu", "--ignore-certificate-errors",
			"--user-data-dir="+t.TempDir(), "--dump-dom", "https://"+ui+"/").Output()
		if dom = string(out); !strings.Contains(dom, "no accounts yet") {
			return "page:\n" + dom + "\nbox log:\n" + lt.String()
		}
		return ""
	})
	waitFor(t, "the embedded default's plain-HTTP port to close", patience, func() string {
		if s := get("http://127.0.0.1:8480/login"); !strings.Contains(s, "refused") {
			return s
		}
		return ""
	})
}
