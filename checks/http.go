package checks

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
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
// a request prepared at config time on a plain net.Conn and parses the
// answer with net/http's ReadResponse: a fraction of http.Client's CPU
// and allocations per check (no Transport, no connection pool, no
// per-request goroutines), which matters with thousands of endpoints on
// a small box. TLS handshakes are always full: the check must see the
// certificate the server serves now, so no session resumption.
type HTTP struct {
	o       httpOptions
	url     *url.URL
	req     []byte        // request bytes for url, built once
	readReq *http.Request // tells ReadResponse the method (HEAD has no body)
	re      *regexp.Regexp
	body    []byte // options.body_contains as bytes
	expect  map[int]bool
	tls     *tls.Config // verification settings, no ServerName
	tlsHost *tls.Config // tls with ServerName of url, for the first hop
	follow  bool
	readMax int64
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
	// httpBodyLimit is how much body is read when a body match is set:
	// a health page's marker is near the top, and a check must not pull
	// a large download.
	httpBodyLimit = 64 << 10
	maxRedirects  = 5
	day           = 24 * time.Hour
)

// bufPool reuses response readers across checks: one 4 KiB buffer per
// check in flight instead of one per run.
var bufPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}

var httpMethods = []string{"GET", "HEAD", "POST", "PUT", "OPTIONS"}

func newHTTP(s Spec, _ Deps) (Checker, error) {
	h := &HTTP{readMax: httpBodyLimit}
	if err := s.Options.Decode(&h.o); err != nil {
		return nil, err
	}
	u, err := url.Parse(s.Target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, &FieldError{Field: "target", Msg: fmt.Sprintf("%q is not an http:// or https:// URL", s.Target)}
	}
	if p := u.Port(); p != "" {
		if err := checkPort(p); err != nil {
			return nil, &FieldError{Field: "target", Msg: fmt.Sprintf("%q: %s", s.Target, err)}
		}
	}
	if u.User != nil {
		return nil, &FieldError{Field: "target", Msg: "credentials in the URL are not supported: use options.headers with an Authorization header"}
	}
	h.url = u
	if h.o.Method == "" {
		h.o.Method = "GET"
	}
	h.o.Method = strings.ToUpper(h.o.Method)
	if !contains(httpMethods, h.o.Method) {
		return nil, &FieldError{Field: "options.method", Msg: fmt.Sprintf("%q is not one of %s", h.o.Method, strings.Join(httpMethods, ", "))}
	}
	h.readReq = &http.Request{Method: h.o.Method}
	if len(h.o.ExpectStatus) > 0 {
		h.expect = map[int]bool{}
		for i, c := range h.o.ExpectStatus {
			if c < 100 || c > 599 {
				return nil, &FieldError{Field: fmt.Sprintf("options.expect_status[%d]", i), Msg: fmt.Sprintf("%d is not an HTTP status code (100 to 599)", c)}
			}
			h.expect[c] = true
		}
	}
	if h.o.BodyRegex != "" {
		if h.re, err = regexp.Compile(h.o.BodyRegex); err != nil {
			return nil, &FieldError{Field: "options.body_regex", Msg: err.Error()}
		}
	}
	if h.o.BodyContains != "" {
		h.body = []byte(h.o.BodyContains)
	}
	if h.o.Method == "HEAD" && (h.body != nil || h.re != nil) {
		return nil, &FieldError{Field: "options.method", Msg: "HEAD answers have no body to match body_contains or body_regex against"}
	}
	for _, k := range sortedKeys(h.o.Headers) {
		if k == "" || strings.ContainsAny(k, " :\r\n\t") {
			return nil, &FieldError{Field: "options.headers", Msg: fmt.Sprintf("%q is not a valid header name", k)}
		}
		if strings.ContainsAny(h.o.Headers[k], "\r\n") {
			return nil, &FieldError{Field: "options.headers." + k, Msg: "a header value cannot contain a line break"}
		}
		switch textproto.CanonicalMIMEHeaderKey(k) {
		case "Connection", "Content-Length", "Transfer-Encoding":
			return nil, &FieldError{Field: "options.headers." + k, Msg: "is set by Outpost (fresh connection, no request body)"}
		}
	}
	h.follow = h.o.FollowRedirects == nil || *h.o.FollowRedirects
	if h.o.CertWarningDays == nil {
		h.o.CertWarningDays = intp(14)
	}
	if h.o.CertCriticalDays == nil {
		h.o.CertCriticalDays = intp(3)
	}
	switch {
	case *h.o.CertWarningDays < 0:
		return nil, &FieldError{Field: "options.cert_warning_days", Msg: fmt.Sprintf("%d is negative", *h.o.CertWarningDays)}
	case *h.o.CertCriticalDays < 0:
		return nil, &FieldError{Field: "options.cert_critical_days", Msg: fmt.Sprintf("%d is negative", *h.o.CertCriticalDays)}
	case *h.o.CertCriticalDays > *h.o.CertWarningDays:
		return nil, &FieldError{Field: "options.cert_critical_days", Msg: fmt.Sprintf("%d is more than cert_warning_days %d", *h.o.CertCriticalDays, *h.o.CertWarningDays)}
	}
	if err := checkMS(h.o.WarningMS, h.o.CriticalMS); err != nil {
		return nil, err
	}
	h.tls = &tls.Config{InsecureSkipVerify: h.o.InsecureSkipVerify, MinVersion: tls.VersionTLS12}
	if h.o.CAFile != "" {
		pool, err := caPool(h.o.CAFile)
		if err != nil {
			return nil, err
		}
		h.tls.RootCAs = pool
	}
	h.tlsHost = h.tlsFor(u)
	h.req = h.buildRequest(u)
	return h, nil
}

func intp(i int) *int { return &i }

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// tlsFor returns the TLS settings for a hop to u.
func (h *HTTP) tlsFor(u *url.URL) *tls.Config {
	c := h.tls.Clone()
	c.ServerName = u.Hostname()
	return c
}

// buildRequest renders the request for u. Configured headers replace
// the defaults of the same name (a Host header for a name-based virtual
// host reached by IP, a User-Agent a firewall expects).
func (h *HTTP) buildRequest(u *url.URL) []byte {
	hdr := map[string]string{"Host": u.Host, "User-Agent": "Outpost-monitor/1", "Accept": "*/*"}
	for k, v := range h.o.Headers {
		hdr[textproto.CanonicalMIMEHeaderKey(k)] = v
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\n", h.o.Method, u.RequestURI())
	for _, k := range sortedKeys(hdr) {
		fmt.Fprintf(&b, "%s: %s\r\n", k, hdr[k])
	}
	b.WriteString("Connection: close\r\n")
	if h.o.Method == "POST" || h.o.Method == "PUT" {
		b.WriteString("Content-Length: 0\r\n")
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// httpAnswer is what one hop found.
type httpAnswer struct {
	status   int
	location string
	body     []byte
	hasCert  bool
	certEnd  time.Time
}

// Check fetches the URL, following redirects when asked, and judges the
// last answer's status and body and the soonest-expiring certificate
// seen on the way.
func (h *HTTP) Check(ctx context.Context) Result {
	start := time.Now()
	u, req, tc := h.url, h.req, h.tlsHost
	var a httpAnswer
	var certEnd time.Time
	hasCert := false
	hops := 0
	for {
		var err error
		a, err = h.fetch(ctx, u, req, tc)
		if err != nil {
			return Result{Time: start, Status: Critical, Latency: Since(start), Detail: err.Error()}
		}
		if a.hasCert && (!hasCert || a.certEnd.Before(certEnd)) {
			hasCert, certEnd = true, a.certEnd
		}
		if !h.follow || a.status < 300 || a.status > 399 || a.location == "" {
			break
		}
		if hops == maxRedirects {
			return Result{Time: start, Status: Critical, Latency: Since(start), Detail: fmt.Sprintf("more than %d redirects (last to %s)", maxRedirects, a.location)}
		}
		next, err := u.Parse(a.location)
		if err != nil || (next.Scheme != "http" && next.Scheme != "https") || next.Host == "" {
			return Result{Time: start, Status: Critical, Latency: Since(start), Detail: fmt.Sprintf("%d redirect to unusable location %q", a.status, a.location)}
		}
		hops++
		if next.Hostname() != u.Hostname() {
			tc = h.tlsFor(next)
		}
		u, req = next, h.buildRequest(next)
	}
	lat := Since(start)
	r := Result{Time: start, Status: OK, Latency: lat}.WithValue(ms(lat))
	var b strings.Builder
	if !h.statusOK(a.status) {
		r.Status = Critical
		b.WriteString("unexpected status ")
	}
	fmt.Fprintf(&b, "%d %s in %s", a.status, http.StatusText(a.status), fmtMS(lat))
	if hops > 0 {
		fmt.Fprintf(&b, " after %d redirect%s", hops, plural(hops))
	}
	if h.body != nil && !bytes.Contains(a.body, h.body) {
		r.Status = Critical
		fmt.Fprintf(&b, ", body lacks %q", h.o.BodyContains)
	}
	if h.re != nil && !h.re.Match(a.body) {
		r.Status = Critical
		fmt.Fprintf(&b, ", body does not match /%s/", h.o.BodyRegex)
	}
	if hasCert {
		left := certEnd.Sub(start)
		days := int(left / day)
		switch {
		case left <= 0:
			r.Status = Critical
			b.WriteString(", certificate expired on " + certEnd.UTC().Format("2006-01-02"))
		case days < *h.o.CertCriticalDays:
			r.Status = Critical
			fmt.Fprintf(&b, ", certificate expires in %d day%s", days, plural(days))
		case days < *h.o.CertWarningDays:
			r.Status = Worst(r.Status, Warning)
			fmt.Fprintf(&b, ", certificate expires in %d day%s", days, plural(days))
		default:
			fmt.Fprintf(&b, ", cert expires in %d days", days)
		}
	}
	if st := evalMS(ms(lat), h.o.WarningMS, h.o.CriticalMS); st != OK {
		r.Status = Worst(r.Status, st)
		limit := h.o.WarningMS
		if st == Critical {
			limit = h.o.CriticalMS
		}
		fmt.Fprintf(&b, ", slower than %g ms", limit)
	}
	r.Detail = b.String()
	return r
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func (h *HTTP) statusOK(code int) bool {
	if h.expect != nil {
		return h.expect[code]
	}
	return code >= 200 && code < 400
}

// fetch does one request on a new connection. Errors are the reason the
// target is down, worded for the Result's detail.
func (h *HTTP) fetch(ctx context.Context, u *url.URL, req []byte, tc *tls.Config) (httpAnswer, error) {
	var a httpAnswer
	addr := u.Host
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "https" {
			port = "443"
		}
		addr = net.JoinHostPort(u.Hostname(), port)
	}
	conn, err := dialTCP(ctx, addr)
	if err != nil {
		return a, fmt.Errorf("connect %s: %s", addr, netReason(err))
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	if u.Scheme == "https" {
		c := tls.Client(conn, tc)
		if err := handshake(ctx, c); err != nil {
			return a, fmt.Errorf("TLS with %s: %s", addr, tlsReason(err))
		}
		if certs := c.ConnectionState().PeerCertificates; len(certs) > 0 {
			a.hasCert, a.certEnd = true, certs[0].NotAfter
		}
		conn = c
	}
	if _, err := conn.Write(req); err != nil {
		return a, fmt.Errorf("sending request to %s: %s", addr, netReason(err))
	}
	br := bufPool.Get().(*bufio.Reader)
	br.Reset(conn)
	defer func() { br.Reset(nil); bufPool.Put(br) }()
	resp, err := http.ReadResponse(br, h.readReq)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return a, fmt.Errorf("%s closed the connection without answering", addr)
		}
		return a, fmt.Errorf("reading response from %s: %s", addr, netReason(err))
	}
	defer resp.Body.Close()
	a.status = resp.StatusCode
	a.location = resp.Header.Get("Location")
	// The body is read only when it is judged, and only on the last hop
	// that matters; otherwise closing the connection discards it.
	if (h.body != nil || h.re != nil) && !(h.follow && a.status >= 300 && a.status <= 399 && a.location != "") {
		a.body, err = io.ReadAll(io.LimitReader(resp.Body, h.readMax))
		if err != nil {
			return a, fmt.Errorf("reading body from %s: %s", addr, netReason(err))
		}
	}
	return a, nil
}

// tlsReason explains a failed handshake in a technician's words.
func tlsReason(err error) string {
	var ci x509.CertificateInvalidError
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	switch {
	case errors.As(err, &ci):
		if ci.Reason == x509.Expired {
			return "certificate expired or not yet valid (" + ci.Detail + ")"
		}
		return "certificate invalid: " + ci.Error()
	case errors.As(err, &ua):
		return "certificate signed by an unknown authority (set options.ca_file, or insecure_skip_verify for a self-signed device)"
	case errors.As(err, &hn):
		return "certificate is not valid for this host: " + hn.Error()
	}
	return netReason(err)
}
