package notify_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"outpost/appliance/config"
	"outpost/checks"
	"outpost/checks/clock"
	"outpost/checks/incident"
	"outpost/notify"
	"outpost/store"
)

var t0 = time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)

// receiver is a webhook endpoint that records what it gets.
type receiver struct {
	mu     sync.Mutex
	msgs   []notify.Message
	sigs   []string
	keys   []string
	status int
	srv    *httptest.Server
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{status: 200}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		var m notify.Message
		json.Unmarshal(body, &m)
		r.msgs = append(r.msgs, m)
		r.sigs = append(r.sigs, req.Header.Get("X-Outpost-Signature")+"|"+string(body))
		r.keys = append(r.keys, req.Header.Get("X-Outpost-Idempotency-Key"))
		w.WriteHeader(r.status)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) kinds() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var k []string
	for _, m := range r.msgs {
		k = append(k, m.Kind)
	}
	return strings.Join(k, ",")
}

func channels(t *testing.T, y string) map[string]notify.Channel {
	t.Helper()
	cfg, err := config.Parse("s.yaml", []byte("site: s\nnotify:\n"+y+"checks: []\n"))
	if err != nil {
		t.Fatal(err)
	}
	chs, err := notify.ConfigOf(cfg).Build()
	if err != nil {
		t.Fatal(err)
	}
	return chs
}

func openStore(t *testing.T, path string, c clock.Clock) *store.Store {
	st, err := store.Open(path, store.Options{Clock: c})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestEscalationTimeline(t *testing.T) {
	oncall, senior := newReceiver(t), newReceiver(t)
	chs := channels(t, "  channels:\n    - {name: oncall, kind: webhook, options: {url: '"+oncall.srv.URL+"', secret: s3cret}}\n    - {name: senior, kind: webhook, options: {url: '"+senior.srv.URL+"'}}\n")
	fc := clock.NewFake(t0)
	st := openStore(t, filepath.Join(t.TempDir(), "o.db"), fc)
	defer st.Close()
	var sentMu sync.Mutex
	var sent []string
	e, err := notify.New(notify.Options{Outbox: notify.NewOutbox(st), Clock: fc, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Channels: chs,
		Policies: []notify.Policy{{Name: "critical", Severities: []checks.Severity{"critical"}, Repeat: 15 * time.Minute,
			Steps: []notify.Step{{After: 0, Channels: []string{"oncall"}}, {After: 30 * time.Minute, Channels: []string{"senior"}}}}},
		AckURL: func(id uint64) string { return "https://box/ack/x" },
		Sent:   func(id uint64, text string) { sentMu.Lock(); sent = append(sent, text); sentMu.Unlock() },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	step := func(d time.Duration) { fc.Advance(d); e.Tick(); e.Deliver(ctx) }
	inc := notify.Incident{Site: "Acme", Incident: incident.Incident{ID: 7, Check: "db", Device: "db01", Severity: "critical", Status: checks.Critical, Summary: "connection refused", Opened: t0}}
	e.Opened(inc)
	step(0)
	if oncall.kinds() != "opened" || senior.kinds() != "" {
		t.Fatalf("at once: oncall %q senior %q", oncall.kinds(), senior.kinds())
	}
	step(15 * time.Minute)
	if oncall.kinds() != "opened,reminder" {
		t.Fatalf("after 15 min: %q", oncall.kinds())
	}
	step(15 * time.Minute) // 30 min: escalate, and oncall's reminder is due too
	if senior.kinds() != "escalated" || oncall.kinds() != "opened,reminder,reminder" {
		t.Fatalf("after 30 min: oncall %q senior %q", oncall.kinds(), senior.kinds())
	}
	step(15 * time.Minute) // 45 min: a reminder to both
	if oncall.kinds() != "opened,reminder,reminder,reminder" || senior.kinds() != "escalated,reminder" {
		t.Fatalf("after 45 min: %q / %q", oncall.kinds(), senior.kinds())
	}
	e.Acknowledged(7, "ann", "acknowledged: on my way")
	step(time.Hour)
	// Both hear once who took it; then reminders stop.
	if oncall.kinds() != "opened,reminder,reminder,reminder,acknowledged" || senior.kinds() != "escalated,reminder,acknowledged" {
		t.Fatalf("reminders went on after ack: %q / %q", oncall.kinds(), senior.kinds())
	}
	senior.mu.Lock()
	ackMsg := senior.msgs[len(senior.msgs)-1]
	senior.mu.Unlock()
	if ackMsg.Summary != "acknowledged by ann: on my way" || ackMsg.AckURL != "" {
		t.Fatalf("acknowledgement message %+v", ackMsg)
	}
	// Resolved after the ack still reaches everybody who was notified.
	inc.Resolution = "by technician"
	e.Resolved(inc, 42*time.Minute)
	step(0)
	if oncall.kinds() != "opened,reminder,reminder,reminder,acknowledged,resolved" || senior.kinds() != "escalated,reminder,acknowledged,resolved" {
		t.Fatalf("resolved: %q / %q", oncall.kinds(), senior.kinds())
	}
	step(2 * time.Hour)
	if oncall.kinds() != "opened,reminder,reminder,reminder,acknowledged,resolved" {
		t.Fatalf("messages after resolve: %q", oncall.kinds())
	}
	oncall.mu.Lock()
	last := oncall.msgs[len(oncall.msgs)-1]
	first := oncall.msgs[0]
	sig := oncall.sigs[0]
	oncall.mu.Unlock()
	if last.Kind != "resolved" || !strings.Contains(last.Summary, "resolved after 42m0s (by technician)") || last.AckURL != "" || last.Thread != first.Thread {
		t.Fatalf("resolved message %+v", last)
	}
	if first.Site != "Acme" || first.Device != "db01" || first.Check != "db" || first.AckURL != "https://box/ack/x" || !first.Since.Equal(t0) {
		t.Fatalf("message content %+v", first)
	}
	// HMAC: t=<ts>,v1=<hex of HMAC("<ts>." + body)>.
	head, body, _ := strings.Cut(sig, "|")
	ts := strings.TrimPrefix(strings.Split(head, ",")[0], "t=")
	if head != "t="+ts+",v1="+notify.Sign("s3cret", ts, []byte(body)) {
		t.Fatalf("signature %q does not verify", head)
	}
	if !notify.VerifySignature("s3cret", head, []byte(body), time.Now(), time.Minute) ||
		notify.VerifySignature("s3cret", head, []byte(body+" "), time.Now(), time.Minute) ||
		notify.VerifySignature("s3cret", head, []byte(body), time.Now().Add(10*time.Minute), time.Minute) {
		t.Fatal("VerifySignature accepts what it should refuse or refuses the real one")
	}
	if senior.sigs[0][0] != '|' {
		t.Fatal("a channel without secret signed")
	}
	sentMu.Lock()
	defer sentMu.Unlock()
	if len(sent) != 10 || !strings.Contains(sent[0], "opened message sent to oncall (127.0.0.1:") {
		t.Fatalf("timeline callbacks %v", sent)
	}
}

func TestMaintenanceIsQuiet(t *testing.T) {
	r := newReceiver(t)
	fc := clock.NewFake(t0)
	st := openStore(t, filepath.Join(t.TempDir(), "o.db"), fc)
	defer st.Close()
	e, _ := notify.New(notify.Options{Outbox: notify.NewOutbox(st), Clock: fc, Channels: channels(t, "  channels:\n    - {name: a, kind: webhook, options: {url: '"+r.srv.URL+"'}}\n"),
		Policies: []notify.Policy{{Name: "all", Steps: []notify.Step{{Channels: []string{"a"}}}}}})
	e.Opened(notify.Incident{Incident: incident.Incident{ID: 1, Severity: "critical", Opened: t0, InMaintenance: true}})
	e.Tick()
	e.Deliver(context.Background())
	if r.kinds() != "" {
		t.Fatalf("notified during maintenance: %q", r.kinds())
	}
}

func TestRetriesAndPermanentFailures(t *testing.T) {
	r := newReceiver(t)
	r.status = 503
	fc := clock.NewFake(t0)
	st := openStore(t, filepath.Join(t.TempDir(), "o.db"), fc)
	defer st.Close()
	chs := channels(t, "  channels:\n    - {name: a, kind: webhook, options: {url: '"+r.srv.URL+"'}}\n")
	e, _ := notify.New(notify.Options{Outbox: notify.NewOutbox(st), Clock: fc, Channels: chs, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Policies: []notify.Policy{{Name: "all", Steps: []notify.Step{{Channels: []string{"a"}}}}}})
	e.Opened(notify.Incident{Incident: incident.Incident{ID: 1, Severity: "critical", Opened: t0}})
	e.Tick()
	e.Deliver(context.Background())
	e.Deliver(context.Background()) // not due yet: no second attempt
	if r.kinds() != "opened" {
		t.Fatalf("attempts %q", r.kinds())
	}
	r.mu.Lock()
	r.status = 200
	r.mu.Unlock()
	fc.Advance(time.Hour) // past any backoff
	e.Deliver(context.Background())
	if r.kinds() != "opened,opened" || r.keys[0] != r.keys[1] {
		t.Fatalf("retry: %q keys %v", r.kinds(), r.keys)
	}
	var log []notify.LogEntry
	st.NotifyLogList(func(doc []byte) bool {
		var l notify.LogEntry
		json.Unmarshal(doc, &l)
		log = append(log, l)
		return true
	})
	if len(log) != 2 || !log[0].OK || log[1].OK || !strings.Contains(log[1].Answer, "503") {
		t.Fatalf("log %+v", log)
	}
	// A 4xx is permanent: logged once, not retried.
	bad := newReceiver(t)
	bad.status = 404
	ch := channels(t, "  channels:\n    - {name: b, kind: webhook, options: {url: '"+bad.srv.URL+"'}}\n")["b"]
	_, err := notify.Test(context.Background(), ch, "Acme", t0)
	if !notify.IsPermanent(err) {
		t.Fatalf("404 not permanent: %v", err)
	}
	if d := notify.Backoff(20); d > 30*time.Minute+time.Second {
		t.Fatalf("backoff not capped: %v", d)
	}
}

// TestCrashBetweenSentAndRecorded: a message sent but not recorded (the
// box died in between) goes again after a restart, with the same
// idempotency key, so nothing is lost and the receiver can drop it; the
// restarted engine does not make a second "opened" message either.
func TestCrashBetweenSentAndRecorded(t *testing.T) {
	r := newReceiver(t)
	path := filepath.Join(t.TempDir(), "o.db")
	fc := clock.NewFake(t0)
	chs := channels(t, "  channels:\n    - {name: a, kind: webhook, options: {url: '"+r.srv.URL+"'}}\n")
	policies := []notify.Policy{{Name: "all", Repeat: time.Hour, Steps: []notify.Step{{Channels: []string{"a"}}}}}
	st := openStore(t, path, fc)
	e, err := notify.New(notify.Options{Outbox: notify.NewOutbox(st), Clock: fc, Channels: chs, Policies: policies})
	if err != nil {
		t.Fatal(err)
	}
	e.Opened(notify.Incident{Site: "Acme", Incident: incident.Incident{ID: 3, Check: "db", Device: "db01", Severity: "critical", Opened: t0, Summary: "down"}})
	e.Tick() // state and message committed together
	items, _ := notify.NewOutbox(st).Pending()
	if len(items) != 1 {
		t.Fatalf("queued %d", len(items))
	}
	if _, err := chs["a"].Send(context.Background(), items[0].Message); err != nil { // sent ...
		t.Fatal(err)
	}
	st.Close() // ... and the box dies before recording it
	st = openStore(t, path, fc)
	defer st.Close()
	e, err = notify.New(notify.Options{Outbox: notify.NewOutbox(st), Clock: fc, Channels: chs, Policies: policies})
	if err != nil {
		t.Fatal(err)
	}
	e.Tick()
	e.Deliver(context.Background())
	if len(r.keys) != 2 || r.keys[0] != items[0].Message.ID || r.keys[1] != r.keys[0] {
		t.Fatalf("deliveries %v, want the same key twice", r.keys)
	}
	seen := map[string]bool{}
	for _, k := range r.keys {
		seen[k] = true
	}
	if len(seen) != 1 {
		t.Fatal("the receiver cannot drop the duplicate")
	}
	if left, _ := notify.NewOutbox(st).Pending(); len(left) != 0 {
		t.Fatalf("outbox not emptied: %v", left)
	}
	// The restarted engine remembers the step: the next message is the
	// reminder an hour later, not a second "opened".
	fc.Advance(time.Hour)
	e.Tick()
	e.Deliver(context.Background())
	if r.kinds() != "opened,opened,reminder" {
		t.Fatalf("after restart: %q", r.kinds())
	}
}

func TestAckTokens(t *testing.T) {
	key := []byte("box-secret-0123456789")
	tok := notify.MakeAckToken(key, 42, t0.Add(time.Hour))
	if id, err := notify.CheckAckToken(key, tok, t0); err != nil || id != 42 {
		t.Fatalf("valid token: %d %v", id, err)
	}
	if _, err := notify.CheckAckToken(key, tok, t0.Add(2*time.Hour)); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("expired token accepted: %v", err)
	}
	if _, err := notify.CheckAckToken([]byte("other-box"), tok, t0); !errors.Is(err, notify.ErrBadToken) {
		t.Fatal("token from another key accepted")
	}
	// Moving a token to another incident breaks the signature.
	raw, _ := base64.RawURLEncoding.DecodeString(tok)
	raw[7] = 43 // same signature, another incident
	forged := base64.RawURLEncoding.EncodeToString(raw)
	if _, err := notify.CheckAckToken(key, forged, t0); !errors.Is(err, notify.ErrBadToken) {
		t.Fatal("spliced token accepted")
	}
	if _, err := notify.CheckAckToken(key, "garbage", t0); !errors.Is(err, notify.ErrBadToken) {
		t.Fatal("garbage accepted")
	}
}

// smtpBackend records mail received by a real SMTP server (go-smtp).
type smtpBackend struct {
	mu   sync.Mutex
	mail []received
}

type received struct {
	from string
	to   []string
	data string
	user string
}

func (b *smtpBackend) NewSession(c *smtp.Conn) (smtp.Session, error) { return &smtpSession{b: b}, nil }

type smtpSession struct {
	b *smtpBackend
	r received
}

func (s *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain, sasl.Login} }
func (s *smtpSession) Auth(mech string) (sasl.Server, error) {
	check := func(user, pass string) error {
		if user != "outpost@acme.test" || pass != "hunter22" {
			return errors.New("bad credentials")
		}
		s.r.user = user
		return nil
	}
	if mech == sasl.Login {
		return &loginServer{check: check}, nil
	}
	return sasl.NewPlainServer(func(identity, user, pass string) error { return check(user, pass) }), nil
}

// loginServer is the server side of AUTH LOGIN (go-sasl ships only the
// client): ask for the user name, then the password.
type loginServer struct {
	check func(user, pass string) error
	step  int
	user  string
}

func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	l.step++
	switch l.step {
	case 1:
		if len(resp) > 0 { // initial response carries the user name
			l.user = string(resp)
			l.step++
			return []byte("Password:"), false, nil
		}
		return []byte("Username:"), false, nil
	case 2:
		l.user = string(resp)
		return []byte("Password:"), false, nil
	}
	return nil, true, l.check(l.user, string(resp))
}
func (s *smtpSession) Mail(from string, opts *smtp.MailOptions) error { s.r.from = from; return nil }
func (s *smtpSession) Rcpt(to string, opts *smtp.RcptOptions) error {
	if strings.HasPrefix(to, "nobody@") {
		return &smtp.SMTPError{Code: 550, Message: "no such user"}
	}
	s.r.to = append(s.r.to, to)
	return nil
}
func (s *smtpSession) Data(r io.Reader) error {
	b, _ := io.ReadAll(r)
	s.r.data = string(b)
	s.b.mu.Lock()
	s.b.mail = append(s.b.mail, s.r)
	s.b.mu.Unlock()
	return nil
}
func (s *smtpSession) Reset()        {}
func (s *smtpSession) Logout() error { return nil }

func selfSigned(t *testing.T) tls.Certificate {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func TestEmailOverSTARTTLSAndTLS(t *testing.T) {
	be := &smtpBackend{}
	cert := selfSigned(t)
	for _, mode := range []string{"starttls", "tls"} {
		t.Run(mode, func(t *testing.T) {
			s := smtp.NewServer(be)
			s.Domain = "mail.acme.test"
			s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
			var ln net.Listener
			if mode == "tls" {
				ln, _ = tls.Listen("tcp", "127.0.0.1:0", s.TLSConfig)
			} else {
				ln, _ = net.Listen("tcp", "127.0.0.1:0")
			}
			go s.Serve(ln)
			defer s.Close()
			auth := "plain"
			if mode == "tls" {
				auth = "login"
			}
			chs := channels(t, "  channels:\n    - name: mail\n      kind: email\n      options: {server: '"+ln.Addr().String()+"', security: "+mode+", insecure_skip_verify: true, auth: "+auth+", from: 'Outpost <outpost@acme.test>', to: [oncall@acme.test, boss@acme.test], user: outpost@acme.test, password: hunter22}\n")
			first := notify.Message{ID: "m1", Thread: "m1", Kind: "opened", Incident: 9, Site: "Acme Dental", Device: "srv1", Check: "exchange", Severity: "critical", Status: "critical", Summary: "MSExchangeIS stopped", Since: t0, Time: t0.Add(5 * time.Minute), AckURL: "https://box/ack/tok", Healing: []string{"tried restart: failed"}}
			ans, err := chs["mail"].Send(context.Background(), first)
			if err != nil {
				t.Fatalf("send: %v", err)
			}
			second := first
			second.ID, second.Kind = "m2", "reminder"
			if _, err := chs["mail"].Send(context.Background(), second); err != nil {
				t.Fatal(err)
			}
			be.mu.Lock()
			defer be.mu.Unlock()
			got := be.mail[len(be.mail)-2]
			reply := be.mail[len(be.mail)-1]
			for _, want := range []string{"From: Outpost <outpost@acme.test>", "Message-ID: <m1@acme.test>", "Date: Tue, 24 Nov 2026 03:05:00 +0000", "Content-Type: multipart/alternative", "text/plain", "text/html", "Site:     Acme Dental", "Healing:  tried restart: failed", "Acknowledge: https://box/ack/tok", "X-Outpost-Idempotency-Key: m1"} {
				if !strings.Contains(got.data, want) {
					t.Errorf("mail lacks %q:\n%s", want, got.data)
				}
			}
			if got.user != "outpost@acme.test" || len(got.to) != 2 || !strings.Contains(ans, "accepted") {
				t.Fatalf("envelope %+v answer %q", got, ans)
			}
			if !strings.Contains(reply.data, "In-Reply-To: <m1@acme.test>") || !strings.Contains(reply.data, "References: <m1@acme.test>") {
				t.Fatalf("reminder not threaded:\n%s", reply.data)
			}
			// Parse the received MIME for real: headers and both parts.
			msg, err := mail.ReadMessage(strings.NewReader(reply.data))
			if err != nil {
				t.Fatal(err)
			}
			if msg.Header.Get("Message-Id") != "<m2@acme.test>" || msg.Header.Get("In-Reply-To") != "<m1@acme.test>" || msg.Header.Get("Auto-Submitted") != "auto-generated" {
				t.Fatalf("headers %v", msg.Header)
			}
			if d, err := msg.Header.Date(); err != nil || !d.Equal(t0.Add(5*time.Minute)) {
				t.Fatalf("Date %v %v", d, err)
			}
			mt, params, _ := mime.ParseMediaType(msg.Header.Get("Content-Type"))
			if mt != "multipart/alternative" {
				t.Fatalf("content type %q", mt)
			}
			mr := multipart.NewReader(msg.Body, params["boundary"])
			var types []string
			for {
				part, err := mr.NextPart()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(part)
				types = append(types, part.Header.Get("Content-Type"))
				if !strings.Contains(string(body), "STILL CRITICAL exchange on srv1") || !strings.Contains(string(body), "https://box/ack/tok") {
					t.Fatalf("part %s:\n%s", part.Header.Get("Content-Type"), body)
				}
			}
			if strings.Join(types, ",") != "text/plain; charset=utf-8,text/html; charset=utf-8" {
				t.Fatalf("parts %v", types)
			}
		})
	}
	// Wrong password and an unknown recipient.
	s := smtp.NewServer(be)
	s.AllowInsecureAuth = true
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go s.Serve(ln)
	defer s.Close()
	bad := channels(t, "  channels:\n    - {name: m, kind: email, options: {server: '"+ln.Addr().String()+"', security: none, from: a@acme.test, to: [nobody@acme.test], user: outpost@acme.test, password: hunter22}}\n")["m"]
	if _, err := notify.Test(context.Background(), bad, "Acme", t0); !notify.IsPermanent(err) || !strings.Contains(err.Error(), "no such user") {
		t.Fatalf("bad recipient: %v", err)
	}
	wrong := channels(t, "  channels:\n    - {name: m, kind: email, options: {server: '"+ln.Addr().String()+"', security: none, from: a@acme.test, to: [x@acme.test], user: outpost@acme.test, password: nope}}\n")["m"]
	if _, err := notify.Test(context.Background(), wrong, "Acme", t0); err == nil || !strings.Contains(err.Error(), "AUTH") {
		t.Fatalf("wrong password: %v", err)
	}
}

func TestChannelConfigErrors(t *testing.T) {
	for y, want := range map[string]string{
		"  channels:\n    - {name: a, kind: pager, options: {}}\n":                                                            `unknown channel kind "pager" (one of discord, email, ntfy, pushover, slack, sms, teams, webhook)`,
		"  channels:\n    - {name: a, kind: email, options: {server: smtp, from: x@y.z, to: [a@b.c]}}\n":                      `notify.channels[0].options.server: "smtp" is not host:port`,
		"  channels:\n    - {name: a, kind: webhook, options: {url: 'ftp://x'}}\n":                                            `notify.channels[0].options.url: "ftp://x" is not an http(s) URL`,
		"  policies:\n    - {name: p, steps: [{channels: [ghost]}]}\n":                                                        `notify.policies[0].steps[0].channels: "ghost" is not a configured channel`,
		"  policies:\n    - {name: p, repeat: 10s, steps: [{channels: []}]}\n":                                                `notify.policies[0].repeat: 10s is too often (at least 1m, or 0 for no reminders)`,
		"  policies:\n    - {name: p, repeat_by_severity: {urgent: 5m}, steps: [{channels: []}]}\n":                           `notify.policies[0].repeat_by_severity: "urgent" is not a severity (one of info, warning, critical)`,
		"  policies:\n    - {name: p, steps: [{after: 30m, channels: []}, {after: 10m, channels: []}]}\n":                     `notify.policies[0].steps[1].after: 10m0s comes before the previous step's 30m0s (steps are in time order)`,
		"  policies:\n    - {name: p, group_window: 1h, steps: [{channels: []}]}\n":                                           `notify.policies[0].group_window: 1h0m0s is out of range (0 to 10m: it delays the first message)`,
		"  policies:\n    - {name: p, steps: [{channels: [oncall:nights]}]}\n":                                                `notify.policies[0].steps[0].channels: "oncall:nights" names no configured on-call rotation`,
		"  channels:\n    - {name: a, kind: sms, options: {account: AC1, token: t, from: '+15550001', to: ['555-1234']}}\n":   `notify.channels[0].options.to: "555-1234" is not a phone number in E.164 form (+15551234567)`,
		"  channels:\n    - {name: a, kind: ntfy, options: {url: 'https://ntfy.sh/'}}\n":                                      `notify.channels[0].options.url: needs the topic as its last path element (https://ntfy.sh/<topic>)`,
		"  channels:\n    - {name: a, kind: pushover, options: {token: t}}\n":                                                 `notify.channels[0].options.user: is required (the user or group key from pushover.net)`,
		"  channels:\n    - {name: a, kind: email, options: {server: 'smtp:587', from: x@y.z, to: [a@b.c], security: ssl}}\n": `notify.channels[0].options.security: "ssl" is not starttls, tls or none`,
	} {
		_, err := config.Parse("s.yaml", []byte("site: s\nnotify:\n"+y+"checks: []\n"))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s\n got %v\n want %s", y, err, want)
		}
	}
}

// capture records raw requests for the shape tests.
type capture struct {
	mu   sync.Mutex
	reqs []*http.Request
	body []string
	srv  *httptest.Server
}

func newCapture(t *testing.T) *capture {
	c := &capture{}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		c.mu.Lock()
		c.reqs = append(c.reqs, r)
		c.body = append(c.body, string(b))
		c.mu.Unlock()
		io.WriteString(w, `{"status":1}`)
	}))
	t.Cleanup(c.srv.Close)
	return c
}

func TestReadyMadeShapes(t *testing.T) {
	c := newCapture(t)
	m := notify.Message{ID: "m1", Kind: "opened", Site: "Acme", Device: "db01", Check: "db", Severity: "critical", Status: "critical", Summary: "connection refused", Since: t0, Time: t0, AckURL: "https://box/ack/t"}
	chs := channels(t, `  channels:
    - {name: teams, kind: teams, options: {url: '`+c.srv.URL+`/teams'}}
    - {name: discord, kind: discord, options: {url: '`+c.srv.URL+`/discord'}}
    - {name: ntfy, kind: ntfy, options: {url: '`+c.srv.URL+`/alerts', token: tk}}
    - {name: push, kind: pushover, options: {url: '`+c.srv.URL+`/push', token: tok, user: usr}}
    - {name: sms, kind: sms, options: {url: '`+c.srv.URL+`/sms', account: AC1, token: secret, from: '+1000000000', to: ['+2010000001', '+2020000002']}}
`)
	for _, name := range []string{"teams", "discord", "ntfy", "push", "sms"} {
		if _, err := chs[name].Send(context.Background(), m); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var teams map[string]any
	json.Unmarshal([]byte(c.body[0]), &teams)
	card := teams["attachments"].([]any)[0].(map[string]any)
	if card["contentType"] != "application/vnd.microsoft.card.adaptive" || !strings.Contains(c.body[0], `"Action.OpenUrl"`) || !strings.Contains(c.body[0], "https://box/ack/t") {
		t.Fatalf("teams body %s", c.body[0])
	}
	if !strings.Contains(c.body[1], `"content":"[Acme] CRITICAL db on db01`) || c.reqs[1].Header.Get("X-Outpost-Idempotency-Key") != "m1" {
		t.Fatalf("discord body %s", c.body[1])
	}
	if c.reqs[2].URL.Path != "/" || !strings.Contains(c.body[2], `"topic":"alerts"`) || !strings.Contains(c.body[2], `"priority":5`) || !strings.Contains(c.body[2], `"action":"view"`) || c.reqs[2].Header.Get("Authorization") != "Bearer tk" {
		t.Fatalf("ntfy body %s", c.body[2])
	}
	if !strings.Contains(c.body[3], "token=tok") || !strings.Contains(c.body[3], "user=usr") || !strings.Contains(c.body[3], "priority=1") {
		t.Fatalf("pushover form %s", c.body[3])
	}
	if len(c.body) != 6 || !strings.Contains(c.body[4], "To=%2B2010000001") || !strings.Contains(c.body[5], "To=%2B2020000002") || !strings.Contains(c.body[4], "Ack%3A+https%3A%2F%2Fbox%2Fack%2Ft") {
		t.Fatalf("sms: %v", c.body[4:])
	}
	if u, p, ok := c.reqs[4].BasicAuth(); !ok || u != "AC1" || p != "secret" {
		t.Fatal("sms basic auth missing")
	}
}

func TestGroupingAndBrokenChannelAlert(t *testing.T) {
	a, b := newReceiver(t), newReceiver(t)
	b.status = 503
	fc := clock.NewFake(t0)
	st := openStore(t, filepath.Join(t.TempDir(), "o.db"), fc)
	defer st.Close()
	chs := channels(t, "  channels:\n    - {name: a, kind: webhook, options: {url: '"+a.srv.URL+"'}}\n    - {name: b, kind: webhook, options: {url: '"+b.srv.URL+"'}}\n")
	e, _ := notify.New(notify.Options{Outbox: notify.NewOutbox(st), Clock: fc, Channels: chs, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		AckURL:   func(id uint64) string { return fmt.Sprintf("https://box/ack/%d", id) },
		Policies: []notify.Policy{{Name: "all", GroupWindow: 30 * time.Second, Repeat: 10 * time.Minute, Steps: []notify.Step{{Channels: []string{"a", "b"}}}}}})
	// Two devices behind switch1 open 5 s apart; the camera (no parent)
	// opens 10 s later and is another cause.
	for i, dev := range []string{"printer", "nas", "cam"} {
		fc.Advance(5 * time.Second)
		parent := "switch1"
		if dev == "cam" {
			parent = ""
		}
		e.Opened(notify.Incident{Site: "Acme", Parent: parent, Incident: incident.Incident{ID: uint64(i + 1), Check: dev + "-ping", Device: dev, Severity: "critical", Opened: fc.Now(), Summary: "timed out"}})
		e.Tick()
	}
	e.Deliver(context.Background())
	if a.kinds() != "" {
		t.Fatal("sent before the group window ended")
	}
	fc.Advance(20 * time.Second) // printer's window ends; nas joins it
	e.Tick()
	e.Deliver(context.Background())
	a.mu.Lock()
	if len(a.msgs) != 1 || a.msgs[0].Incident != 1 || len(a.msgs[0].Grouped) != 1 || a.msgs[0].Grouped[0].Incident != 2 || a.msgs[0].Grouped[0].AckURL != "https://box/ack/2" || a.msgs[0].Parent != "switch1" {
		t.Fatalf("grouped: %+v", a.msgs)
	}
	a.mu.Unlock()
	fc.Advance(10 * time.Second) // the camera's own window ends
	e.Tick()
	e.Deliver(context.Background())
	a.mu.Lock()
	if len(a.msgs) != 2 || a.msgs[1].Incident != 3 || len(a.msgs[1].Grouped) != 0 {
		t.Fatalf("camera: %+v", a.msgs)
	}
	a.mu.Unlock()
	// b keeps failing: after the third failure a hears about it, once
	// within the hour, between the grouped reminders.
	for i := 0; i < 5; i++ {
		fc.Advance(4 * time.Minute)
		e.Tick()
		e.Deliver(context.Background())
		e.Deliver(context.Background()) // the alert queued during the pass
	}
	got := a.kinds()
	if strings.Count(got, "channel-failing") != 1 || !strings.HasPrefix(got, "opened,opened,") {
		t.Fatalf("a got %q", got)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	var reminders []notify.Message
	for _, m := range a.msgs {
		switch m.Kind {
		case "channel-failing":
			if !strings.Contains(m.Summary, "b is broken on this box: 3 failures in a row") {
				t.Fatalf("alert %q", m.Summary)
			}
		case "reminder":
			reminders = append(reminders, m)
		}
	}
	if len(reminders) != 2 || len(reminders[0].Grouped) != 1 || len(reminders[1].Grouped) != 0 {
		t.Fatalf("reminders (grouped like the first messages): %+v", reminders)
	}
	if h := e.Failing()["b"]; h.Failures < 3 || !strings.Contains(h.LastError, "503") {
		t.Fatalf("failing %+v", e.Failing())
	}
}

func TestPolicyMatching(t *testing.T) {
	p := notify.Policy{Severities: []checks.Severity{"critical"}, Groups: []string{"servers"}, Devices: []string{"fs1", "fs2"}}
	for _, tc := range []struct {
		inc  notify.Incident
		want bool
	}{
		{notify.Incident{Incident: incident.Incident{Severity: "critical", Group: "servers", Device: "fs1"}}, true},
		{notify.Incident{Incident: incident.Incident{Severity: "warning", Group: "servers", Device: "fs1"}}, false},
		{notify.Incident{Incident: incident.Incident{Severity: "critical", Group: "printers", Device: "fs1"}}, false},
		{notify.Incident{Incident: incident.Incident{Severity: "critical", Group: "servers", Device: "web"}}, false},
	} {
		if p.Matches(tc.inc) != tc.want {
			t.Errorf("%+v: %v", tc.inc, !tc.want)
		}
	}
	if !(notify.Policy{}).Matches(notify.Incident{Incident: incident.Incident{Severity: "info"}}) {
		t.Error("an empty policy matches everything")
	}
}
