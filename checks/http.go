package checks

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
)

func init() {
	Register(Kind{Name: "http", Summary: "HTTP(S) status, body match, response time, TLS certificate expiry", NeedsTarget: true, New: newHTTP})
}

// HTTP fetches a URL over a fresh connection each time (a monitor must
// see connection failures, not a pooled connection's health). It writes
// a precomputed request on a plain net.Conn and parses the answer with
// net/http's ReadResponse: a fraction of http.Client's CPU per check,
// which matters with thousands of endpoints on a Pi.
type HTTP struct {
	o       httpOptions
	url     *url.URL
	req     []byte // precomputed request for url
	re      *regexp.Regexp
	expect  map[int]bool
	tls     *tls.Config
	follow  bool
	bodyMax int64
}

var _ Checker = (*HTTP)(nil)

type httpOptions struct {
	Method             string            `yaml:"method"`
	ExpectStatus       []int             `yaml:"expect_status"`
	BodyContains       string            `yaml:"body_contains"`
	BodyRegex          string            `yaml:"body_regex"`
	Headers            map[string]string `yaml:"headers"`
	FollowRedirects    *bool             `yaml:"follow_redirects"`
	InsecureSkipVerify bool              `yaml:"insecure_skip_verify"`
	CAFile             string            `yaml:"ca_file"`
	CertWarningDays    *int              `yaml:"cert_warning_days"`
	CertCriticalDays   *int              `yaml:"cert_critical_days"`
	WarningMS          float64           `yaml:"warning_ms"`
	CriticalMS         float64           `yaml:"critical_ms"`
}

const (
	httpBodyLimit = 64 << 10
	maxRedirects  = 5
)

var bufPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}

func newHTTP(s Spec) (Checker, error) {
	h := &HTTP{bodyMax: httpBodyLimit}
	if err := s.Options.Decode(&h.o); err != nil {
		return nil, err
	}
	u, err := url.Parse(s.Target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, &FieldError{Field: "target", Msg: fmt.Sprintf("%q is not an http:// or https:// URL", s.Target)}
	}
	h.url = u
	if h.o.Method == "" {
		h.o.Method = "GET"
	}
	h.o.Method = strings.ToUpper(h.o.Method)
	switch h.o.Method {
	case "GET", "HEAD", "POST", "PUT", "OPTIONS":
	default:
		return nil, &FieldError{Field: "options.method", Msg: fmt.Sprintf("%q is not one of GET, HEAD, POST, PUT, OPTIONS", h.o.Method)}
	}
	if len(h.o.ExpectStatus) > 0 {
		h.expect = map[int]bool{}
		for _, c := range h.o.ExpectStatus {
			if c < 100 || c > 599 {
				return nil, &FieldError{Field: "options.expect_status", Msg: fmt.Sprintf("%d is not an HTTP status code", c)}
			}
			h.expect[c] = true
		}
	}
	if h.o.BodyRegex != "" {
		if h.re, err = regexp.Compile(h.o.BodyRegex); err != nil {
			return nil, &FieldError{Field: "options.body_regex", Msg: err.Error()}
		}
	}
	for k := range h.o.Headers {
		if k == "" || strings.ContainsAny(k, " :\r\n") || strings.ContainsAny(h.o.Headers[k], "\r\n") {
			return nil, &FieldError{Field: "options.headers", Msg: fmt.Sprintf("header %q is not a valid header", k)}
		}
	}
	h.follow = h.o.FollowRedirects == nil || *h.o.FollowRedirects
	if h.o.CertWarningDays == nil {
		h.o.CertWarningDays = intp(14)
	}
	if h.o.CertCriticalDays == nil {
		h.o.CertCriticalDays = intp(3)
	}
	h.tls = &tls.Config{InsecureSkipVerify: h.o.InsecureSkipVerify, MinVersion: tls.VersionTLS12}
	if h.o.CAFile != "" {
		pem, err := os.ReadFile(h.o.CAFile)
		if err != nil {
			return nil, &FieldError{Field: "options.ca_file", Msg: err.Error()}
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, &FieldError{Field: "options.ca_file", Msg: "no PEM certificate in " + h.o.CAFile}
		}
		h.tls.RootCAs = pool
	}
	h.req = h.buildRequest(u)
	return h, nil
}

func intp(i int) *int { return &i }

func (h *HTTP) buildRequest(u *url.URL) []byte {
	var b strings.Builder
	path := u.RequestURI()
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: Outpost-monitor/1\r\nAccept: */*\r\nConnection: close\r\n", h.o.Method, path, u.Host)
	keys := make([]string, 0, len(h.o.Headers))
	for k := range h.o.Headers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "%s: %s\r\n", k, h.o.Headers[k])
	}
	if h.o.Method == "POST" || h.o.Method == "PUT" {
		b.WriteString("Content-Length: 0\r\n")
	}
	b.WriteString("\r\n")
	return []byte(b.String())
}

// httpAnswer is what one hop found.
type httpAnswer struct {
	status   int
	text     string
	location string
	body     []byte
	certLeft *time.Duration
	certEnd  time.Time
}

// Check fetches the URL, following redirects when asked.
func (h *HTTP) Check(ctx context.Context) Result {
	start := time.Now()
	u, req := h.url, h.req
	var a httpAnswer
	var certLeft *time.Duration
	var certEnd time.Time
	for hop := 0; ; hop++ {
		var err error
		a, err = h.fetch(ctx, u, req)
		if err != nil {
			return Result{Time: start, Status: Critical, Latency: Since(start), Detail: err.Error()}
		}
		if a.certLeft != nil && (certLeft == nil || *a.certLeft < *certLeft) {
			certLeft, certEnd = a.certLeft, a.certEnd
		}
		if !h.follow || a.status < 300 || a.status > 399 || a.location == "" || hop == maxRedirects {
			break
		}
		next, err := u.Parse(a.location)
		if err != nil || (next.Scheme != "http" && next.Scheme != "https") {
			return Result{Time: start, Status: Critical, Latency: Since(start), Detail: fmt.Sprintf("bad redirect to %q", a.location)}
		}
		u, req = next, h.buildRequest(next)
	}
	lat := Since(start)
	r := Result{Time: start, Status: OK, Latency: lat}.WithValue(ms(lat))
	var parts []string
	parts = append(parts, fmt.Sprintf("%d %s in %s", a.status, a.text, fmtMS(lat)))
	if !h.statusOK(a.status) {
		r.Status = Critical
		parts[0] = fmt.Sprintf("unexpected status %d %s in %s", a.status, a.text, fmtMS(lat))
	}
	if h.o.BodyContains != "" && !strings.Contains(string(a.body), h.o.BodyContains) {
		r.Status = Critical
		parts = append(parts, fmt.Sprintf("body lacks %q", h.o.BodyContains))
	}
	if h.re != nil && !h.re.Match(a.body) {
		r.Status = Critical
		parts = append(parts, fmt.Sprintf("body does not match /%s/", h.re))
	}
	if certLeft != nil {
		days := int(*certLeft / (24 * time.Hour))
		switch {
		case *certLeft <= 0:
			r.Status = Critical
			parts = append(parts, "certificate expired on "+certEnd.UTC().Format("2006-01-02"))
		case days < *h.o.CertCriticalDays:
			r.Status = Worst(r.Status, Critical)
			parts = append(parts, fmt.Sprintf("certificate expires in %d days", days))
		case days < *h.o.CertWarningDays:
			r.Status = Worst(r.Status, Warning)
			parts = append(parts, fmt.Sprintf("certificate expires in %d days", days))
		default:
			parts = append(parts, fmt.Sprintf("cert expires in %d days", days))
		}
	}
	if h.o.CriticalMS > 0 && ms(lat) > h.o.CriticalMS {
		r.Status = Worst(r.Status, Critical)
		parts = append(parts, fmt.Sprintf("slower than %g ms", h.o.CriticalMS))
	} else if h.o.WarningMS > 0 && ms(lat) > h.o.WarningMS {
		r.Status = Worst(r.Status, Warning)
		parts = append(parts, fmt.Sprintf("slower than %g ms", h.o.WarningMS))
	}
	r.Detail = strings.Join(parts, ", ")
	return r
}

func (h *HTTP) statusOK(code int) bool {
	if h.expect != nil {
		return h.expect[code]
	}
	return code >= 200 && code < 400
}

func (h *HTTP) fetch(ctx context.Context, u *url.URL, req []byte) (httpAnswer, error) {
	var a httpAnswer
	host := u.Host
	if u.Port() == "" {
		if u.Scheme == "https" {
			host = net.JoinHostPort(u.Hostname(), "443")
		} else {
			host = net.JoinHostPort(u.Hostname(), "80")
		}
	}
	conn, err := dialTCP(ctx, host)
	if err != nil {
		return a, fmt.Errorf("connect %s: %s", host, netReason(err))
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	if u.Scheme == "https" {
		cfg := h.tls.Clone()
		cfg.ServerName = u.Hostname()
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return a, fmt.Errorf("TLS: %s", tlsReason(err))
		}
		if certs := tc.ConnectionState().PeerCertificates; len(certs) > 0 {
			left := time.Until(certs[0].NotAfter)
			a.certLeft, a.certEnd = &left, certs[0].NotAfter
		}
		conn = tc
	}
	if _, err := conn.Write(req); err != nil {
		return a, fmt.Errorf("sending request: %s", netReason(err))
	}
	br := bufPool.Get().(*bufio.Reader)
	br.Reset(conn)
	defer func() { br.Reset(nil); bufPool.Put(br) }()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return a, fmt.Errorf("server closed the connection without answering")
		}
		return a, fmt.Errorf("reading response: %s", netReason(err))
	}
	defer resp.Body.Close()
	a.status = resp.StatusCode
	a.text = http.StatusText(resp.StatusCode)
	a.location = resp.Header.Get("Location")
	if h.o.BodyContains != "" || h.re != nil {
		a.body, err = io.ReadAll(io.LimitReader(resp.Body, h.bodyMax))
		if err != nil {
			return a, fmt.Errorf("reading body: %s", netReason(err))
		}
	}
	return a, nil
}

func tlsReason(err error) string {
	var ci x509.CertificateInvalidError
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	switch {
	case asErr(err, &ci):
		if ci.Reason == x509.Expired {
			return "certificate expired or not yet valid (" + ci.Detail + ")"
		}
		return "certificate invalid: " + ci.Error()
	case asErr(err, &ua):
		return "certificate signed by an unknown authority (set options.ca_file, or insecure_skip_verify for a self-signed device)"
	case asErr(err, &hn):
		return "certificate is not valid for this host: " + hn.Error()
	}
	return netReason(err)
}

func asErr[T error](err error, target *T) bool {
	for err != nil {
		if t, ok := err.(T); ok {
			*target = t
			return true
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		err = u.Unwrap()
	}
	return false
}
