package discovery

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzPageTitle: whatever a device serves, the title that reaches a
// terminal or the store is valid UTF-8, without control characters, short.
func FuzzPageTitle(f *testing.F) {
	f.Add([]byte("<html><title>HP LaserJet M452nw</title>"))
	f.Add([]byte("<TITLE lang=en>a\x1b[2J&amp;\x00b</TITLE>"))
	f.Add([]byte("<title>" + strings.Repeat("é", 200) + "</title>"))
	f.Fuzz(func(t *testing.T, body []byte) {
		got := pageTitle(body)
		if !utf8.ValidString(got) || len(got) > 120+len("…") {
			t.Fatalf("title %q", got)
		}
		for _, r := range got {
			if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
				t.Fatalf("control character %U in %q", r, got)
			}
		}
	})
}

// FuzzMDNSAnswer: whatever a host on the LAN answers to the mDNS
// enumeration, what is kept is bounded, valid UTF-8 without control
// characters, and nothing panics.
func FuzzMDNSAnswer(f *testing.F) {
	// A response with one PTR (_workstation._tcp.local) and one A record.
	f.Add([]byte("\x4f\x50\x84\x00\x00\x00\x00\x02\x00\x00\x00\x00" +
		"\x09_services\x07_dns-sd\x04_udp\x05local\x00\x00\x0c\x00\x01\x00\x00\x11\x94\x00\x19" +
		"\x0c_workstation\x04_tcp\x05local\x00" +
		"\x09closet-pc\x05local\x00\x00\x01\x00\x01\x00\x00\x00\x78\x00\x04\x0a\xc8\x07\x32"))
	f.Add([]byte{0x4f, 0x50, 0x84, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		var a MDNSAnswer
		for i := 0; i < 3; i++ { // several packets from one host
			parseMDNS(b, &a)
		}
		if len(a.Services) > 32 || len(a.Name) > 100+len("…") {
			t.Fatalf("unbounded %+v", a)
		}
		for _, s := range append(a.Services, a.Name) {
			if !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
				t.Fatalf("kept %q", s)
			}
		}
	})
}
