package notify

import (
	"context"
	"net/url"

	"outpost/checks"
)

func init() {
	Register(Kind{Name: "pushover", Summary: "Pushover push (token, user)", New: newPushover})
}

// pushover posts a form to the Pushover messages API (or a compatible
// server at url).
type pushover struct {
	hook
	url, host   string
	token, user string
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
	u, err := httpURL("url", o.URL)
	if err != nil {
		return nil, err
	}
	if o.Token == "" {
		return nil, &checks.FieldError{Field: "token", Msg: "is required (the application's API token from pushover.net)"}
	}
	if o.User == "" {
		return nil, &checks.FieldError{Field: "user", Msg: "is required (the user or group key from pushover.net)"}
	}
	return &pushover{hook: newHook(), url: o.URL, host: u.Host, token: o.Token.Reveal(), user: o.User.Reveal()}, nil
}

// Recipient is the API host (the user key is a secret).
func (p *pushover) Recipient() string { return p.host }

// Send posts the message; critical problems get high priority.
func (p *pushover) Send(ctx context.Context, m Message) (string, error) {
	prio := "0"
	if m.Severity == "critical" && m.Kind != "resolved" && m.Kind != "self-healed" {
		prio = "1"
	}
	v := url.Values{"token": {p.token}, "user": {p.user}, "title": {truncate(m.Subject(), 250)}, "message": {truncate(m.Text(), 1024)}, "priority": {prio}}
	if m.AckURL != "" {
		v.Set("url", m.AckURL)
		v.Set("url_title", "Acknowledge")
	}
	return p.post(ctx, p.url, "application/x-www-form-urlencoded", []byte(v.Encode()), nil, m.ID)
}
