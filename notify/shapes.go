package notify

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"outpost/checks"
)

// Ready-made shapes for chat and push services: the same signed POST as
// the generic webhook, with the body each service expects.
func init() {
	Register(Kind{Name: "teams", New: shaped(teamsBody)})
	Register(Kind{Name: "discord", New: shaped(func(m Message) any { return map[string]string{"content": m.Text()} })})
	Register(Kind{Name: "ntfy", New: shaped(ntfyBody)})
	Register(Kind{Name: "pushover", New: newPushover})
	Register(Kind{Name: "sms", New: newSMS})
}

func shaped(body func(Message) any) func(checks.Options) (Channel, error) {
	return func(opts checks.Options) (Channel, error) {
		w, err := webhookOpts(opts)
		if err != nil {
			return nil, err
		}
		w.shape = body
		return w, nil
	}
}

// teamsBody is an Adaptive Card message for a Teams Workflows webhook.
func teamsBody(m Message) any {
	facts := []map[string]string{{"title": "Site", "value": m.Site}, {"title": "Device", "value": m.Device}, {"title": "Check", "value": m.Check}, {"title": "Severity", "value": m.Severity}, {"title": "Since", "value": m.Since.Format("2006-01-02 15:04 MST")}}
	if len(m.Healing) > 0 {
		facts = append(facts, map[string]string{"title": "Healing", "value": strings.Join(m.Healing, "; ")})
	}
	body := []any{
		map[string]any{"type": "TextBlock", "text": m.Subject(), "weight": "Bolder", "wrap": true},
		map[string]any{"type": "TextBlock", "text": m.Summary, "wrap": true},
		map[string]any{"type": "FactSet", "facts": facts},
	}
	card := map[string]any{"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard", "version": "1.4", "body": body}
	if m.AckURL != "" {
		card["actions"] = []any{map[string]string{"type": "Action.OpenUrl", "title": "Acknowledge", "url": m.AckURL}}
	}
	return map[string]any{"type": "message", "attachments": []any{map[string]any{"contentType": "application/vnd.microsoft.card.adaptive", "content": card}}}
}

// ntfyBody publishes to an ntfy server's JSON endpoint; the topic is the
// URL's last path element.
func ntfyBody(m Message) any {
	prio := 3
	switch {
	case m.Kind == "resolved":
		prio = 2
	case m.Severity == "critical":
		prio = 5
	case m.Severity == "warning":
		prio = 4
	}
	b := map[string]any{"title": m.Subject(), "message": m.Text(), "priority": prio, "tags": []string{m.Severity}}
	if m.AckURL != "" {
		b["actions"] = []any{map[string]string{"action": "view", "label": "Acknowledge", "url": m.AckURL}}
	}
	return b
}

// Pushover posts a form to the Pushover API (or a compatible server).
type formPoster struct {
	url      string
	user     string
	password string
	form     func(Message) url.Values
}

func newPushover(opts checks.Options) (Channel, error) {
	var o struct {
		URL   string        `yaml:"url"`
		Token checks.Secret `yaml:"token"`
		User  checks.Secret `yaml:"user"`
	}
	if err := opts.Decode(&o); err != nil {
		return nil, err
	}
	if o.URL == "" {
		o.URL = "https://api.pushover.net/1/messages.json"
	}
	if o.Token == "" || o.User == "" {
		return nil, &checks.FieldError{Field: "token", Msg: "token and user (keys from pushover.net) are required"}
	}
	return &formPoster{url: o.URL, form: func(m Message) url.Values {
		prio := "0"
		if m.Severity == "critical" && m.Kind != "resolved" {
			prio = "1"
		}
		v := url.Values{"token": {o.Token.Reveal()}, "user": {o.User.Reveal()}, "title": {m.Subject()}, "message": {m.Text()}, "priority": {prio}}
		if m.AckURL != "" {
			v.Set("url", m.AckURL)
			v.Set("url_title", "Acknowledge")
		}
		return v
	}}, nil
}

// newSMS sends through a Twilio-compatible Messages API: a form POST with
// basic auth (account SID and token), one message per number.
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
	if o.Account == "" || o.Token == "" || o.From == "" || len(o.To) == 0 {
		return nil, &checks.FieldError{Field: "to", Msg: "account, token, from and at least one to number are required"}
	}
	if o.URL == "" {
		o.URL = "https://api.twilio.com/2010-04-01/Accounts/" + url.PathEscape(o.Account) + "/Messages.json"
	}
	return &smsChannel{to: o.To, poster: formPoster{url: o.URL, user: o.Account, password: o.Token.Reveal()}, from: o.From}, nil
}

type smsChannel struct {
	poster formPoster
	from   string
	to     []string
}

// Send texts a short form of the message to each number.
func (s *smsChannel) Send(ctx context.Context, m Message) (string, error) {
	text := m.Subject()
	if m.AckURL != "" {
		text += " Ack: " + m.AckURL
	}
	var answers []string
	for _, to := range s.to {
		p := s.poster
		p.form = func(Message) url.Values { return url.Values{"From": {s.from}, "To": {to}, "Body": {text}} }
		ans, err := p.Send(ctx, m)
		if err != nil {
			return strings.Join(answers, "; "), fmt.Errorf("to %s: %w", to, err)
		}
		answers = append(answers, to+": "+ans)
	}
	return strings.Join(answers, "; "), nil
}
