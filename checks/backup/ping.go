package backup

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"outpost/checks"
)

// PathPrefix is where the ping API is served on the box's UI listener.
const PathPrefix = "/ping/"

// NewID returns a random (version 4) UUID for a new job's URL.
func NewID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	const hex = "0123456789abcdef"
	out := make([]byte, 0, 36)
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out = append(out, '-')
		}
		out = append(out, hex[c>>4], hex[c&0xf])
	}
	return string(out)
}

// ParseID checks that s is a UUID in its usual text form (8-4-4-4-12 hex
// digits, any case) and returns it in lower case. The UUID is the only
// thing that lets a ping in, so the nil UUID, which anyone can guess, is
// refused.
func ParseID(s string) (string, error) {
	bad := fmt.Errorf("%q is not a UUID (8-4-4-4-12 hex digits, e.g. %s; `outpost backups new-id` makes one)", cutText(s, 64), "3f2b8c1e-9a4d-4e6f-8b21-5c7d9e0a1b2c")
	if len(s) != 36 {
		return "", bad
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return "", bad
			}
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f', c >= 'A' && c <= 'F':
		default:
			return "", bad
		}
	}
	id := strings.ToLower(s)
	if id == "00000000-0000-0000-0000-000000000000" {
		return "", errors.New("the nil UUID is not a secret: use a random one (`outpost backups new-id`)")
	}
	return id, nil
}

// Ping is a ping request as the URL says it.
type Ping struct {
	// UUID is the job's (lower case).
	UUID   string
	Signal checks.BackupSignal
	// Exit is the exit status the URL gave (/ping/<uuid>/<0-255>).
	Exit *int
	// RunID is ?rid=, a UUID pairing a finish with its start.
	RunID string
}

// PingError is a ping request refused before its job is looked up: the
// HTTP status and what to tell the sender.
type PingError struct {
	Code int
	Msg  string
}

func (e *PingError) Error() string { return e.Msg }

const pingShapes = "expected /ping/<uuid> (success), /ping/<uuid>/start, /ping/<uuid>/fail, /ping/<uuid>/log or /ping/<uuid>/<exit status 0-255>"

// ParsePing reads a ping request's method, path (as decoded, starting
// with PathPrefix) and raw query. Errors are *PingError.
func ParsePing(method, path, rawQuery string) (Ping, error) {
	switch method {
	case http.MethodGet, http.MethodPost, http.MethodHead, http.MethodPut:
	default:
		return Ping{}, &PingError{http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed: ping with GET, POST, PUT or HEAD (a body is kept as the job's output)", cutText(method, 32))}
	}
	rest, ok := strings.CutPrefix(path, PathPrefix)
	if !ok {
		return Ping{}, &PingError{http.StatusNotFound, "not a ping URL: " + pingShapes}
	}
	id, action, _ := strings.Cut(rest, "/")
	var p Ping
	var err error
	if p.UUID, err = ParseID(id); err != nil {
		return Ping{}, &PingError{http.StatusBadRequest, err.Error() + "; " + pingShapes}
	}
	switch {
	case action == "" && !strings.Contains(rest, "/"):
		p.Signal = checks.BackupSuccess
	case action == "start":
		p.Signal = checks.BackupStart
	case action == "fail":
		p.Signal = checks.BackupFail
	case action == "log":
		p.Signal = checks.BackupLog
	case len(action) > 0 && len(action) <= 3 && strings.Trim(action, "0123456789") == "":
		n, _ := strconv.Atoi(action)
		if n > 255 {
			return Ping{}, &PingError{http.StatusBadRequest, fmt.Sprintf("exit status %d is out of range (0 to 255)", n)}
		}
		p.Exit = &n
		p.Signal = checks.BackupSuccess
		if n != 0 {
			p.Signal = checks.BackupFail
		}
	default:
		return Ping{}, &PingError{http.StatusBadRequest, fmt.Sprintf("%q is not a ping action: %s", cutText(action, 64), pingShapes)}
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return Ping{}, &PingError{http.StatusBadRequest, "the query is not URL-encoded: " + err.Error()}
	}
	if rids, ok := q["rid"]; ok {
		if len(rids) != 1 {
			return Ping{}, &PingError{http.StatusBadRequest, "rid is given more than once"}
		}
		if p.RunID, err = ParseID(rids[0]); err != nil {
			return Ping{}, &PingError{http.StatusBadRequest, "rid: " + err.Error()}
		}
	}
	return p, nil
}

// CleanOutput makes a ping body safe to keep and to print on a
// technician's terminal: valid UTF-8, without ANSI escape sequences
// (colours and window titles are dropped) or other control characters
// (they could rewrite the terminal) but tabs and line breaks (CR LF
// becomes LF), and at most the last checks.BackupOutputMax bytes, marked
// "…" when cut.
func CleanOutput(body []byte) string {
	var b strings.Builder
	b.Grow(min(len(body), checks.BackupOutputMax+8))
	for len(body) > 0 {
		if n := escapeSequence(body); n > 0 {
			body = body[n:] // colour codes and titles of a job's log: gone
			continue
		}
		r, size := utf8.DecodeRune(body)
		body = body[size:]
		switch {
		case r == utf8.RuneError && size <= 1:
			b.WriteRune(unicode.ReplacementChar)
		case r == '\n' || r == '\t':
			b.WriteRune(r)
		case r == '\r':
			if len(body) == 0 || body[0] != '\n' {
				b.WriteByte('\n')
			}
		case unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || unicode.Is(unicode.Bidi_Control, r):
			b.WriteRune(unicode.ReplacementChar)
		default:
			b.WriteRune(r)
		}
	}
	return tail(b.String(), checks.BackupOutputMax)
}

// escapeSequence is the length of the ANSI escape sequence b starts with
// (CSI: ESC [ parameters final byte; OSC: ESC ] text BEL or ESC \), 0 when
// it starts with none.
func escapeSequence(b []byte) int {
	if len(b) < 2 || b[0] != 0x1b {
		return 0
	}
	switch b[1] {
	case '[':
		for i := 2; i < len(b) && i < 64; i++ {
			switch c := b[i]; {
			case c >= 0x40 && c <= 0x7e:
				return i + 1
			case c < 0x20 || c > 0x7e:
				return 0
			}
		}
	case ']':
		for i := 2; i < len(b) && i < 512; i++ {
			switch {
			case b[i] == 0x07:
				return i + 1
			case b[i] == 0x1b && i+1 < len(b) && b[i+1] == '\\':
				return i + 2
			}
		}
	}
	return 0
}

// tail keeps the last n bytes of s on a rune boundary, "…" first when cut.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := len(s) - n + len("…")
	for i < len(s) && !utf8.RuneStart(s[i]) {
		i++
	}
	return "…" + s[i:]
}

// cutText shortens a hostile string for an error message.
func cutText(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
