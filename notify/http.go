package notify

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"outpost/checks"
)

// hook is what the HTTP channels post with: a client of their own, whose
// timeout backs up the deadline every Send gets from its context.
type hook struct{ client *http.Client }

func newHook() hook { return hook{client: &http.Client{Timeout: 30 * time.Second}} }

// post sends one HTTP request and classifies the answer.
func (h hook) post(ctx context.Context, target, ctype string, body []byte, header http.Header, idem string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return "", &PermanentError{err}
	}
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("User-Agent", "Outpost-notify/1")
	req.Header.Set("X-Outpost-Idempotency-Key", idem)
	for k, v := range header {
		req.Header[k] = v
	}
	return classify(h.client.Do(req))
}

// classify reads an HTTP answer: 2xx delivered; 429 and 5xx retried
// (honouring Retry-After); other answers permanent. Network errors are
// retried.
func classify(resp *http.Response, err error) (string, error) {
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	ans, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
	answer := resp.Status
	if t := bytes.TrimSpace(ans); len(t) > 0 {
		answer += " " + string(t)
	}
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return answer, nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		err := fmt.Errorf("answered %s", answer)
		if d, ok := retryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			return answer, &RetryAfterError{Err: err, After: d}
		}
		return answer, err
	}
	return answer, &PermanentError{fmt.Errorf("answered %s", answer)}
}

// retryAfter reads a Retry-After header: seconds or an HTTP date (then
// relative to now, since that is the server's clock talking).
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// httpURL checks an http(s) URL option.
func httpURL(field, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, &checks.FieldError{Field: field, Msg: fmt.Sprintf("%q is not an http(s) URL", raw)}
	}
	return u, nil
}

// truncate keeps s under n bytes (chat services refuse longer texts),
// cutting at a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
