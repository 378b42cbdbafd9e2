package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"outpost/checks"
)

func init() {
	Register(Kind{Name: "email", Summary: "SMTP mail (STARTTLS or TLS, AUTH PLAIN/LOGIN, text and HTML, threaded per incident)", New: newEmail})
}

var _ Channel = (*Email)(nil)

// Email sends through an SMTP server: STARTTLS (port 587), implicit TLS
// (465) or plain (loopback relays), AUTH PLAIN or LOGIN, several
// recipients, a text and an HTML part. All messages of one incident share
// a thread (In-Reply-To/References to the first one's Message-ID).
type Email struct {
	addr, from     string
	to             []string
	security       string
	user, password string
	auth           string
	tls            *tls.Config
}

func newEmail(opts checks.Options) (Channel, error) {
	var o struct {
		Server             string        `yaml:"server"`
		Security           string        `yaml:"security"`
		From               string        `yaml:"from"`
		To                 []string      `yaml:"to"`
		User               string        `yaml:"user"`
		Password           checks.Secret `yaml:"password"`
		Auth               string        `yaml:"auth"`
		InsecureSkipVerify bool          `yaml:"insecure_skip_verify"`
	}
	if err := opts.Decode(&o); err != nil {
		return nil, err
	}
	host, _, err := net.SplitHostPort(o.Server)
	if err != nil {
		return nil, &checks.FieldError{Field: "server", Msg: fmt.Sprintf("%q is not host:port", o.Server)}
	}
	if o.Security == "" {
		o.Security = "starttls"
	}
	if o.Security != "starttls" && o.Security != "tls" && o.Security != "none" {
		return nil, &checks.FieldError{Field: "security", Msg: fmt.Sprintf("%q is not starttls, tls or none", o.Security)}
	}
	if _, err := mail.ParseAddress(o.From); err != nil {
		return nil, &checks.FieldError{Field: "from", Msg: fmt.Sprintf("%q is not an email address", o.From)}
	}
	if len(o.To) == 0 {
		return nil, &checks.FieldError{Field: "to", Msg: "needs at least one recipient"}
	}
	for _, t := range o.To {
		if _, err := mail.ParseAddress(t); err != nil {
			return nil, &checks.FieldError{Field: "to", Msg: fmt.Sprintf("%q is not an email address", t)}
		}
	}
	if o.Auth == "" {
		o.Auth = "plain"
	}
	if o.Auth != "plain" && o.Auth != "login" {
		return nil, &checks.FieldError{Field: "auth", Msg: fmt.Sprintf("%q is not plain or login", o.Auth)}
	}
	return &Email{addr: o.Server, from: o.From, to: o.To, security: o.Security, user: o.User, password: o.Password.Reveal(), auth: o.Auth,
		tls: &tls.Config{ServerName: host, InsecureSkipVerify: o.InsecureSkipVerify, MinVersion: tls.VersionTLS12}}, nil
}

// msgID is the Message-ID of message m; threadID that of its incident's
// first message.
func msgID(id, from string) string {
	domain := "outpost.local"
	if a, err := mail.ParseAddress(from); err == nil {
		if i := strings.LastIndexByte(a.Address, '@'); i >= 0 {
			domain = a.Address[i+1:]
		}
	}
	return "<" + id + "@" + domain + ">"
}

// emailSubject keeps one stem for every message of an incident,
// "[Site] #7 db on db01", so mail clients and people see one thread: the
// first message carries the problem, later ones are "Re: " the stem with
// what changed.
func emailSubject(m Message) string {
	if m.Incident == 0 {
		return m.Subject() // a test or channel message: no thread
	}
	what := fmt.Sprintf("%s on %s", m.Check, m.Device)
	if len(m.Grouped) > 0 {
		what = fmt.Sprintf("%d incidents", len(m.Grouped)+1)
		if m.Parent != "" {
			what += " behind " + m.Parent
		}
	}
	stem := fmt.Sprintf("[%s] #%d %s", m.Site, m.Incident, what)
	state := strings.ToUpper(m.Status)
	if state == "" {
		state = strings.ToUpper(m.Severity)
	}
	switch m.Kind {
	case "opened":
		return stem + ": " + state + " " + m.Summary
	case "reminder":
		return "Re: " + stem + ": STILL " + state
	case "escalated":
		return "Re: " + stem + ": " + state + ", escalated"
	case "resolved":
		return "Re: " + stem + ": RESOLVED"
	case "self-healed":
		return "Re: " + stem + ": SELF-HEALED"
	case "acknowledged":
		return "Re: " + stem + ": " + strings.Replace(m.Summary, "acknowledged", "ACKNOWLEDGED", 1)
	}
	return "Re: " + stem + ": " + m.Kind
}

// Compose builds the MIME message.
func (e *Email) Compose(m Message) []byte {
	var buf bytes.Buffer
	h := func(k, v string) { fmt.Fprintf(&buf, "%s: %s\r\n", k, v) }
	h("From", e.from)
	h("To", strings.Join(e.to, ", "))
	h("Subject", mime.QEncoding.Encode("utf-8", emailSubject(m)))
	h("Date", m.Time.Format(time.RFC1123Z))
	// The incident's first message is the thread's root: its Message-ID
	// is the thread's, and every later message (reminder, escalation,
	// acknowledgement, resolution) replies to it.
	id := m.ID
	if m.Kind == "opened" && m.Thread != "" {
		id = m.Thread
	}
	h("Message-ID", msgID(id, e.from))
	if m.Thread != "" && id != m.Thread {
		root := msgID(m.Thread, e.from)
		h("In-Reply-To", root)
		h("References", root)
	}
	h("X-Outpost-Idempotency-Key", m.ID)
	h("Auto-Submitted", "auto-generated")
	h("MIME-Version", "1.0")
	mw := multipart.NewWriter(&buf)
	h("Content-Type", "multipart/alternative; boundary="+strconv.Quote(mw.Boundary()))
	buf.WriteString("\r\n")
	for _, part := range []struct{ ctype, body string }{
		{"text/plain; charset=utf-8", m.Text()},
		{"text/html; charset=utf-8", "<html><body><pre style=\"font-family:sans-serif\">" + html.EscapeString(m.Text()) + "</pre>" + ackButton(m) + "</body></html>"},
	} {
		w, _ := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {part.ctype}, "Content-Transfer-Encoding": {"8bit"}})
		w.Write([]byte(strings.ReplaceAll(part.body, "\n", "\r\n")))
	}
	mw.Close()
	return buf.Bytes()
}

func ackButton(m Message) string {
	if m.AckURL == "" {
		return ""
	}
	return `<p><a href="` + html.EscapeString(m.AckURL) + `">Acknowledge this incident</a></p>`
}

// Recipient lists the addresses.
func (e *Email) Recipient() string { return strings.Join(e.to, ", ") }

// Send delivers the message. The whole SMTP conversation runs under ctx's
// deadline (the connection's deadline is set from it).
func (e *Email) Send(ctx context.Context, m Message) (string, error) {
	return e.deliver(ctx, e.to, e.Compose(m))
}

// Attachment is a file sent with a mail.
type Attachment struct {
	Name, Type string
	Data       []byte
}

// SendFiles mails text and files (a monthly report's PDF) with subject
// to the addresses to, or to the channel's own recipients when to is
// empty, through the channel's server and account. Errors are as Send's
// (5xx answers permanent).
func (e *Email) SendFiles(ctx context.Context, to []string, subject, text string, files []Attachment, at time.Time) (string, error) {
	if len(to) == 0 {
		to = e.to
	}
	for _, t := range to {
		if _, err := mail.ParseAddress(t); err != nil {
			return "", &PermanentError{fmt.Errorf("%q is not an email address", t)}
		}
	}
	var buf bytes.Buffer
	h := func(k, v string) { fmt.Fprintf(&buf, "%s: %s\r\n", k, v) }
	h("From", e.from)
	h("To", strings.Join(to, ", "))
	h("Subject", mime.QEncoding.Encode("utf-8", subject))
	h("Date", at.Format(time.RFC1123Z))
	h("Message-ID", msgID(fmt.Sprintf("files-%d", at.UnixNano()), e.from))
	h("Auto-Submitted", "auto-generated")
	h("MIME-Version", "1.0")
	mw := multipart.NewWriter(&buf)
	h("Content-Type", "multipart/mixed; boundary="+strconv.Quote(mw.Boundary()))
	buf.WriteString("\r\n")
	w, _ := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"text/plain; charset=utf-8"}, "Content-Transfer-Encoding": {"8bit"}})
	w.Write([]byte(strings.ReplaceAll(text, "\n", "\r\n")))
	for _, f := range files {
		w, _ := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {mime.FormatMediaType(f.Type, map[string]string{"name": f.Name})},
			"Content-Disposition":       {mime.FormatMediaType("attachment", map[string]string{"filename": f.Name})},
			"Content-Transfer-Encoding": {"base64"},
		})
		enc := base64.StdEncoding.EncodeToString(f.Data)
		for len(enc) > 76 {
			w.Write([]byte(enc[:76] + "\r\n"))
			enc = enc[76:]
		}
		w.Write([]byte(enc + "\r\n"))
	}
	mw.Close()
	return e.deliver(ctx, to, buf.Bytes())
}

// deliver sends body to the addresses to in one SMTP conversation.
func (e *Email) deliver(ctx context.Context, to []string, body []byte) (string, error) {
	var conn net.Conn
	var err error
	if e.security == "tls" {
		d := tls.Dialer{Config: e.tls}
		conn, err = d.DialContext(ctx, "tcp", e.addr)
	} else {
		var d net.Dialer
		conn, err = d.DialContext(ctx, "tcp", e.addr)
	}
	if err != nil {
		return "", fmt.Errorf("connecting to %s: %w", e.addr, err)
	}
	if deadline, ok := ctx.Deadline(); ok {
		conn.SetDeadline(deadline)
	}
	// Cancelling ctx also cuts a conversation stuck mid-command.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	var c *smtp.Client
	if e.security == "starttls" {
		if c, err = smtp.NewClientStartTLS(conn, e.tls); err != nil {
			conn.Close()
			return "", smtpErr(fmt.Sprintf("STARTTLS with %s", e.addr), err)
		}
	} else {
		c = smtp.NewClient(conn)
	}
	defer c.Close()
	if e.user != "" {
		var a sasl.Client
		if e.auth == "login" {
			a = sasl.NewLoginClient(e.user, e.password)
		} else {
			a = sasl.NewPlainClient("", e.user, e.password)
		}
		if err := c.Auth(a); err != nil {
			return "", smtpErr("AUTH "+strings.ToUpper(e.auth), err)
		}
	}
	from, _ := mail.ParseAddress(e.from)
	rcpts := make([]string, len(to))
	for i, t := range to {
		a, _ := mail.ParseAddress(t)
		rcpts[i] = a.Address
	}
	if err := c.SendMail(from.Address, rcpts, bytes.NewReader(body)); err != nil {
		return "", smtpErr("sending", err)
	}
	c.Quit()
	return fmt.Sprintf("accepted by %s for %s", e.addr, strings.Join(rcpts, ", ")), nil
}

// smtpErr makes 5xx answers permanent (bad address, refused) and leaves
// 4xx and network errors to retry.
func smtpErr(what string, err error) error {
	var se *smtp.SMTPError
	if errors.As(err, &se) && se.Code >= 500 {
		return &PermanentError{fmt.Errorf("%s: %w", what, err)}
	}
	return fmt.Errorf("%s: %w", what, err)
}
