//go:build linux

package main

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/mail"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-smtp"
)

// mailbox is a real SMTP server (go-smtp) on loopback that keeps what
// it receives: each mail as it came (mail) and as net/mail reads it
// (parsed; a message that does not parse is refused with 554).
type mailbox struct {
	mu     sync.Mutex
	mail   []string
	parsed []*mail.Message
	addr   string
}

func newMailbox(t *testing.T) *mailbox {
	t.Helper()
	m := &mailbox{}
	s := smtp.NewServer(m)
	s.Domain = "mail.msp.test"
	s.AllowInsecureAuth = true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m.addr = ln.Addr().String()
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return m
}

func (m *mailbox) NewSession(*smtp.Conn) (smtp.Session, error) { return &mailSession{m: m}, nil }

func (m *mailbox) all() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return strings.Join(m.mail, "\n----\n")
}

// find returns the first mail whose subject matches re, or "".
func (m *mailbox) find(re *regexp.Regexp) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.mail {
		if re.MatchString(s) {
			return s
		}
	}
	return ""
}

type mailSession struct{ m *mailbox }

func (s *mailSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *mailSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *mailSession) Data(r io.Reader) error {
	b, err := io.ReadAll(io.LimitReader(r, 1<<20))
	if err != nil {
		return err
	}
	msg, err := mail.ReadMessage(bytes.NewReader(b))
	if err != nil {
		return &smtp.SMTPError{Code: 554, Message: "not a mail message: " + err.Error()}
	}
	s.m.mu.Lock()
	s.m.mail = append(s.m.mail, string(b))
	s.m.parsed = append(s.m.parsed, msg)
	s.m.mu.Unlock()
	return nil
}

// subjects are the mails' subjects, decoded.
func (m *mailbox) subjects() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	dec := new(mime.WordDecoder)
	for _, msg := range m.parsed {
		s, err := dec.DecodeHeader(msg.Header.Get("Subject"))
		if err != nil {
			s = msg.Header.Get("Subject")
		}
		out = append(out, s)
	}
	return out
}
func (s *mailSession) Reset()        {}
func (s *mailSession) Logout() error { return nil }

// TestHQAlertsWhenBoxGoesSilent: a real box phones home to a real hq
// run with --notify (the box's own notify section: an email channel to
// a real SMTP server in the test, a policy for silent boxes); the box
// stops; after three of its intervals hq opens an alert and mails it.
// Someone logged in to the fleet pages acknowledges it (the mail says
// who), the box comes back and hq mails that it is resolved.
func TestHQAlertsWhenBoxGoesSilent(t *testing.T) {
	mb := newMailbox(t)
	dir := t.TempDir()
	_, certFile, keyFile, _ := testCA(t, dir, "hq")
	caFile := filepath.Join(dir, "hq-ca.pem")
	notifyFile := filepath.Join(dir, "hq-notify.yaml")
	os.WriteFile(notifyFile, []byte(fmt.Sprintf(`site: Acme MSP
notify:
  channels:
    - {name: mail, kind: email, options: {server: '%s', security: none, from: 'Outpost HQ <hq@msp.test>', to: [oncall@msp.test]}}
  policies:
    - {name: boxes, checks: [silent, lost, health], steps: [{after: 0s, channels: [mail]}], repeat: 1h}
`, mb.addr)), 0o600)
	hqData, boxData := t.TempDir(), t.TempDir()
	addr, uiAddr := freePort(t), freePort(t)
	_, hqLog := startHQLog(t, hqData, addr, uiAddr, certFile, keyFile, "--notify", notifyFile, "--watch-every", "200ms")
	cfg := writeConfig(t, fmt.Sprintf("site: Acme Dental\nphonehome: {url: 'https://%s/v1/summaries', interval: 1s, ca_file: '%s', backoff_max: 1s}\nchecks: []\n", addr, caFile))
	box, boxLog := startBox(t, cfg, boxData)
	id, key := boxIdentity(t, boxData)
	registerBox(t, hqData, id, key)
	waitDrained(t, boxData, 2, boxLog)
	if m := mb.all(); m != "" {
		t.Fatalf("mail while the box phones home:\n%s", m)
	}
	kill(box)

	opened := regexp.MustCompile(`(?m)^Subject: \[Acme Dental\] #\d+ silent on ` + id + `: CRITICAL box silent since`)
	waitFor(t, "hq to mail that the box went silent", patience, func() string {
		if mb.find(opened) == "" {
			return "mail so far:\n" + mb.all() + "\nhq log:\n" + hqLog.String()
		}
		return ""
	})

	client := fleetLogin(t, hqData, uiAddr)
	page := getPage(t, client, "http://"+uiAddr+"/alerts")
	m := regexp.MustCompile(`data-testid="ack-alert-(\d+)"`).FindStringSubmatch(page)
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)
	if m == nil || csrf == nil || !strings.Contains(page, id) || !strings.Contains(page, "silent") {
		t.Fatalf("alerts page:\n%s", page)
	}
	resp, err := client.PostForm("http://"+uiAddr+"/alerts/"+m[1]+"/ack", url.Values{"csrf": {csrf[1]}})
	if err != nil || resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/alerts" {
		t.Fatalf("acknowledge: %v %v", resp, err)
	}
	resp.Body.Close()
	acked := regexp.MustCompile(`(?m)^Subject: Re: \[Acme Dental\] #\d+ silent on ` + id + `: ACKNOWLEDGED by alice`)
	waitFor(t, "hq to mail who acknowledged", patience, func() string {
		if mb.find(acked) == "" {
			return "mail so far:\n" + mb.all()
		}
		return ""
	})

	_, boxLog = startBox(t, cfg, boxData)
	resolved := regexp.MustCompile(`(?m)^Subject: Re: \[Acme Dental\] #\d+ silent on ` + id + `: RESOLVED`)
	waitFor(t, "hq to mail that the box is back", patience, func() string {
		if mb.find(resolved) == "" {
			return "mail so far:\n" + mb.all() + "\nbox log:\n" + boxLog.String()
		}
		return ""
	})
	if page := getPage(t, client, "http://"+uiAddr+"/alerts"); !strings.Contains(page, "resolved") || strings.Contains(page, `data-testid="ack-alert-`) {
		t.Fatalf("alerts page once the box is back:\n%s", page)
	}
}

func getPage(t *testing.T, c *http.Client, u string) string {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, b)
	}
	return string(b)
}

// TestHQAlertsWhenBoxCannotNotify: a real box has a critical incident
// open and its own email channel points at a mail server that is not
// there; its summaries say so, and hq, which can still reach the MSP's
// mail, mails that nobody may know of the box's incident.
func TestHQAlertsWhenBoxCannotNotify(t *testing.T) {
	mb := newMailbox(t)
	dir := t.TempDir()
	_, certFile, keyFile, _ := testCA(t, dir, "hq")
	caFile := filepath.Join(dir, "hq-ca.pem")
	notifyFile := filepath.Join(dir, "hq-notify.yaml")
	os.WriteFile(notifyFile, []byte(fmt.Sprintf(`site: Acme MSP
notify:
  channels:
    - {name: mail, kind: email, options: {server: '%s', security: none, from: 'Outpost HQ <hq@msp.test>', to: [oncall@msp.test]}}
  policies:
    - {name: boxes, checks: [undelivered], steps: [{after: 0s, channels: [mail]}]}
`, mb.addr)), 0o600)
	hqData, boxData := t.TempDir(), t.TempDir()
	addr, uiAddr := freePort(t), freePort(t)
	_, hqLog := startHQLog(t, hqData, addr, uiAddr, certFile, keyFile, "--notify", notifyFile, "--watch-every", "200ms")
	deadMail := freePort(t) // nothing listens there
	cfg := writeConfig(t, fmt.Sprintf(`site: Acme Dental
phonehome: {url: 'https://%s/v1/summaries', interval: 1s, ca_file: '%s', backoff_max: 1s}
incidents: {confirm: 1, recover: 1}
notify:
  channels:
    - {name: site-mail, kind: email, options: {server: '%s', security: none, from: 'box@acme.test', to: [tech@acme.test]}}
  policies:
    - {name: all, steps: [{after: 0s, channels: [site-mail]}]}
checks:
  - {id: file-server, kind: tcp, target: '127.0.0.1:1', interval: 1s}
`, addr, caFile, deadMail))
	_, boxLog := startBox(t, cfg, boxData)
	id, key := boxIdentity(t, boxData)
	registerBox(t, hqData, id, key)
	want := regexp.MustCompile(`(?m)^Subject: \[Acme Dental\] #\d+ undelivered on ` + id + `: CRITICAL 1 critical incidents open and unacknowledged while the box's notifications fail: site-mail \(`)
	waitFor(t, "hq to mail that the box cannot notify anyone", patience, func() string {
		if mb.find(want) == "" {
			return "mail so far:\n" + mb.all() + "\nhq log:\n" + hqLog.String() + "\nbox log:\n" + boxLog.String()
		}
		return ""
	})
}

// TestPrometheusScrapesHQ: a real Prometheus scrapes a real hq's
// /metrics (--metrics-listen) while a real box phones home: PromQL finds
// the box up with its checks, hq's ingest counters and histogram, the
// watcher's leader; once the box stops, the box is down and a silent
// alert is open.
func TestPrometheusScrapesHQ(t *testing.T) {
	prom, err := exec.LookPath("prometheus")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("prometheus is not installed (make test installs Debian's prometheus)")
		}
		t.Skip("prometheus is not installed (apt-get install prometheus)")
	}
	dir := t.TempDir()
	_, certFile, keyFile, _ := testCA(t, dir, "hq")
	caFile := filepath.Join(dir, "hq-ca.pem")
	hqData, boxData := t.TempDir(), t.TempDir()
	addr, metrics, promAddr := freePort(t), freePort(t), freePort(t)
	startHQLog(t, hqData, addr, "127.0.0.1:0", certFile, keyFile, "--metrics-listen", metrics, "--watch-every", "200ms")
	cfg := writeConfig(t, fmt.Sprintf("site: Acme Dental\nphonehome: {url: 'https://%s/v1/summaries', interval: 1s, ca_file: '%s', backoff_max: 1s}\nchecks:\n  - {id: loop, kind: tcp, target: '%s', interval: 1s}\n", addr, caFile, metrics))
	box, boxLog := startBox(t, cfg, boxData)
	id, key := boxIdentity(t, boxData)
	registerBox(t, hqData, id, key)
	waitDrained(t, boxData, 3, boxLog)

	pcfg := filepath.Join(dir, "prometheus.yml")
	os.WriteFile(pcfg, []byte(fmt.Sprintf("global: {scrape_interval: 1s, scrape_timeout: 1s}\nscrape_configs:\n  - job_name: hq\n    static_configs: [{targets: ['%s']}]\n", metrics)), 0o644)
	p := exec.Command(prom, "--config.file="+pcfg, "--storage.tsdb.path="+filepath.Join(dir, "tsdb"), "--web.listen-address="+promAddr)
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { p.Process.Kill(); p.Wait() }()
	base := "http://" + promAddr
	expect := func(q string) {
		t.Helper()
		waitFor(t, "Prometheus to answer "+q, patience, func() string {
			got, problem := promQuery(base, q)
			if problem != "" {
				return problem
			}
			if len(got) == 0 {
				return "no series yet"
			}
			return ""
		})
	}
	expect(`outpost_box_up{box="` + id + `",site="Acme Dental"} == 1`)
	expect(`outpost_box_checks{box="` + id + `",status="ok"} >= 1`)
	expect(`outpost_hq_summaries_total{outcome="stored"} >= 3`)
	expect(`outpost_hq_ingest_seconds_count > 0`)
	expect(`outpost_hq_watcher_leader == 1`)
	expect(`outpost_hq_store_up{store="bbolt"} == 1`)
	expect(`outpost_hq_boxes == 1`)
	kill(box)
	expect(`outpost_box_up{box="` + id + `"} == 0`)
	expect(`outpost_hq_alerts_open{kind="silent"} == 1`)
}

// TestHQRemoteWritesToPrometheus: a real hq pushes the fleet series to a
// real Prometheus started with --web.enable-remote-write-receiver; a
// real box phones home, then stops. PromQL finds the box up with its
// checks, then down with a silent alert open.
func TestHQRemoteWritesToPrometheus(t *testing.T) {
	prom, err := exec.LookPath("prometheus")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("prometheus is not installed (make test installs Debian's prometheus)")
		}
		t.Skip("prometheus is not installed (apt-get install prometheus)")
	}
	dir := t.TempDir()
	promAddr := freePort(t)
	pcfg := filepath.Join(dir, "prometheus.yml")
	os.WriteFile(pcfg, []byte("global: {scrape_interval: 1m}\n"), 0o644)
	p := exec.Command(prom, "--config.file="+pcfg, "--storage.tsdb.path="+filepath.Join(dir, "tsdb"), "--web.listen-address="+promAddr, "--web.enable-remote-write-receiver")
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { p.Process.Kill(); p.Wait() }()
	base := "http://" + promAddr

	_, certFile, keyFile, _ := testCA(t, dir, "hq")
	caFile := filepath.Join(dir, "hq-ca.pem")
	hqData, boxData := t.TempDir(), t.TempDir()
	addr := freePort(t)
	_, hqLog := startHQLog(t, hqData, addr, "127.0.0.1:0", certFile, keyFile, "--remote-write", base+"/api/v1/write", "--remote-write-every", "1s", "--watch-every", "200ms")
	cfg := writeConfig(t, fmt.Sprintf("site: Acme Dental\nphonehome: {url: 'https://%s/v1/summaries', interval: 1s, ca_file: '%s', backoff_max: 1s}\nchecks:\n  - {id: loop, kind: tcp, target: '%s', interval: 1s}\n  - {id: dead, kind: tcp, target: '127.0.0.1:1', interval: 1s}\n", addr, caFile, addr))
	box, boxLog := startBox(t, cfg, boxData)
	id, key := boxIdentity(t, boxData)
	registerBox(t, hqData, id, key)
	waitDrained(t, boxData, 3, boxLog)
	expect := func(q string) {
		t.Helper()
		waitFor(t, "Prometheus to answer "+q, patience, func() string {
			got, problem := promQuery(base, q)
			if problem != "" {
				return problem
			}
			if len(got) == 0 {
				return "no series yet\nhq log:\n" + hqLog.String()
			}
			return ""
		})
	}
	expect(`outpost_box_up{job="outpost-hq",box="` + id + `",site="Acme Dental"} == 1`)
	expect(`outpost_box_checks{box="` + id + `",status="ok"} >= 1`)
	expect(`outpost_box_checks{box="` + id + `",status="critical"} >= 1`)
	expect(`outpost_hq_boxes == 1`)
	kill(box)
	expect(`outpost_box_up{box="` + id + `"} == 0`)
	expect(`outpost_hq_alerts_open{kind="silent"} == 1`)
}

// TestHQAPIThroughTheBinary: `outpost hq token add` makes a token; a
// PSA-like client lists the sites and a site's open incident through the
// API of a real hq, acknowledges it, and the real box takes the
// acknowledgement (hq shows the command done). Without the token the API
// answers 401, and hq.db holds no copy of it.
func TestHQAPIThroughTheBinary(t *testing.T) {
	dir := t.TempDir()
	_, certFile, keyFile, _ := testCA(t, dir, "hq")
	caFile := filepath.Join(dir, "hq-ca.pem")
	hqData, boxData := t.TempDir(), t.TempDir()
	addr, uiAddr := freePort(t), freePort(t)
	startHQLog(t, hqData, addr, uiAddr, certFile, keyFile)
	cfg := writeConfig(t, fmt.Sprintf("site: Acme Dental\nphonehome: {url: 'https://%s/v1/summaries', interval: 1s, ca_file: '%s', backoff_max: 1s}\nincidents: {confirm: 1, recover: 1}\nchecks:\n  - {id: file-server, kind: tcp, target: '127.0.0.1:1', interval: 1s}\n", addr, caFile))
	_, boxLog := startBox(t, cfg, boxData)
	id, key := boxIdentity(t, boxData)
	registerBox(t, hqData, id, key)
	cmd := exec.Command(binPath, "hq", "token", "add", "psa", "--data", hqData)
	out, err := cmd.Output()
	token := strings.TrimSpace(string(out))
	if err != nil || !strings.HasPrefix(token, "ohq_") {
		t.Fatalf("hq token add: %v %q", err, out)
	}
	api := func(method, path string) (int, string) {
		req, _ := http.NewRequest(method, "http://"+uiAddr+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if resp, err := http.Get("http://" + uiAddr + "/api/v1/sites"); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the API without a token: %v %v", resp, err)
	}
	if code, body := api("GET", "/api/v1/sites"); code != 200 || !strings.Contains(body, `"id":"`+id+`"`) {
		t.Fatalf("GET /api/v1/sites: %d %s", code, body)
	}
	var incident string
	waitFor(t, "the site's incident through the API", patience, func() string {
		code, body := api("GET", "/api/v1/sites/"+id)
		m := regexp.MustCompile(`"incidents":\[\{"id":(\d+),"check":"file-server"`).FindStringSubmatch(body)
		if code != 200 || m == nil {
			return fmt.Sprintf("%d %s\nbox log:\n%s", code, body, boxLog.String())
		}
		incident = m[1]
		return ""
	})
	if code, body := api("POST", "/api/v1/sites/"+id+"/incidents/"+incident+"/ack"); code != 200 || !strings.Contains(body, `"queued"`) {
		t.Fatalf("acknowledge through the API: %d %s", code, body)
	}
	waitFor(t, "the box to take the acknowledgement", patience, func() string {
		out, _ := outpost(t, "hq", "list", "--box", id, "--data", hqData)
		if !regexp.MustCompile(`acknowledge incident ` + incident + ` \(hq user api:psa\).*done \(summary`).MatchString(out) {
			return out
		}
		return ""
	})
	if code, body := api("GET", "/api/v1/alerts"); code != 200 || body != "[]\n" {
		t.Fatalf("GET /api/v1/alerts: %d %q", code, body)
	}
	db, _ := os.ReadFile(filepath.Join(hqData, "hq.db"))
	if bytes.Contains(db, []byte(token)) || bytes.Contains(db, []byte(strings.TrimPrefix(token, "ohq_"))) {
		t.Fatal("hq.db holds the API token")
	}
}

// TestHQRefusesSecretsOthersCanRead: hq's secrets never sit where every
// local user can read them: a --notify file (its channels' passwords) or
// a --remote-write-file readable by others, and a remote-write URL with a
// password on the command line, are refused before hq starts.
func TestHQRefusesSecretsOthersCanRead(t *testing.T) {
	dir := t.TempDir()
	_, certFile, keyFile, _ := testCA(t, dir, "hq")
	notify := filepath.Join(dir, "notify.yaml")
	os.WriteFile(notify, []byte("site: MSP\nnotify:\n  channels:\n    - {name: mail, kind: email, options: {server: '127.0.0.1:25', from: 'a@b.c', password: hunter2}}\n"), 0o644)
	rw := filepath.Join(dir, "remote-write")
	os.WriteFile(rw, []byte("https://user:hunter2@127.0.0.1:9090/api/v1/write\n"), 0o644)
	run := func(extra ...string) string {
		out, code := outpost(t, append([]string{"hq", "run", "--data", t.TempDir(), "--listen", "127.0.0.1:0", "--ui-listen", "127.0.0.1:0", "--cert", certFile, "--key", keyFile}, extra...)...)
		if code == 0 {
			t.Fatalf("hq run %v started:\n%s", extra, out)
		}
		return out
	}
	if out := run("--notify", notify); !strings.Contains(out, "readable by others") {
		t.Errorf("world-readable --notify file:\n%s", out)
	}
	if out := run("--remote-write-file", rw); !strings.Contains(out, "readable by others") {
		t.Errorf("world-readable --remote-write-file:\n%s", out)
	}
	if out := run("--remote-write", "https://user:hunter2@127.0.0.1:9090/api/v1/write"); !strings.Contains(out, "--remote-write-file") || strings.Contains(out, "hunter2") {
		t.Errorf("password on the command line:\n%s", out)
	}
}
