package appliance_test

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"outpost/appliance/incidents"
	"outpost/notify"
)

// TestIncidentNotifiesAndAckLink: an outage reaches a webhook with an
// acknowledge link; the link acknowledges once, from a browser with no
// login, and the incident's timeline shows who was notified.
func TestIncidentNotifiesAndAckLink(t *testing.T) {
	var mu sync.Mutex
	var got []notify.Message
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m notify.Message
		json.NewDecoder(r.Body).Decode(&m)
		mu.Lock()
		got = append(got, m)
		mu.Unlock()
	}))
	defer hook.Close()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	a, _ := MustRun(t, `site: Acme
notify:
  ack_base_url: https://outpost.acme.test:8443
  channels:
    - {name: oncall, kind: webhook, options: {url: '`+hook.URL+`'}}
  policies:
    - {name: all, steps: [{channels: [oncall]}], repeat: 1h}
checks:
  - {id: db, kind: tcp, target: '`+dead+`', interval: 1s, timeout: 500ms}
`)
	var msg notify.Message
	waitFor(t, "the webhook to be called", patience, func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		if len(got) > 0 {
			msg = got[0]
			return true, ""
		}
		r, _ := a.Store().Latest("db")
		return false, fmt.Sprintf("no webhook call; db latest %s %q", r.Status, r.Detail)
	})
	if msg.Kind != "opened" || msg.Check != "db" || msg.Site != "Acme" || !strings.HasPrefix(msg.AckURL, "https://outpost.acme.test:8443/ack/") {
		t.Fatalf("message %+v", msg)
	}
	u, _ := url.Parse(msg.AckURL)
	link := a.UIURL() + u.Path
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, Timeout: patience}
	resp, err := client.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), `data-testid="ack-button"`) {
		t.Fatalf("GET link: %d\n%s", resp.StatusCode, page)
	}
	list, _ := a.Incidents().List(true, 0)
	if list[0].State != incidents.Open {
		t.Fatal("a GET acknowledged the incident (mail scanners would)")
	}
	post := func(l string) (int, string) {
		resp, err := client.PostForm(l, url.Values{"by": {"alice"}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := post(link); code != 200 || !strings.Contains(body, "Acknowledged") {
		t.Fatalf("POST link: %d %s", code, body)
	}
	inc, _ := a.Incidents().Get(list[0].ID)
	if inc.State != incidents.Acknowledged || inc.AckedBy != "alice (via link)" {
		t.Fatalf("after link: %s by %q", inc.State, inc.AckedBy)
	}
	notified := false
	for _, ev := range inc.Timeline {
		if ev.Kind == incidents.Notified && strings.Contains(ev.Text, "opened message sent to oncall") {
			notified = true
		}
	}
	if !notified {
		t.Fatalf("timeline lacks the notification: %+v", inc.Timeline)
	}
	if code, body := post(link); code != http.StatusForbidden || !strings.Contains(body, "used already") {
		t.Fatalf("replayed link: %d %s", code, body)
	}
	tampered := link[:len(link)-3] + "AAA"
	if code, _ := post(tampered); code != http.StatusForbidden {
		t.Fatalf("tampered link: %d", code)
	}
}
