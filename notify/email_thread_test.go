package notify_test

import (
	"net"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"outpost/checks"
	"outpost/checks/incident"
	"outpost/notify"
)

// TestEmailThreadsUnderTheFirstMessageSent: through the engine and a real
// SMTP server, an incident's reminder and resolution reply to the
// Message-ID of its first mail (not to an id no mail carried), and every
// subject keeps the incident's stem.
func TestEmailThreadsUnderTheFirstMessageSent(t *testing.T) {
	be := &smtpBackend{}
	s := smtp.NewServer(be)
	s.AllowInsecureAuth = true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	defer s.Close()
	chs := channels(t, "  channels:\n    - {name: mail, kind: email, options: {server: '"+ln.Addr().String()+"', security: none, from: 'Outpost <outpost@acme.test>', to: [oncall@acme.test]}}\n")
	h := newHarness(t, chs, notify.Options{
		Policies: []notify.Policy{{Name: "p", Repeat: 15 * time.Minute, Steps: []notify.Step{{Channels: []string{"mail"}}}}},
	})
	inc := incident.Incident{ID: 7, Check: "db", Device: "db01", Severity: "critical", Status: checks.Critical, Opened: t0, Summary: "connection refused"}
	h.e.Opened(notify.Incident{Site: "Acme", Incident: inc})
	h.step(0)
	h.step(15 * time.Minute)
	inc.Resolved = at(h.fc.Now().Add(time.Minute))
	h.fc.Advance(time.Minute)
	h.e.Resolved(notify.Incident{Site: "Acme", Incident: inc}, 0)
	h.step(0)

	be.mu.Lock()
	defer be.mu.Unlock()
	if len(be.mail) != 3 {
		t.Fatalf("%d mails, want opened, reminder, resolved", len(be.mail))
	}
	var msgs []*mail.Message
	for _, r := range be.mail {
		m, err := mail.ReadMessage(strings.NewReader(r.data))
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	root := msgs[0].Header.Get("Message-Id")
	if root == "" || msgs[0].Header.Get("In-Reply-To") != "" {
		t.Fatalf("first mail: Message-Id %q In-Reply-To %q", root, msgs[0].Header.Get("In-Reply-To"))
	}
	for i, m := range msgs[1:] {
		if m.Header.Get("In-Reply-To") != root || m.Header.Get("References") != root || m.Header.Get("Message-Id") == root {
			t.Errorf("mail %d: Message-Id %q In-Reply-To %q References %q, want replies to %q", i+2, m.Header.Get("Message-Id"), m.Header.Get("In-Reply-To"), m.Header.Get("References"), root)
		}
	}
	want := []string{"[Acme] #7 db on db01: CRITICAL connection refused", "Re: [Acme] #7 db on db01: STILL CRITICAL", "Re: [Acme] #7 db on db01: RESOLVED"}
	for i, m := range msgs {
		if got := m.Header.Get("Subject"); got != want[i] {
			t.Errorf("mail %d subject %q, want %q", i+1, got, want[i])
		}
	}
}
