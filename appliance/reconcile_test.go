package appliance_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"outpost/appliance"
	"outpost/appliance/incidents"
	"outpost/notify"
	"outpost/store"
)

// reconcileHook is a webhook receiver that keeps every message.
type reconcileHook struct {
	mu   sync.Mutex
	msgs []notify.Message
	srv  *httptest.Server
}

func newReconcileHook(t *testing.T) *reconcileHook {
	h := &reconcileHook{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m notify.Message
		json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&m)
		h.mu.Lock()
		h.msgs = append(h.msgs, m)
		h.mu.Unlock()
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// kinds lists the kinds of the messages about incident id, in order.
func (h *reconcileHook) kinds(id uint64) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var k []string
	for _, m := range h.msgs {
		if m.Incident == id {
			k = append(k, m.Kind)
		}
	}
	return strings.Join(k, ",")
}

// runDaemonIn runs a whole daemon on dir's data with the config text and
// returns it with a function that stops it and closes its store.
func runDaemonIn(t *testing.T, dir, cfg string) (*appliance.Appliance, func()) {
	t.Helper()
	p := filepath.Join(dir, "site.yaml")
	if err := os.WriteFile(p, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	a, err := appliance.New(appliance.Options{ConfigPath: p, DataDir: filepath.Join(dir, "data"), Listen: "127.0.0.1:0", UIListen: "127.0.0.1:0",
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
			a.Close()
		})
	}
	t.Cleanup(stop)
	return a, stop
}

// TestResolvedWhileNotifyMissedIt: the daemon stopped after the incident
// engine committed an incident's resolution and before notify committed
// its own (the daemon's two commits are apart). The next start tells
// everybody who was notified that it is resolved, and the incident's
// notification state is gone, so no reminder about a resolved incident
// goes out ever again. Before, the state stayed and reminded forever.
func TestResolvedWhileNotifyMissedIt(t *testing.T) {
	hook := newReconcileHook(t)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	dir := t.TempDir()
	policy := `notify:
  channels:
    - {name: oncall, kind: webhook, options: {url: '` + hook.srv.URL + `'}}
  policies:
    - {name: all, steps: [{channels: [oncall]}], repeat: 1m}
`
	a, stop := runDaemonIn(t, dir, "site: Acme\n"+policy+"checks:\n  - {id: db, kind: tcp, target: '"+dead+"', interval: 1s, timeout: 500ms}\n")
	var id uint64
	waitFor(t, "the db incident's opened message", patience, func() (bool, string) {
		list, _ := a.Incidents().List(true, 0)
		if len(list) == 1 {
			id = list[0].ID
		}
		return id != 0 && hook.kinds(id) == "opened", fmt.Sprintf("open incidents %d, messages %q", len(list), hook.kinds(id))
	})
	stop()

	// What the incident engine's commit of the resolution writes, with
	// notify's commit never made: the daemon died in between.
	path := filepath.Join(dir, "data", "outpost.db")
	st, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	doc, ok, err := st.GetIncident(id)
	if err != nil || !ok {
		t.Fatalf("incident %d in the store: %v %v", id, ok, err)
	}
	var inc incidents.Incident
	if err := json.Unmarshal(doc, &inc); err != nil {
		t.Fatal(err)
	}
	resolved := inc.Opened.Add(3 * time.Minute)
	inc.State, inc.Resolved, inc.Resolution = incidents.Resolved, &resolved, "recovered"
	inc.Timeline = append(inc.Timeline, incidents.Event{Time: resolved, Kind: incidents.Resolve, Text: "recovered: connected (recovered, after 3m0s)"})
	doc, _ = json.Marshal(inc)
	if err := st.PutIncident(id, false, doc); err != nil {
		t.Fatal(err)
	}
	states, _ := st.NotifyStates()
	if states[id] == nil {
		t.Fatalf("no notification state for incident %d before the restart: the scenario did not happen", id)
	}
	st.Close()

	// The next start: db is up now, so nothing new opens.
	up, _ := net.Listen("tcp", "127.0.0.1:0")
	defer up.Close()
	a, _ = runDaemonIn(t, dir, "site: Acme\n"+policy+"checks:\n  - {id: db, kind: tcp, target: '"+up.Addr().String()+"', interval: 1s, timeout: 500ms}\n")
	waitFor(t, "the resolved message for incident "+fmt.Sprint(id), patience, func() (bool, string) {
		return hook.kinds(id) == "opened,resolved", fmt.Sprintf("messages %q", hook.kinds(id))
	})
	hook.mu.Lock()
	last := hook.msgs[len(hook.msgs)-1]
	hook.mu.Unlock()
	if !strings.Contains(last.Summary, "resolved after 3m0s (recovered)") {
		t.Fatalf("resolved message says %q", last.Summary)
	}
	states, err = a.Store().NotifyStates()
	if err != nil || states[id] != nil {
		t.Fatalf("incident %d still has a notification state after its resolution went out (it would remind forever): %s %v", id, states[id], err)
	}
}
