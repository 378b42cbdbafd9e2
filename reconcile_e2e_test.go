package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// TestNeverNotifiedIncidentIsNotifiedAfterRestart: a daemon that stored
// an incident and was killed before any notification state was saved for
// it (here: its first run had no policy that matched; a kill between the
// incident's commit and notify's leaves the same store) notifies it when
// it starts again with a matching webhook policy. Before, the incident
// continued open and nobody was ever told.
func TestNeverNotifiedIncidentIsNotifiedAfterRestart(t *testing.T) {
	var mu sync.Mutex
	var got []struct {
		Kind     string `json:"kind"`
		Incident uint64 `json:"incident"`
		Check    string `json:"check"`
	}
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m struct {
			Kind     string `json:"kind"`
			Incident uint64 `json:"incident"`
			Check    string `json:"check"`
		}
		json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&m)
		mu.Lock()
		got = append(got, m)
		mu.Unlock()
	}))
	defer hook.Close()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	data := t.TempDir()
	check := fmt.Sprintf("checks:\n  - {id: db, kind: tcp, target: %q, interval: 1s, timeout: 500ms}\n", dead)
	start := func(cfg string) *exec.Cmd {
		cmd := exec.Command(binPath, "run", "--config", writeConfig(t, cfg), "--data", data, "--listen", "127.0.0.1:0", "--ui-listen", "127.0.0.1:0")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		return cmd
	}

	first := start("site: Acme\n" + check)
	waitFor(t, "the db incident to open", patience, func() string {
		out, _ := outpost(t, "incidents", "--open", "--data", data)
		if !strings.Contains(out, " db ") {
			return "incidents --open:\n" + out
		}
		return ""
	})
	first.Process.Signal(syscall.SIGKILL)
	first.Wait()

	start(`site: Acme
notify:
  channels:
    - {name: oncall, kind: webhook, options: {url: '` + hook.URL + `'}}
  policies:
    - {name: all, steps: [{channels: [oncall]}], repeat: 1h}
` + check)
	waitFor(t, "the webhook to hear of the db incident", patience, func() string {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range got {
			if m.Kind == "opened" && m.Check == "db" {
				return ""
			}
		}
		out, _ := outpost(t, "incidents", "--data", data)
		return fmt.Sprintf("webhook got %+v; incidents:\n%s", got, out)
	})
	mu.Lock()
	defer mu.Unlock()
	var db []string
	for _, m := range got {
		if m.Check == "db" {
			db = append(db, fmt.Sprintf("%s %d", m.Kind, m.Incident))
		}
	}
	if len(db) != 1 {
		t.Fatalf("webhook got %v about db, want one opened message (for the incident the first run opened)", db)
	}
}
