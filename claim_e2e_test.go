//go:build linux

package main

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// TestClaimWithCodeFromTheBox: the real binary's first boot. A LAN
// visitor without the claim code cannot create the admin; the technician
// at the box reads the code with `outpost claim-code` and claims the box;
// the code is then gone.
func TestClaimWithCodeFromTheBox(t *testing.T) {
	data := t.TempDir()
	cmd := exec.Command(binPath, "run", "--data", data, "--listen", "127.0.0.1:0", "--ui-listen", "127.0.0.1:0")
	logs := &logTail{}
	logs.follow(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() })
	uiRE := regexp.MustCompile(`ui=(https?://127\.0\.0\.1:\d+)`)
	var base string
	waitFor(t, "the UI address in the log", patience, func() string {
		if m := uiRE.FindStringSubmatch(logs.String()); m != nil {
			base = m[1]
			return ""
		}
		return "no UI address logged yet:\n" + logs.String()
	})
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	send := func(method, path string, form url.Values) (int, string) {
		t.Helper()
		var resp *http.Response
		var err error
		if method == "GET" {
			resp, err = browser.Get(base + path)
		} else {
			resp, err = browser.PostForm(base+path, form)
		}
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	_, page := send("GET", "/setup", nil)
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("setup page:\n%s", page)
	}
	form := url.Values{"csrf": {m[1]}, "user": {"admin"}, "password": {"Molar-Crown-2026"}, "confirm": {"Molar-Crown-2026"}}
	if code, _ := send("POST", "/setup", form); code == http.StatusSeeOther {
		t.Fatal("the first visitor without the claim code became admin of the real binary")
	}

	out, code := outpost(t, "claim-code", "--data", data)
	if code != 0 {
		t.Fatalf("outpost claim-code: %d\n%s", code, out)
	}
	file, _ := os.ReadFile(filepath.Join(data, "claim-code"))
	claim := strings.TrimSpace(string(file))
	if claim == "" || !strings.Contains(out, claim) {
		t.Fatalf("outpost claim-code printed %q; the file holds %q", out, claim)
	}
	form.Set("claim", claim)
	if code, body := send("POST", "/setup", form); code != http.StatusSeeOther {
		t.Fatalf("claiming with the code from `outpost claim-code`: %d\n%s", code, body)
	}
	if _, err := os.Stat(filepath.Join(data, "claim-code")); !os.IsNotExist(err) {
		t.Fatalf("claim code file after the claim: %v", err)
	}
	if out, code := outpost(t, "claim-code", "--data", data); code != 1 || !strings.Contains(out, "claimed") {
		t.Fatalf("outpost claim-code on a claimed box: %d\n%s", code, out)
	}
}
