package notify

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"outpost/checks"
)

func init() {
	Register(Kind{Name: "sms", Summary: "SMS through a Twilio-compatible Messages API", New: newSMS})
}

// sms sends through a Twilio-compatible Messages API: a form POST with
// basic auth (account SID and token), one message per number.
type sms struct {
	hook
	url, host string
	auth      string
	from      string
	to        []string
}

func newSMS(opts checks.Options) (Channel, error) {
	var o struct {
		URL     string        `yaml:"url"`
		Account string        `yaml:"account"`
		Token   checks.Secret `yaml:"token"`
		From    string        `yaml:"from"`
		To      []string      `yaml:"to"`
	}
	if err := opts.Decode(&o); err != nil {
		return nil, err
	}
	for _, req := range []struct{ field, val string }{{"account", o.Account}, {"token", string(o.Token)}, {"from", o.From}} {
		if req.val == "" {
			return nil, &checks.FieldError{Field: req.field, Msg: "is required"}
		}
	}
	if len(o.To) == 0 {
		return nil, &checks.FieldError{Field: "to", Msg: "needs at least one phone number"}
	}
	for _, n := range append([]string{o.From}, o.To...) {
		if !strings.HasPrefix(n, "+") || len(n) < 8 || strings.Trim(n[1:], "0123456789") != "" {
			return nil, &checks.FieldError{Field: "to", Msg: fmt.Sprintf("%q is not a phone number in E.164 form (+15551234567)", n)}
		}
	}
	if o.URL == "" {
		o.URL = "https://api.twilio.com/2010-04-01/Accounts/" + url.PathEscape(o.Account) + "/Messages.json"
	}
	u, err := httpURL("url", o.URL)
	if err != nil {
		return nil, err
	}
	return &sms{hook: newHook(), url: o.URL, host: u.Host, auth: "Basic " + base64.StdEncoding.EncodeToString([]byte(o.Account+":"+o.Token.Reveal())), from: o.From, to: o.To}, nil
}

// Recipient lists the numbers.
func (s *sms) Recipient() string { return strings.Join(s.to, ", ") }

// Send texts a short form of the message to each number. A failure for
// one number fails the whole message so it is retried; receivers drop
// the repeat by the idempotency key (one per number).
func (s *sms) Send(ctx context.Context, m Message) (string, error) {
	text := m.Subject()
	if m.AckURL != "" {
		text = truncate(text, 1500) + " Ack: " + m.AckURL
	}
	h := http.Header{"Authorization": {s.auth}}
	var answers []string
	for _, to := range s.to {
		form := url.Values{"From": {s.from}, "To": {to}, "Body": {truncate(text, 1600)}}
		ans, err := s.post(ctx, s.url, "application/x-www-form-urlencoded", []byte(form.Encode()), h, m.ID+":"+to)
		if err != nil {
			return strings.Join(append(answers, to+": "+ans), "; "), fmt.Errorf("to %s: %w", to, err)
		}
		answers = append(answers, to+": "+ans)
	}
	return strings.Join(answers, "; "), nil
}
