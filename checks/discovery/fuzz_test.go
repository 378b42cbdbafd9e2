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
