package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"outpost/checks"
)

func init() {
	Register(Kind{Name: "webhook", New: newWebhook})
	Register(Kind{Name: "slack", New: newSlack})
}

// Webhook POSTs the message as JSON (schema: docs/notifications.md). With
// a secret, X-Outpost-Signature carries "t=<unix>,v1=<hex HMAC-SHA256 of
// "<unix>." + body>" so a receiver can check origin and freshness.
type Webhook struct {
	url     string
	secret  string
	headers map[string]string
	shape   func(Message) any
}

var hookClient = &http.Client{Timeout: 30 * time.Second}

func webhookOpts(opts checks.Options) (*Webhook, error) {
	var o struct {
		URL     string            `yaml:"url"`
		Secret  checks.Secret     `yaml:"secret"`
		Headers map[string]string `yaml:"headers"`
	}
	if err := opts.Decode(&o); err != nil {
		return nil, err
	}
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, &checks.FieldError{Field: "url", Msg: fmt.Sprintf("%q is not an http(s) URL", o.URL)}
	}
	return &Webhook{url: o.URL, secret: o.Secret.Reveal(), headers: o.Headers}, nil
}

func newWebhook(opts checks.Options) (Channel, error) {
	w, err := webhookOpts(opts)
	if err != nil {
		return nil, err
	}
	w.shape = func(m Message) any { return m }
	return w, nil
}

// newSlack shapes the message for a Slack incoming webhook.
func newSlack(opts checks.Options) (Channel, error) {
	w, err := webhookOpts(opts)
	if err != nil {
		return nil, err
	}
	w.shape = func(m Message) any { return map[string]string{"text": m.Text()} }
	return w, nil
}

// Send posts the message.
func (w *Webhook) Send(ctx context.Context, m Message) (string, error) {
	body, err := json.Marshal(w.shape(m))
	if err != nil {
		return "", &PermanentError{err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return "", &PermanentError{err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Outpost-notify/1")
	req.Header.Set("X-Outpost-Idempotency-Key", m.ID)
	for k, v := range w.headers {
		req.Header.Set(k, v)
	}
	if w.secret != "" {
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		req.Header.Set("X-Outpost-Signature", "t="+ts+",v1="+Sign(w.secret, ts, body))
	}
	return classify(hookClient.Do(req))
}

// Sign is the webhook signature: hex HMAC-SHA256 of "<ts>." + body.
func Sign(secret, ts string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// Send posts the form.
func (f *formPoster) Send(ctx context.Context, m Message) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.url, strings.NewReader(f.form(m).Encode()))
	if err != nil {
		return "", &PermanentError{err}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Outpost-Idempotency-Key", m.ID)
	if f.user != "" {
		req.SetBasicAuth(f.user, f.password)
	}
	return classify(hookClient.Do(req))
}

// classify reads an HTTP answer: 2xx delivered, 429/5xx retried, other
// 4xx permanent.
func classify(resp *http.Response, err error) (string, error) {
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	ans, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
	answer := fmt.Sprintf("%s %s", resp.Status, bytes.TrimSpace(ans))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return answer, nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return answer, fmt.Errorf("answered %s", answer)
	}
	return answer, &PermanentError{fmt.Errorf("answered %s", answer)}
}
