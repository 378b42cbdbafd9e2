package syslog

import (
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	gosyslog "github.com/leodido/go-syslog/v4"
	"github.com/leodido/go-syslog/v4/auto"
	"github.com/leodido/go-syslog/v4/rfc3164"
	"github.com/leodido/go-syslog/v4/rfc5424"

	"outpost/checks"
	"outpost/checks/clock"
)

// Bounds of one line, whatever the sender puts in it (docs/security.md).
const (
	// MaxLine is the longest message read: RFC 5425's 8192 octets.
	// Longer lines are cut (and counted); the rest of the frame is
	// skipped.
	MaxLine = 8192
	// maxField bounds a header field (host, app, procid, msgid) and an
	// SD parameter's value; maxSDParams the SD parameters kept.
	maxField    = 128
	maxSDParams = 16
)

// Message is one syslog line as parsed.
type Message struct {
	// Format is "rfc3164", "rfc5424", or "raw": not a syslog line the
	// parsers know, kept whole as the text (RFC 3164 4.3.3: with the
	// priority it starts with, else user.notice).
	Format             string
	Facility, Severity int
	// Timestamp is the sender's own; zero when it gave none. RFC 3164
	// stamps carry no zone nor year: Local says it is the sender's
	// local time, in a year guessed from the receiver's clock.
	Timestamp time.Time
	Local     bool
	Host      string
	App       string
	ProcID    string
	MsgID     string
	Text      string
	// SD are RFC 5424 structured data parameters, "id.name" to value,
	// at most maxSDParams; SDCut counts those left out.
	SD    map[string]string
	SDCut int
}

// Parser parses lines; it is not safe for concurrent use (one per
// connection or reading goroutine).
type Parser struct {
	m   gosyslog.Machine
	clk clock.Clock
}

// clockYear gives RFC 3164 stamps, which have no year, the year of the
// receiver's (injected) clock.
type clockYear struct{ clk clock.Clock }

func (y clockYear) Apply() int { return y.clk.Now().Year() }

// NewParser makes a parser of RFC 3164 and RFC 5424 lines (told apart by
// their start), dating stamps without a year by clk.
func NewParser(clk clock.Clock) *Parser {
	if clk == nil {
		clk = clock.Real{}
	}
	m := auto.NewMachine(
		auto.WithRFC3164Options(rfc3164.WithYear(clockYear{clk}), rfc3164.WithRFC3339(), rfc3164.WithLenientDay(), rfc3164.WithSecondFractions(), rfc3164.WithEmbeddedNewlines()),
	)
	return &Parser{m: m, clk: clk}
}

// Parse reads one line (without its framing). It never fails: what the
// parsers do not recognise is kept as a raw line. The result is bounded
// (MaxLine of text, maxField per field) and valid UTF-8 without control
// characters but tabs.
func (p *Parser) Parse(line []byte) (msg Message) {
	line = trimTrailer(line)
	if len(line) > MaxLine {
		line = line[:MaxLine]
	}
	defer func() {
		// The parsers are generated state machines; a crafted line must
		// not stop the receiver even if one has a bug.
		if v := recover(); v != nil {
			msg = raw(line)
		}
		msg.bound()
	}()
	m, err := p.m.Parse(line)
	if err != nil || m == nil || !m.Valid() {
		return raw(line)
	}
	switch v := m.(type) {
	case *rfc5424.SyslogMessage:
		msg = fromBase(&v.Base, "rfc5424")
		if v.StructuredData != nil {
			msg.SD, msg.SDCut = flattenSD(*v.StructuredData)
		}
	case *rfc3164.SyslogMessage:
		msg = fromBase(&v.Base, "rfc3164")
		if msg.Timestamp.Location() == time.UTC && stampWithoutYear(line) {
			msg.Local = true
			// A stamp from late December read in early January is last
			// year's, not next December's.
			if now := p.clk.Now(); msg.Timestamp.After(now.Add(48 * time.Hour)) {
				msg.Timestamp = msg.Timestamp.AddDate(-1, 0, 0)
			}
		}
	default:
		return raw(line)
	}
	return msg
}

func fromBase(b *gosyslog.Base, format string) Message {
	msg := Message{Format: format, Facility: 1, Severity: 5}
	if b.Facility != nil && b.Severity != nil {
		msg.Facility, msg.Severity = int(*b.Facility), int(*b.Severity)
	}
	if b.Timestamp != nil {
		msg.Timestamp = *b.Timestamp
	}
	str := func(s *string) string {
		if s == nil {
			return ""
		}
		return *s
	}
	msg.Host, msg.App, msg.ProcID, msg.MsgID = str(b.Hostname), str(b.Appname), str(b.ProcID), str(b.MsgID)
	msg.Text = strings.TrimPrefix(str(b.Message), "\ufeff") // RFC 5424's MSG may start with a BOM
	return msg
}

// raw keeps a line the parsers refused: its priority if it starts with
// a valid one (RFC 3164 4.3.3), the rest as the text.
func raw(line []byte) Message {
	msg := Message{Format: "raw", Facility: 1, Severity: 5, Text: string(line)}
	if len(line) >= 3 && line[0] == '<' {
		if end := indexByte(line[:min(len(line), 5)], '>'); end > 1 {
			if pri, err := strconv.Atoi(string(line[1:end])); err == nil && pri >= 0 && pri <= 191 && (end == 2 || line[1] != '0') {
				msg.Facility, msg.Severity, msg.Text = pri/8, pri%8, string(line[end+1:])
			}
		}
	}
	return msg
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// stampWithoutYear reports whether the header of an RFC 3164 line is the
// "Mmm dd hh:mm:ss" stamp (no year, no zone) rather than RFC 3339.
func stampWithoutYear(line []byte) bool {
	i := indexByte(line[:min(len(line), 6)], '>')
	if i < 0 || i+1 >= len(line) {
		return false
	}
	c := line[i+1]
	return (c >= 'A' && c <= 'Z') || c == '*'
}

// trimTrailer drops what senders end a line with: LF, CR LF, NUL.
func trimTrailer(b []byte) []byte {
	for len(b) > 0 {
		switch b[len(b)-1] {
		case '\n', '\r', 0:
			b = b[:len(b)-1]
			continue
		}
		break
	}
	return b
}

// flattenSD turns structured data into "id.name" parameters, sorted, at
// most maxSDParams.
func flattenSD(sd map[string]map[string]string) (map[string]string, int) {
	var keys []string
	for id, params := range sd {
		if len(params) == 0 {
			keys = append(keys, id)
		}
		for name := range params {
			keys = append(keys, id+"."+name)
		}
	}
	sort.Strings(keys)
	out := map[string]string{}
	cut := 0
	for _, k := range keys {
		if len(out) == maxSDParams {
			cut++
			continue
		}
		id, name, _ := strings.Cut(k, ".")
		out[k] = sd[id][name]
	}
	return out, cut
}

// bound cuts the message to its bounds and cleans its text.
func (m *Message) bound() {
	m.Text = clean(m.Text, MaxLine)
	m.Host, m.App, m.ProcID, m.MsgID = clean(m.Host, maxField), clean(m.App, maxField), clean(m.ProcID, maxField), clean(m.MsgID, maxField)
	if len(m.SD) > 0 {
		sd := make(map[string]string, len(m.SD))
		for k, v := range m.SD {
			sd["sd."+clean(k, maxField)] = clean(v, maxField)
		}
		m.SD = sd
	}
	if m.Facility < 0 || m.Facility >= len(checks.SyslogFacilities) {
		m.Facility = 1
	}
	if m.Severity < 0 || m.Severity >= len(checks.SyslogSeverities) {
		m.Severity = 5
	}
}

// clean makes s valid UTF-8 of at most n bytes, newlines and other
// control characters but tabs turned into spaces (a stack trace in one
// line stays readable; nothing can forge a second line in a listing).
func clean(s string, n int) string {
	ok := utf8.ValidString(s)
	for i := 0; ok && i < len(s); i++ {
		if c := s[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			ok = false
		}
	}
	if !ok {
		var b strings.Builder
		for _, r := range s {
			switch {
			case r == utf8.RuneError:
				b.WriteRune('\uFFFD')
			case (r < 0x20 && r != '\t') || r == 0x7f || (r >= 0x80 && r < 0xa0):
				b.WriteByte(' ')
			default:
				b.WriteRune(r)
			}
		}
		s = b.String()
	}
	if len(s) > n {
		i := n
		for i > 0 && !utf8.RuneStart(s[i]) {
			i--
		}
		s = s[:i] + "…"
	}
	return s
}
