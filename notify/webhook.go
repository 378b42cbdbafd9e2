package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"outpost/checks"
)

func init() {
	Register(Kind{Name: "webhook", Summary: "POST the message as JSON (documented schema), optionally HMAC-signed", New: newWebhook})
}

// Webhook POSTs the message as JSON (schema: docs/notifications.md). With
// a secret, X-Outpost-Signature carries "t=<unix>,v1=<hex HMAC-SHA256 of
// "<unix>." + body>" so a receiver can check origin and freshness.
type Webhook struct {
	hook
	url     string
	host    string
	secret  string
	headers http.Header
	// shape turns a message into the body a service expects; the generic
	// webhook sends the Message itself.
	shape func(Message) any
	// now stamps signatures; the receiver compares it with its own clock,
	// so it is real time even when the engine runs on a fake clock.
	now func() time.Time
}

var _ Channel = (*Webhook)(nil)

func webhookOpts(opts checks.Options) (*Webhook, error) {
	var o struct {
		URL     string            `yaml:"url"`
		Secret  checks.Secret     `yaml:"secret"`
		Headers map[string]string `yaml:"headers"`
	}
	if err := opts.Decode(&o); err != nil {
		return nil, err
	}
	u, err := httpURL("url", o.URL)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	for k, v := range o.Headers {
		h.Set(k, v)
	}
	return &Webhook{hook: newHook(), url: o.URL, host: u.Host, secret: o.Secret.Reveal(), headers: h, now: time.Now}, nil
}

func newWebhook(opts checks.Options) (Channel, error) {
	w, err := webhookOpts(opts)
	if err != nil {
		return nil, err
	}
	w.shape = func(m Message) any { return m }
	return w, nil
}

// shaped makes a channel kind that posts body(m) the way Webhook does.
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

// Recipient is the receiving host (URLs may hold secrets in their path).
func (w *Webhook) Recipient() string { return w.host }

// Send posts the message.
func (w *Webhook) Send(ctx context.Context, m Message) (string, error) {
	body, err := json.Marshal(w.shape(m))
	if err != nil {
		return "", &PermanentError{err}
	}
	h := w.headers.Clone()
	if w.secret != "" {
		ts := strconv.FormatInt(w.now().Unix(), 10)
		h.Set("X-Outpost-Signature", "t="+ts+",v1="+Sign(w.secret, ts, body))
	}
	return w.post(ctx, w.url, "application/json", body, h, m.ID)
}

// Sign is the webhook signature: hex HMAC-SHA256 of "<ts>." + body.
func Sign(secret, ts string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// VerifySignature checks an X-Outpost-Signature header against body: the
// signature must match and its timestamp be within tolerance of now. It
// is what a receiver written in Go would call.
func VerifySignature(secret, header string, body []byte, now time.Time, tolerance time.Duration) bool {
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		switch {
		case len(part) > 2 && part[:2] == "t=":
			ts = part[2:]
		case len(part) > 3 && part[:3] == "v1=":
			sig = part[3:]
		}
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sig == "" {
		return false
	}
	if d := now.Sub(time.Unix(unix, 0)); d > tolerance || d < -tolerance {
		return false
	}
	return hmac.Equal([]byte(sig), []byte(Sign(secret, ts, body)))
}
