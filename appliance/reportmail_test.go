package appliance

import (
	"context"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"outpost/appliance/config"
	"outpost/checks"
	"outpost/checks/clock"
	"outpost/store"
)

// mailbox is a real SMTP server (go-smtp) on loopback that keeps what
// it is sent; down makes it refuse mail with a 451.
type mailbox struct {
	mu   sync.Mutex
	mail []string
	down bool
}

func (m *mailbox) NewSession(*smtp.Conn) (smtp.Session, error) { return &mailSession{m: m}, nil }

type mailSession struct{ m *mailbox }

func (s *mailSession) Mail(string, *smtp.MailOptions) error {
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	if s.m.down {
		return &smtp.SMTPError{Code: 451, Message: "try again later"}
	}
	return nil
}
func (s *mailSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *mailSession) Data(r io.Reader) error {
	b, _ := io.ReadAll(r)
	s.m.mu.Lock()
	s.m.mail = append(s.m.mail, string(b))
	s.m.mu.Unlock()
	return nil
}
func (s *mailSession) Reset()        {}
func (s *mailSession) Logout() error { return nil }

func (m *mailbox) subjects() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, b := range m.mail {
		for _, l := range strings.Split(b, "\r\n") {
			if s, ok := strings.CutPrefix(l, "Subject: "); ok {
				out = append(out, s)
			}
		}
	}
	return out
}

// TestReportMailedOnceAMonth: with an injected clock, the report of the
// month before is mailed once report.email.day is reached, never twice
// (not after a restart either: the month mailed is in the store), and
// again when the next month turns; a server refusing mail leaves the
// month to retry.
func TestReportMailedOnceAMonth(t *testing.T) {
	box := &mailbox{}
	srv := smtp.NewServer(box)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	cfg, err := config.Parse("site.yaml", []byte(`site: Acme Dental
notify:
  channels:
    - {name: office, kind: email, options: {server: '`+ln.Addr().String()+`', security: none, from: 'outpost@acme.test', to: [noc@msp.test]}}
report:
  email: {channel: office, to: [dr.molar@acme.test], day: 2}
checks:
  - {id: web, kind: tcp, target: '127.0.0.1:9'}
`))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "outpost.db")
	clk := clock.NewFake(time.Date(2031, 11, 20, 10, 0, 0, 0, time.UTC))
	open := func() (*store.Store, *reportMailer) {
		st, err := store.Open(path, store.Options{Clock: clk})
		if err != nil {
			t.Fatal(err)
		}
		return st, &reportMailer{st: st, cfg: func() *config.Config { return cfg }, clock: clk, loc: time.UTC, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	}
	st, m := open()
	// The box ran in October: its web check has history from the 5th.
	st.Append("web", checks.Result{Time: time.Date(2031, 10, 5, 9, 0, 0, 0, time.UTC), Status: checks.OK})
	if err := st.Flush(); err != nil {
		t.Fatal(err)
	}
	tick := func(want string) {
		t.Helper()
		got, err := m.tick(context.Background())
		if err != nil || got != want {
			t.Fatalf("at %s: mailed %q (%v), want %q", clk.Now(), got, err, want)
		}
	}
	tick("2031-10") // the month before, at once
	tick("")
	clk.Set(time.Date(2031, 12, 1, 0, 5, 0, 0, time.UTC))
	tick("") // the 1st: before report.email.day
	st.Close()
	st, m = open() // a restart
	clk.Set(time.Date(2031, 12, 2, 0, 5, 0, 0, time.UTC))
	box.mu.Lock()
	box.down = true
	box.mu.Unlock()
	if got, err := m.tick(context.Background()); err == nil || got != "" || !strings.Contains(err.Error(), "451") {
		t.Fatalf("with the server refusing: mailed %q, %v", got, err)
	}
	box.mu.Lock()
	box.down = false
	box.mu.Unlock()
	tick("2031-11")
	st.Close()
	st, m = open() // another restart: November is not mailed again
	defer st.Close()
	tick("")
	subj := box.subjects()
	if len(subj) != 2 || !strings.Contains(subj[0], "Monthly report 2031-10") || !strings.Contains(subj[1], "Monthly report 2031-11") {
		t.Fatalf("mails: %q", subj)
	}
	box.mu.Lock()
	defer box.mu.Unlock()
	if !strings.Contains(box.mail[1], "To: dr.molar@acme.test") || !strings.Contains(box.mail[1], `filename=outpost-report-2031-11.pdf`) {
		t.Errorf("the November mail:\n%.600s", box.mail[1])
	}
}

// TestReportMailDue: the month before, from the configured day on.
func TestReportMailDue(t *testing.T) {
	for _, c := range []struct {
		now       time.Time
		day       int
		last, due string
	}{
		{time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC), 1, "", "2030-12"},
		{time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC), 1, "2030-12", ""},
		{time.Date(2031, 3, 27, 23, 0, 0, 0, time.UTC), 28, "2031-01", ""},
		{time.Date(2031, 3, 28, 0, 0, 0, 0, time.UTC), 28, "2031-01", "2031-02"},
	} {
		m, ok := reportMailDue(c.now, c.day, c.last)
		if (c.due != "") != ok || (ok && m != c.due) {
			t.Errorf("at %s day %d last %q: %q %v, want %q", c.now, c.day, c.last, m, ok, c.due)
		}
	}
}
