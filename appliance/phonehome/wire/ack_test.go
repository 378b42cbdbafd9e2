package wire_test

import (
	"strings"
	"testing"

	"outpost/appliance/phonehome/wire"
)

// TestCleanAckBase: only an https address with a host and nothing that
// could smuggle more (a user, a query, a fragment, spaces, a script
// scheme) is taken as the receiver's acknowledge pages.
func TestCleanAckBase(t *testing.T) {
	for in, want := range map[string]string{
		"https://hq.example:8444/":   "https://hq.example:8444",
		"https://hq.example/outpost": "https://hq.example/outpost",
		"https://[::1]:8444":         "https://[::1]:8444",
	} {
		if got, err := wire.CleanAckBase(in); err != nil || got != want {
			t.Errorf("CleanAckBase(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "http://hq.example", "javascript:alert(1)", "https://", "https://u:p@hq.example", "https://hq.example/?next=x",
		"https://hq.example/#x", "https://hq.example/a b", "https:hq.example", "https://hq.example/é", "https://hq.example/" + strings.Repeat("a", 200)} {
		if got, err := wire.CleanAckBase(in); err == nil {
			t.Errorf("CleanAckBase(%q) = %q, taken", in, got)
		}
	}
}

// TestAckTokenInfoShape: a token of another shape or size is not read.
func TestAckTokenInfoShape(t *testing.T) {
	for _, tok := range []string{"", "AAAA", strings.Repeat("A", 63), strings.Repeat("A", 65), strings.Repeat("*", 64), strings.Repeat("A", 200)} {
		if _, _, ok := wire.AckTokenInfo(tok); ok {
			t.Errorf("AckTokenInfo(%q) read a token", tok)
		}
	}
}
