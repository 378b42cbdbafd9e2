package syslog

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"outpost/checks/clock"
)

var day = time.Date(2031, 3, 4, 12, 0, 0, 0, time.UTC)

func TestParse(t *testing.T) {
	p := NewParser(clock.NewFake(day))
	cases := []struct {
		name, in string
		want     Message
	}{
		{"rfc3164 as rsyslog forwards it", "<38>Mar  4 11:59:58 gw sshd[4711]: Failed password for root from 192.0.2.9 port 22 ssh2",
			Message{Format: "rfc3164", Facility: 4, Severity: 6, Host: "gw", App: "sshd", ProcID: "4711", Text: "Failed password for root from 192.0.2.9 port 22 ssh2", Local: true,
				Timestamp: time.Date(2031, 3, 4, 11, 59, 58, 0, time.UTC)}},
		{"rfc3164 zero-padded day, no pid", "<13>Mar 04 11:59:58 printer spooler: out of paper",
			Message{Format: "rfc3164", Facility: 1, Severity: 5, Host: "printer", App: "spooler", Text: "out of paper", Local: true, Timestamp: time.Date(2031, 3, 4, 11, 59, 58, 0, time.UTC)}},
		{"rfc5424 with structured data, as logger sends it", `<86>1 2031-03-04T11:59:58.123456+01:00 srv1 CRON 42 ID7 [timeQuality tzKnown="1" isSynced="0"] pam_unix(cron:session): session opened`,
			Message{Format: "rfc5424", Facility: 10, Severity: 6, Host: "srv1", App: "CRON", ProcID: "42", MsgID: "ID7", Text: "pam_unix(cron:session): session opened",
				Timestamp: time.Date(2031, 3, 4, 11, 59, 58, 123456000, time.FixedZone("", 3600)), SD: map[string]string{"sd.timeQuality.isSynced": "0", "sd.timeQuality.tzKnown": "1"}}},
		{"rfc5424 all nil", "<13>1 - - - - - -", Message{Format: "rfc5424", Facility: 1, Severity: 5}},
		{"rfc5424 with a BOM", "<14>1 2031-03-04T11:59:58Z h a - - - \ufeffhello", Message{Format: "rfc5424", Facility: 1, Severity: 6, Host: "h", App: "a", Text: "hello", Timestamp: time.Date(2031, 3, 4, 11, 59, 58, 0, time.UTC)}},
		{"a December stamp read in January is last year's", "<13>Dec 31 23:59:59 h a: late", Message{}},
		{"no priority: user.notice, kept whole", "plain text from a cheap device", Message{Format: "raw", Facility: 1, Severity: 5, Text: "plain text from a cheap device"}},
		{"a priority and no header", "<11>link flapping on port 3", Message{Format: "raw", Facility: 1, Severity: 3, Text: "link flapping on port 3"}},
		{"a priority out of range", "<999>x", Message{Format: "raw", Facility: 1, Severity: 5, Text: "<999>x"}},
		{"control characters and bad UTF-8", "<13>Mar  4 11:59:58 h a: bell\x07 nul\x00 \xff\xfe end\r\n", Message{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := p.Parse([]byte(c.in))
			switch c.name {
			case "a December stamp read in January is last year's":
				jan := NewParser(clock.NewFake(time.Date(2032, 1, 1, 0, 0, 5, 0, time.UTC))).Parse([]byte(c.in))
				if jan.Timestamp.Year() != 2031 {
					t.Fatalf("stamp %s", jan.Timestamp)
				}
				return
			case "control characters and bad UTF-8":
				if !utf8.ValidString(got.Text) || strings.ContainsAny(got.Text, "\x00\x07\r\n") || !strings.HasSuffix(got.Text, "end") {
					t.Fatalf("text %q", got.Text)
				}
				return
			}
			if got.Timestamp.Equal(c.want.Timestamp) {
				got.Timestamp = c.want.Timestamp
			}
			if !equalMessage(got, c.want) {
				t.Fatalf("got  %+v\nwant %+v", got, c.want)
			}
		})
	}
}

func equalMessage(a, b Message) bool {
	if len(a.SD) != len(b.SD) {
		return false
	}
	for k, v := range a.SD {
		if b.SD[k] != v {
			return false
		}
	}
	a.SD, b.SD = nil, nil
	return a.Format == b.Format && a.Facility == b.Facility && a.Severity == b.Severity && a.Timestamp.Equal(b.Timestamp) && a.Local == b.Local &&
		a.Host == b.Host && a.App == b.App && a.ProcID == b.ProcID && a.MsgID == b.MsgID && a.Text == b.Text && a.SDCut == b.SDCut
}

// Lines are bounded whatever their length or their structured data.
func TestParseBounds(t *testing.T) {
	p := NewParser(clock.NewFake(day))
	long := p.Parse([]byte("<13>Mar  4 11:59:58 h a: " + strings.Repeat("é", 3*MaxLine)))
	if len(long.Text) > MaxLine+len("…") || !utf8.ValidString(long.Text) {
		t.Fatalf("%d bytes of text", len(long.Text))
	}
	var sd strings.Builder
	for i := range 40 {
		sd.WriteString("[id" + string(rune('a'+i%26)) + string(rune('a'+i/26)) + ` p="` + strings.Repeat("v", 150) + `"]`)
	}
	m := p.Parse([]byte("<13>1 2031-03-04T11:59:58Z h " + strings.Repeat("a", 48) + " - - " + sd.String() + " msg"))
	if len(m.SD) != maxSDParams || m.SDCut != 40-maxSDParams {
		t.Fatalf("%d SD params kept, %d cut", len(m.SD), m.SDCut)
	}
	for k, v := range m.SD {
		if len(v) > maxField+len("…") || len(k) > maxField+len("…")+3 {
			t.Fatalf("SD %q = %d bytes", k, len(v))
		}
	}
}

func frames(t *testing.T, stream string) (out []string, cuts int, err error) {
	t.Helper()
	fr := newFrameReader(strings.NewReader(stream))
	for {
		f, cut, e := fr.next()
		if e != nil {
			return out, cuts, e
		}
		if cut {
			cuts++
		}
		out = append(out, string(f))
	}
}

func TestFraming(t *testing.T) {
	huge := strings.Repeat("x", MaxLine+200)
	cases := []struct {
		name, in string
		want     []string
		cuts     int
		err      error
	}{
		{"octet counting", "11 <13>1 - a b19 <13>1 - - - - - two", []string{"<13>1 - a b", "<13>1 - - - - - two"}, 0, io.EOF},
		{"newlines, CRLF, NUL, empty lines", "<13>one\n\n<13>two\r\n<13>three\x00<13>four", []string{"<13>one", "<13>two", "<13>three\x00<13>four"}, 0, io.EOF},
		{"mixed", "5 <13>a<13>b\n3 <1>", []string{"<13>a", "<13>b", "<1>"}, 0, io.EOF},
		{"a long line is cut, the next one read", "<13>" + huge + "\n<13>next\n", []string{"<13>" + huge[:MaxLine-4], "<13>next"}, 1, io.EOF},
		{"a long frame is cut, the next one read", "8300 <13>" + huge[:8296] + "4 <1>x", []string{"<13>" + huge[:MaxLine-4], "<1>x"}, 1, io.EOF},
		{"a count too large", "99999999 x", nil, 0, errFraming},
		{"a count without a space", "12a<13>", nil, 0, errFraming},
		{"a frame cut short", "20 <13>short", nil, 0, io.ErrUnexpectedEOF},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, cuts, err := frames(t, c.in)
			if err != c.err || cuts != c.cuts || strings.Join(got, "|") != strings.Join(c.want, "|") {
				t.Fatalf("got %q (%d cut, %v), want %q (%d cut, %v)", got, cuts, err, c.want, c.cuts, c.err)
			}
		})
	}
}

// FuzzParse: a line from the LAN is hostile; any bytes give a bounded,
// clean message, never a panic.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"<38>Mar  4 11:59:58 gw sshd[4711]: Failed password", `<86>1 2031-03-04T11:59:58.1+01:00 h a 1 m [x@1 a="b\"c\]d"] t`,
		"<13>1 - - - - - -", "<999>", "<", "", "\ufeff", "<13>Dec 31 23:59:59 h a: x", "<189>237: *Jan 8 19:46:03.295: %SYS-5-CONFIG_I: x",
	} {
		f.Add([]byte(s))
	}
	p := NewParser(clock.NewFake(day))
	f.Fuzz(func(t *testing.T, line []byte) {
		m := p.Parse(line)
		if m.Format != "rfc3164" && m.Format != "rfc5424" && m.Format != "raw" {
			t.Fatalf("format %q", m.Format)
		}
		if m.Facility < 0 || m.Facility > 23 || m.Severity < 0 || m.Severity > 7 {
			t.Fatalf("facility %d severity %d", m.Facility, m.Severity)
		}
		for _, s := range []string{m.Text, m.Host, m.App, m.ProcID, m.MsgID} {
			if !utf8.ValidString(s) || strings.ContainsAny(s, "\x00\n\r") {
				t.Fatalf("unclean %q", s)
			}
		}
		if len(m.Text) > MaxLine+3 || len(m.Host) > maxField+3 || len(m.SD) > maxSDParams {
			t.Fatalf("unbounded: %d text, %d host, %d sd", len(m.Text), len(m.Host), len(m.SD))
		}
	})
}

// FuzzFrames: any TCP stream is split into bounded frames or stops with
// an error, never a panic nor a frame over MaxLine.
func FuzzFrames(f *testing.F) {
	f.Add([]byte("11 <13>1 - a b<13>x\n"))
	f.Add([]byte("8193 " + strings.Repeat("y", 8193)))
	f.Add([]byte("1048577 x"))
	f.Fuzz(func(t *testing.T, stream []byte) {
		fr := newFrameReader(bytes.NewReader(stream))
		for i := 0; ; i++ {
			frame, _, err := fr.next()
			if err != nil {
				return
			}
			if len(frame) > MaxLine {
				t.Fatalf("frame of %d bytes", len(frame))
			}
			if i > len(stream) {
				t.Fatal("more frames than bytes")
			}
		}
	})
}
