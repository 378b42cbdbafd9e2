//go:build linux

package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"outpost/appliance/phonehome/wire"
)

// hookMessages is a webhook receiver (the notify channel's peer) that
// keeps what it was sent.
type hookMessages struct {
	mu   sync.Mutex
	msgs []map[string]any
}

func (h *hookMessages) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var m map[string]any
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&m); err == nil {
		h.mu.Lock()
		h.msgs = append(h.msgs, m)
		h.mu.Unlock()
	}
}

// opened waits for the first "opened" message about check and returns its
// incident id and acknowledge link.
func (h *hookMessages) opened(t *testing.T, check string, boxLog *logTail) (uint64, string) {
	t.Helper()
	var id uint64
	var link string
	waitFor(t, "the webhook to be told that "+check+" is down", patience, func() string {
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, m := range h.msgs {
			if m["kind"] == "opened" && m["check"] == check {
				n, _ := m["incident"].(float64)
				id, link = uint64(n), fmt.Sprint(m["ack_url"])
				return ""
			}
		}
		return fmt.Sprintf("%d messages, none opening %s: %v\nbox log:\n%s", len(h.msgs), check, h.msgs, boxLog.String())
	})
	return id, link
}

// listenOpen is a TCP port that accepts until closed: a check against it
// is OK, and fails once it is closed.
func listenOpen(t *testing.T) (net.Listener, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return ln, ln.Addr().String()
}

// ackPage is what hq's acknowledge page says: its state and text.
func ackPage(t *testing.T, c *http.Client, link string) (state, body string) {
	t.Helper()
	resp, err := c.Get(link)
	if err != nil {
		return "unreachable", err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`data-state="([a-z]+)"`).FindSubmatch(b)
	if m == nil {
		return "none", string(b)
	}
	return string(m[1]), string(b)
}

// postAck presses the page's Acknowledge button as a browser would (same
// Origin), following the redirect back to the page.
func postAck(t *testing.T, c *http.Client, link, by string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, link, strings.NewReader(url.Values{"by": {by}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	u, _ := url.Parse(link)
	req.Header.Set("Origin", u.Scheme+"://"+u.Host)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", link, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func incidentShow(t *testing.T, data string, id uint64) string {
	t.Helper()
	out, _ := outpost(t, "incident", "show", fmt.Sprint(id), "--data", data)
	return out
}

// TestAckFromAnywhereThroughHQ: with phone home on and `hq run
// --public-url`, the box's acknowledge links (a real webhook receives
// them) point at hq; a POST to hq's page is relayed to the box in its
// next reply, the box checks the token and acknowledges as "<name> via
// hq (link)", and hq's page shows it acknowledged (relayed). A logged-in
// hq user acknowledges from the site's page. A tampered, a used and an
// expired token each reach the box and are refused by it, and hq's page
// shows the box's refusal. Before: links pointed at the box's LAN UI only
// (none at all without notify.ack_base_url).
func TestAckFromAnywhereThroughHQ(t *testing.T) {
	dir := t.TempDir()
	caFile, certFile, keyFile, _ := testCA(t, dir, "hq")
	hqData, boxData := t.TempDir(), t.TempDir()
	hqAddr, uiAddr := freePort(t), freePort(t)
	public := "https://" + hqAddr
	_, hqLog := startHQLog(t, hqData, hqAddr, uiAddr, certFile, keyFile, "--public-url", public)

	hook := &hookMessages{}
	hookSrv := httptest.NewServer(hook)
	defer hookSrv.Close()
	db, dbAddr := listenOpen(t)
	web, webAddr := listenOpen(t)
	app, appAddr := listenOpen(t)
	config := func(ackValid string) string {
		return fmt.Sprintf(`site: Acme
phonehome: {url: 'https://%s/v1/summaries', interval: 300ms, ca_file: '%s', backoff_max: 1s}
notify:
  ack_valid: %s
  channels:
    - {name: hook, kind: webhook, options: {url: '%s'}}
  policies:
    - {name: all, steps: [{channels: [hook]}], repeat: 1h}
checks:
  - {id: db, kind: tcp, target: '%s', interval: 1s, timeout: 500ms}
  - {id: web, kind: tcp, target: '%s', interval: 1s, timeout: 500ms}
  - {id: app, kind: tcp, target: '%s', interval: 1s, timeout: 500ms}
`, hqAddr, caFile, ackValid, hookSrv.URL, dbAddr, webAddr, appAddr)
	}
	cfg := writeConfig(t, config("72h"))
	boxCmd, boxLog := startBox(t, cfg, boxData)
	id, key := boxIdentity(t, boxData)
	registerBox(t, hqData, id, key)
	waitFor(t, "the box to learn hq's acknowledge pages", patience, func() string {
		out, _ := outpost(t, "phonehome", "status", "--data", boxData)
		if !strings.Contains(out, "ack links:    "+public+"/ack/") {
			return "phonehome status:\n" + out + "\nbox log:\n" + boxLog.String()
		}
		return ""
	})

	pool := x509.NewCertPool()
	caPEM, _ := os.ReadFile(caFile)
	pool.AppendCertsFromPEM(caPEM)
	browser := &http.Client{Timeout: patience, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}

	// A link, relayed.
	db.Close()
	dbInc, link := hook.opened(t, "db", boxLog)
	prefix := public + "/ack/" + id + "/"
	if !strings.HasPrefix(link, prefix) {
		t.Fatalf("the webhook's ack_url %q does not point at hq (%s…)", link, prefix)
	}
	token := strings.TrimPrefix(link, prefix)
	if inc, _, ok := wire.AckTokenInfo(token); !ok || inc != dbInc {
		t.Fatalf("the link's token %q names incident %d, want %d", token, inc, dbInc)
	}
	waitFor(t, "hq's page to show the incident from the box's summary", patience, func() string {
		if state, body := ackPage(t, browser, link); state != "form" || !strings.Contains(body, "db on") {
			return state + ":\n" + body
		}
		return ""
	})
	if code, body := postAck(t, browser, link, "bob"); code != http.StatusOK || !strings.Contains(body, `data-state="pending"`) {
		t.Fatalf("POST the link: %d\n%s", code, body)
	}
	waitFor(t, "the box to acknowledge the incident relayed by hq", patience, func() string {
		out := incidentShow(t, boxData, dbInc)
		if !strings.Contains(out, "acknowledged") || !strings.Contains(out, "[bob via hq (link)]") {
			return "incident show:\n" + out + "\nbox log:\n" + boxLog.String()
		}
		return ""
	})
	waitFor(t, "hq's page to say acknowledged (relayed)", patience, func() string {
		if state, body := ackPage(t, browser, link); state != "done" || !strings.Contains(body, "Acknowledged (relayed)") || !strings.Contains(body, "bob via hq (link)") {
			return state + ":\n" + body + "\nhq log:\n" + hqLog.String()
		}
		return ""
	})

	// The same link again: relayed, and refused by the box as used.
	postAck(t, browser, link, "mallory")
	refused := func(what, link, reason string) {
		t.Helper()
		waitFor(t, "hq's page to show the box refusing the "+what+" link", patience, func() string {
			if state, body := ackPage(t, browser, link); state != "refused" || !strings.Contains(body, reason) {
				return state + ":\n" + body + "\nbox log:\n" + boxLog.String()
			}
			return ""
		})
	}
	refused("used", link, "used already")
	if out := incidentShow(t, boxData, dbInc); strings.Contains(out, "mallory") {
		t.Fatalf("a used link acknowledged again:\n%s", out)
	}

	// A tampered token (its signature changed): refused by the box.
	web.Close()
	webInc, webLink := hook.opened(t, "web", boxLog)
	b := []byte(webLink)
	i := len(prefix) + 40
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	tampered := string(b)
	if code, body := postAck(t, browser, tampered, "mallory"); code != http.StatusOK {
		t.Fatalf("POST a tampered link: %d\n%s", code, body)
	}
	refused("tampered", tampered, "not valid")
	if out := incidentShow(t, boxData, webInc); strings.Contains(out, "mallory") || strings.Contains(out, "acknowledged") {
		t.Fatalf("a tampered link acknowledged:\n%s", out)
	}

	// A logged-in hq user acknowledges from the site's page.
	fleet := fleetLogin(t, hqData, uiAddr)
	var page string
	waitFor(t, "the site's page to offer web's acknowledgement", patience, func() string {
		resp, err := fleet.Get("http://" + uiAddr + "/boxes/" + id)
		if err != nil {
			return err.Error()
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		page = string(body)
		if !strings.Contains(page, fmt.Sprintf("/boxes/%s/incidents/%d/ack", id, webInc)) {
			return page
		}
		return ""
	})
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)
	resp, err := fleet.PostForm(fmt.Sprintf("http://%s/boxes/%s/incidents/%d/ack", uiAddr, id, webInc), url.Values{"csrf": {csrf[1]}})
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("acknowledge on the site's page: %v %v", resp, err)
	}
	resp.Body.Close()
	waitFor(t, "the box to acknowledge for the hq user", patience, func() string {
		if out := incidentShow(t, boxData, webInc); !strings.Contains(out, "[alice via hq (hq user)]") {
			return "incident show:\n" + out + "\nbox log:\n" + boxLog.String()
		}
		return ""
	})
	waitFor(t, "the site's page to show it acknowledged (relayed)", patience, func() string {
		resp, err := fleet.Get("http://" + uiAddr + "/boxes/" + id)
		if err != nil {
			return err.Error()
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), "acknowledged (relayed)") {
			return string(body)
		}
		return ""
	})

	// Links valid for a second (a new config in force): expired when
	// used, refused by the box.
	applied := strings.Count(boxLog.String(), "config applied")
	os.WriteFile(cfg, []byte(config("1s")), 0o644)
	boxCmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, "the box to take the new config", patience, func() string {
		if strings.Count(boxLog.String(), "config applied") <= applied {
			return boxLog.String()
		}
		return ""
	})
	app.Close()
	appInc, appLink := hook.opened(t, "app", boxLog)
	_, exp, ok := wire.AckTokenInfo(strings.TrimPrefix(appLink, prefix))
	if !ok || exp.Sub(time.Now()) > time.Minute {
		t.Fatalf("the app link %q expires %v: the new ack_valid is not in force", appLink, exp)
	}
	waitFor(t, "the app link to expire", patience, func() string {
		if !time.Now().After(exp.Add(time.Second)) {
			return "expires " + exp.String()
		}
		return ""
	})
	postAck(t, browser, appLink, "carol")
	refused("expired", appLink, "expired")
	if out := incidentShow(t, boxData, appInc); strings.Contains(out, "carol") {
		t.Fatalf("an expired link acknowledged:\n%s", out)
	}
	out, _ := outpost(t, "hq", "list", "--box", id, "--data", hqData)
	for _, want := range []string{"acknowledge incident " + fmt.Sprint(dbInc) + " (link, by bob)", "acknowledge incident " + fmt.Sprint(webInc) + " (hq user alice)", "refused"} {
		if !strings.Contains(out, want) {
			t.Fatalf("hq list --box lacks %q:\n%s", want, out)
		}
	}
}
