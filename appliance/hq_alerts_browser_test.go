package appliance_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"outpost/appliance/hq"
	"outpost/appliance/phonehome/wire"
	hqui "outpost/ui/hq"
)

// TestHQAlertsPageInBrowser: hq's watcher, in process on bbolt, opens
// alerts for three boxes (one gone silent, one that lost summaries, one
// whose checks miss their schedule); chromium logs in to the real fleet
// pages, sees them on the alerts page (screenshot hq-alerts) and
// acknowledges one.
func TestHQAlertsPageInBrowser(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	h, err := hq.Open(filepath.Join(t.TempDir(), "hq.db"), nil, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	post := func(site string, interval int, mod func(*wire.Summary)) {
		pub, priv, _ := ed25519.GenerateKey(rand.Reader)
		id := wire.BoxID(pub)
		if _, err := h.Register(id, wire.FormatPublicKey(pub), site); err != nil {
			t.Fatal(err)
		}
		s := wire.Summary{Schema: wire.Schema, Box: wire.Box{ID: id, Site: site, Version: "1.4.0"}, Seq: 1, Time: time.Now(), Reason: "interval", Interval: interval,
			Health: wire.Health{Checks: 24, OK: 24}}
		if mod != nil {
			mod(&s)
		}
		body, _ := wire.Encode(s)
		at := time.Now().UTC().Format(time.RFC3339Nano)
		r := httptest.NewRequest("POST", "/v1/summaries", bytes.NewReader(body))
		r.Header.Set(wire.HeaderBox, id)
		r.Header.Set(wire.HeaderSeq, "1")
		r.Header.Set(wire.HeaderTime, at)
		r.Header.Set(wire.HeaderIdem, wire.IdempotencyKey(id, 1))
		r.Header.Set(wire.HeaderSignature, base64.StdEncoding.EncodeToString(ed25519.Sign(priv, wire.SignedBytes(id, 1, at, body))))
		w := httptest.NewRecorder()
		h.Handler().ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			t.Fatalf("summary of %s: %d %s", site, w.Code, w.Body.String())
		}
	}
	post("Acme Dental, 2nd floor closet", 1, nil) // silent three seconds later
	post("Baker & Sons Law", 300, func(s *wire.Summary) { s.Lost = wire.Lost{Total: 12, FirstSeq: 3, LastSeq: 14} })
	post("Riverside Clinic", 300, func(s *wire.Summary) { s.BoxHealth.ChecksBehind = 3 })
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go h.RunWatch(ctx, hq.Watch{Every: 200 * time.Millisecond})
	if err := h.AddUser("alice", "Correct-Horse-9", false); err != nil {
		t.Fatal(err)
	}
	pages := httptest.NewServer(hqui.New(hqui.Options{Source: h, Users: h, Log: quiet}))
	defer pages.Close()

	deadline := time.Now().Add(patience)
	for {
		alerts, _ := h.ListAlerts()
		if len(alerts) == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("alerts after %s: %+v", patience, alerts)
		}
		time.Sleep(100 * time.Millisecond)
	}

	bctx, cancel := browser(t)
	defer cancel()
	if err := chromedp.Do(bctx,
		chromedp.Navigate(pages.URL+"/alerts"),
		chromedp.WaitVisible(chromedp.CSS(`#user`)),
		chromedp.SetValue(chromedp.CSS("#user"), "alice"),
		chromedp.SetValue(chromedp.CSS("#password"), "Correct-Horse-9"),
		chromedp.Click(chromedp.CSS(`[data-testid="login"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="alerts"]`)),
	); err != nil {
		t.Fatal(err)
	}
	page := text(t, bctx, `[data-testid="alerts"]`)
	for _, want := range []string{"silent", "box silent since", "lost", "12 lost in all", "health", "3 checks missing their schedule", "Riverside Clinic"} {
		if !strings.Contains(page, want) {
			t.Fatalf("alerts page lacks %q:\n%s", want, page)
		}
	}
	screenshot(t, bctx, "hq-alerts")
	alerts, _ := h.ListAlerts()
	var lost uint64
	for _, a := range alerts {
		if a.Kind == hq.AlertLost {
			lost = a.ID
		}
	}
	n := strconv.FormatUint(lost, 10)
	if err := chromedp.Do(bctx, chromedp.Click(chromedp.CSS(`[data-testid="ack-alert-`+n+`"]`))); err != nil {
		t.Fatal(err)
	}
	// The form posts and the browser follows the redirect; once hq holds
	// the acknowledgement, the page is opened afresh.
	deadline = time.Now().Add(patience)
	for {
		alerts, _ := h.ListAlerts()
		if i := slices.IndexFunc(alerts, func(a hq.Alert) bool { return a.ID == lost }); i >= 0 && alerts[i].AckedBy == "alice" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the acknowledgement never reached hq: %+v", alerts)
		}
		time.Sleep(100 * time.Millisecond)
	}
	visit(t, bctx, pages.URL+"/alerts", `[data-testid="alerts"]`)
	// The watcher resolves an acknowledged "lost" alert at its next look.
	waitText(t, bctx, `[data-testid="alert-`+n+`"] [data-testid="state"]`, "acknowledged by alice")
}
