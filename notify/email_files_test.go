package notify_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"outpost/notify"
)

// TestEmailSendsFiles: through a real SMTP server, SendFiles mails a
// text and an attachment (as a monthly report goes) to the given
// addresses, or to the channel's own when none are given; the
// attachment decodes to the bytes sent.
func TestEmailSendsFiles(t *testing.T) {
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
	em := chs["mail"].(*notify.Email)
	pdf := append([]byte("%PDF-1.4\n"), bytes.Repeat([]byte{0, 1, 2, 255}, 100)...)
	files := []notify.Attachment{{Name: "outpost-report-2026-11.pdf", Type: "application/pdf", Data: pdf}}
	at := time.Date(2031, 12, 1, 6, 0, 0, 0, time.UTC)
	if _, err := em.SendFiles(context.Background(), []string{"Dr Molar <client@acme.test>"}, "Monthly report 2026-11 für Acme", "Uptime 99.9 %\n", files, at); err != nil {
		t.Fatal(err)
	}
	if _, err := em.SendFiles(context.Background(), nil, "again", "text", nil, at); err != nil {
		t.Fatal(err)
	}
	if _, err := em.SendFiles(context.Background(), []string{"not an address"}, "x", "x", nil, at); !notify.IsPermanent(err) {
		t.Errorf("a bad address: %v, want a permanent error", err)
	}
	be.mu.Lock()
	defer be.mu.Unlock()
	if len(be.mail) != 2 || strings.Join(be.mail[0].to, ",") != "client@acme.test" || strings.Join(be.mail[1].to, ",") != "oncall@acme.test" {
		t.Fatalf("mails: %+v", be.mail)
	}
	m, err := mail.ReadMessage(strings.NewReader(be.mail[0].data))
	if err != nil {
		t.Fatal(err)
	}
	subj, _ := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	mt, params, _ := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if subj != "Monthly report 2026-11 für Acme" || mt != "multipart/mixed" {
		t.Fatalf("subject %q, type %q", subj, mt)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	text, _ := mr.NextPart()
	body, _ := io.ReadAll(text)
	att, err := mr.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(att) // base64 still: multipart decodes quoted-printable only
	if !strings.Contains(string(body), "Uptime 99.9 %") || att.FileName() != "outpost-report-2026-11.pdf" {
		t.Errorf("text %q, attachment %q", body, att.FileName())
	}
	if dec, err := decodeB64(got); err != nil || !bytes.Equal(dec, pdf) {
		t.Errorf("the attachment does not decode to the PDF sent: %v", err)
	}
}

func decodeB64(b []byte) ([]byte, error) {
	return io.ReadAll(base64.NewDecoder(base64.StdEncoding, bytes.NewReader(bytes.ReplaceAll(b, []byte("\r\n"), nil))))
}
