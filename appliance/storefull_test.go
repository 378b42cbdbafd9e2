package appliance_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"outpost/appliance"
	"outpost/appliance/incidents"
)

// tmpfsDir mounts a size-limited tmpfs for the test (root only; skipped
// where it cannot be made).
func tmpfsDir(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a size-limited tmpfs")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return dir
}

// fillDisk writes a file in dir until its file system is full and
// returns the file.
func fillDisk(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "filler")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			return p
		}
	}
}

// syncBuffer is a log destination that tests read while the daemon writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestStoreFullOpensIncident: the daemon's data directory on a real file
// system that fills up. The built-in store check turns critical, an
// incident "store ... cannot write: the disk is full" opens although the
// store cannot take it, the webhook policy is told (from memory if the
// outbox cannot be written), the incident is listed (the UI and phone
// home read that list), the journal has it at ERROR level, and /healthz
// fails. Once space returns the incident resolves, the resolution is
// sent, and the incident is in the store.
func TestStoreFullOpensIncident(t *testing.T) {
	dir := tmpfsDir(t, "16m")
	hook := newReconcileHook(t)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	up := ln.Addr().String()
	defer ln.Close()
	var checks strings.Builder
	for i := 0; i < 20; i++ { // results enough that commits need new pages soon
		fmt.Fprintf(&checks, "  - {id: web%02d, kind: tcp, target: '%s', interval: 1s, timeout: 500ms}\n", i, up)
	}
	cfg := `site: Acme
notify:
  channels:
    - {name: oncall, kind: webhook, options: {url: '` + hook.srv.URL + `'}}
  policies:
    - {name: all, steps: [{channels: [oncall]}], repeat: 1h}
checks:
  - {id: outpost-store, kind: store, interval: 1s}
` + checks.String()
	p := filepath.Join(t.TempDir(), "site.yaml")
	os.WriteFile(p, []byte(cfg), 0o644)
	logs := &syncBuffer{}
	a, err := appliance.New(appliance.Options{ConfigPath: p, DataDir: filepath.Join(dir, "data"), Listen: "127.0.0.1:0", UIListen: "127.0.0.1:0",
		Log: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		<-done
		a.Close()
	}()
	waitFor(t, "a first commit", patience, func() (bool, string) {
		r, ok, state := latest(a, "outpost-store")
		return ok && a.Store().Stats().Commits > 0, fmt.Sprintf("%s; ok %v", state, r.Status)
	})
	filler := fillDisk(t, dir)

	storeIncident := func(open bool) (incidents.Incident, bool) {
		list, _ := a.Incidents().List(open, 0)
		for _, inc := range list {
			if inc.Check == "outpost-store" {
				return inc, true
			}
		}
		return incidents.Incident{}, false
	}
	var inc incidents.Incident
	waitFor(t, "the store incident and its opened message", patience, func() (bool, string) {
		var ok bool
		inc, ok = storeIncident(true)
		_, _, state := latest(a, "outpost-store")
		return ok && hook.kinds(inc.ID) == "opened", fmt.Sprintf("%s; incident %v, messages %q; store %+v", state, ok, hook.kinds(inc.ID), a.Store().Stats())
	})
	if !strings.Contains(inc.Summary, "cannot write: the disk is full") || !strings.Contains(inc.Summary, filepath.Join(dir, "data", "outpost.db")) || inc.Severity != "critical" {
		t.Fatalf("store incident: %s %q", inc.Severity, inc.Summary)
	}
	if h := a.Health(); h.OK || !strings.Contains(strings.Join(h.Problems, "; "), "store full") {
		t.Fatalf("health while full: %+v", h)
	}
	if l := logs.String(); !strings.Contains(l, `level=ERROR msg="store cannot write"`) {
		t.Fatalf("the journal lacks the store failure at ERROR level:\n%s", l)
	}

	os.Remove(filler)
	waitFor(t, "the store incident to resolve and its resolution to be sent", patience, func() (bool, string) {
		got, _ := a.Incidents().Get(inc.ID)
		_, _, state := latest(a, "outpost-store")
		return !got.IsOpen() && hook.kinds(inc.ID) == "opened,resolved", fmt.Sprintf("%s; incident %s, messages %q", state, got.State, hook.kinds(inc.ID))
	})
	waitFor(t, "the resolved store incident in the store", patience, func() (bool, string) {
		doc, ok, err := a.Store().GetIncident(inc.ID)
		return ok && strings.Contains(string(doc), `"state":"resolved"`), fmt.Sprintf("stored %v %v: %.200s", ok, err, doc)
	})
	if l := logs.String(); !strings.Contains(l, `msg="store writes again"`) {
		t.Fatalf("the journal lacks the store's recovery:\n%s", l)
	}
}
