package appliance_test

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"outpost/appliance"
	"outpost/appliance/hq"
	"outpost/checks/clock"
	"outpost/notify"
)

// TestWholeDaemonThroughClockSteps runs the real daemon on a fake clock
// through what NTP does to a box without RTC: forward an hour, forward
// ten years, back a day, back to 1970, while checks run, an incident is
// open with reminders every 10 minutes, and phone home holds a backlog
// because hq is down. Afterwards: every result is kept and reads back in
// order, the reminders came every 10 minutes of real time (none early,
// none missing), time to acknowledge is the real delay, and every summary
// reached hq once, in order.
func TestWholeDaemonThroughClockSteps(t *testing.T) {
	var mu sync.Mutex
	var msgs []notify.Message
	var at []time.Duration // real (monotonic) time of each message's arrival
	var fc *clock.Fake
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m notify.Message
		json.NewDecoder(r.Body).Decode(&m)
		mu.Lock()
		msgs = append(msgs, m)
		at = append(at, fc.Mono())
		mu.Unlock()
	}))
	defer hook.Close()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer up.Close()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()

	dir := t.TempDir()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	h, err := hq.Open(filepath.Join(dir, "hq.db"), nil, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	var hqDown atomic.Bool
	hqSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hqDown.Load() {
			http.Error(w, "WAN down", http.StatusBadGateway)
			return
		}
		h.Handler().ServeHTTP(w, r)
	}))
	defer hqSrv.Close()
	ca := filepath.Join(dir, "ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: hqSrv.Certificate().Raw}), 0o644)

	cfgPath := filepath.Join(dir, "site.yaml")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf(`site: Acme
incidents: {confirm: 1, recover: 1}
notify:
  channels:
    - {name: oncall, kind: webhook, options: {url: '%s'}}
  policies:
    - {name: all, steps: [{channels: [oncall]}], repeat: 10m}
phonehome: {url: '%s/v1/summaries', ca_file: '%s', interval: 1m}
checks:
  - {id: web, kind: http, target: '%s', interval: 10s}
  - {id: db, kind: tcp, target: '%s', interval: 10s, timeout: 500ms}
`, hook.URL, hqSrv.URL, ca, up.URL, dead)), 0o644)
	start := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	fc = clock.NewFake(start)
	a, err := appliance.New(appliance.Options{ConfigPath: cfgPath, DataDir: filepath.Join(dir, "data"), Listen: "127.0.0.1:0", UIListen: "127.0.0.1:0", Clock: fc, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Register(a.Identity().ID(), a.Identity().PublicKeyString(), "Acme"); err != nil {
		t.Fatal(err)
	}
	if err := a.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done; a.Close() }()

	kinds := func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		n := map[string]int{}
		for _, m := range msgs {
			n[m.Kind]++
		}
		return n
	}
	waitFor(t, "the db incident to be notified", patience, func() (bool, string) {
		fc.Advance(time.Second)
		return kinds()["opened"] == 1, fmt.Sprintf("messages %v", kinds())
	})
	opened := fc.Mono()
	// minutes runs the daemon for m minutes of real (fake) time, a second
	// at a time, giving its goroutines a moment at each second.
	minutes := func(m int) {
		for i := 0; i < m*60; i++ {
			fc.Advance(time.Second)
			time.Sleep(time.Millisecond)
		}
	}
	hqDown.Store(true)
	minutes(3)
	fc.Jump(time.Hour)
	minutes(3)
	fc.Jump(10 * 365 * 24 * time.Hour)
	minutes(3)
	fc.Jump(-24 * time.Hour)
	minutes(3)
	fc.JumpTo(time.Unix(0, 0).UTC())
	minutes(3)
	hqDown.Store(false)
	minutes(10) // 25 minutes after the incident opened
	list, _ := a.Incidents().List(true, 0)
	if len(list) != 1 {
		t.Fatalf("open incidents: %+v", list)
	}
	inc, err := a.Incidents().Acknowledge(list[0].ID, "alice", "")
	if err != nil {
		t.Fatal(err)
	}
	elapsed := fc.Mono() - opened
	if tta := inc.Acked.Sub(inc.Opened); tta < elapsed-30*time.Second || tta > elapsed+30*time.Second {
		t.Fatalf("time to acknowledge %s after %s of real time through the steps", tta, elapsed)
	}
	// Reminders at 10 and 20 minutes after opening: none early (a step
	// forward of years), none missing (a step back to 1970).
	waitFor(t, "the reminders", patience, func() (bool, string) {
		n := kinds()
		return n["reminder"] == 2, fmt.Sprintf("messages %v after %s", n, elapsed)
	})
	minutes(1)
	mu.Lock()
	var reminders []time.Duration
	for i, m := range msgs {
		if m.Kind == "reminder" {
			reminders = append(reminders, at[i]-opened)
		}
	}
	mu.Unlock()
	if len(reminders) != 2 || reminders[0] < 10*time.Minute-time.Minute || reminders[0] > 10*time.Minute+time.Minute ||
		reminders[1] < 20*time.Minute-time.Minute || reminders[1] > 20*time.Minute+time.Minute {
		t.Fatalf("reminders at %v after opening, want about 10m and 20m", reminders)
	}

	// Results: about one per 10 s per check, in the order taken.
	if err := a.Store().Flush(); err != nil {
		t.Fatal(err)
	}
	if err := a.Store().Maintain(); err != nil {
		t.Fatal(err)
	}
	rs, err := a.Store().Results("web", time.Unix(0, 0), time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if want := int((fc.Mono() - opened) / (10 * time.Second)); len(rs) < want-5 {
		t.Fatalf("%d web results kept, want about %d: the steps lost history", len(rs), want)
	}
	for i := 1; i < len(rs); i++ {
		if rs[i].Time.Before(rs[i-1].Time) {
			t.Fatalf("result %d at %s read back before %s", i, rs[i].Time, rs[i-1].Time)
		}
	}

	// Phone home: the backlog reached hq after the outage, in order, once.
	waitFor(t, "the phone-home backlog to drain", patience, func() (bool, string) {
		fc.Advance(time.Second)
		boxes, _ := h.Boxes()
		n, _, _ := a.Store().PhoneDepth()
		if len(boxes) == 1 && n == 0 && boxes[0].Summaries > 20 {
			return true, ""
		}
		return false, fmt.Sprintf("hq %+v, box outbox %d", boxes, n)
	})
	boxes, _ := h.Boxes()
	if b := boxes[0]; b.Summaries != b.LastSeq || b.Lost != 0 || b.Silent(time.Now()) {
		t.Fatalf("hq's record of the box: %+v", b)
	}
}
