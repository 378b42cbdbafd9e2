package healing

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"outpost/checks"
)

func init() {
	Register(Kind{Name: "http", Summary: "make an HTTP request (a smart PDU outlet cycle, a service's restart hook)", New: newHTTPCall})
}

// HTTPCall makes one HTTP request and checks its status.
type HTTPCall struct {
	// client is the action's own; its timeout backs up ctx's deadline.
	client            *http.Client
	method, url, body string
	headers           map[string]string
	expect            int
}

func newHTTPCall(opts checks.Options, env Env, _ checks.Deps) (Action, error) {
	var o struct {
		Action       string            `yaml:"action"`
		URL          string            `yaml:"url"`
		Method       string            `yaml:"method"`
		Headers      map[string]string `yaml:"headers"`
		Body         string            `yaml:"body"`
		ExpectStatus int               `yaml:"expect_status"`
	}
	if err := opts.Decode(&o); err != nil {
		return nil, err
	}
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, &checks.FieldError{Field: "url", Msg: fmt.Sprintf("%q is not an http:// or https:// URL", o.URL)}
	}
	if o.Method == "" {
		o.Method = "POST"
	}
	if o.ExpectStatus == 0 {
		o.ExpectStatus = 200
	}
	return &HTTPCall{client: &http.Client{Timeout: 2 * time.Minute}, method: strings.ToUpper(o.Method), url: o.URL, body: o.Body, headers: o.Headers, expect: o.ExpectStatus}, nil
}

// Run sends the request.
func (h *HTTPCall) Run(ctx context.Context) (string, error) {
	req, err := http.NewRequestWithContext(ctx, h.method, h.url, strings.NewReader(h.body))
	if err != nil {
		return "", err
	}
	for k, v := range h.headers {
		req.Header.Set(k, v)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	out := fmt.Sprintf("%s\n%s", resp.Status, b)
	if resp.StatusCode != h.expect {
		return out, fmt.Errorf("answered %s, expected %d", resp.Status, h.expect)
	}
	return out, nil
}

// Target is the URL's host.
func (h *HTTPCall) Target() string {
	if u, err := url.Parse(h.url); err == nil {
		return "http:" + u.Host
	}
	return "http:" + h.url
}

// Describe says what it does.
func (h *HTTPCall) Describe() string { return h.method + " " + h.url }
