package backup_test

import (
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"outpost/checks"
	"outpost/checks/backup"
)

// FuzzParsePing: whatever a host on the LAN sends to /ping/, the parser
// answers a valid ping or a *PingError, never panics; a ping names a
// lower-case UUID, a known signal and an exit status of 0-255; the kept
// output is bounded valid UTF-8 without control characters.
func FuzzParsePing(f *testing.F) {
	id := "3f2b8c1e-9a4d-4e6f-8b21-5c7d9e0a1b2c"
	for _, s := range []struct{ method, path, query, body string }{
		{"GET", "/ping/" + id, "", ""},
		{"POST", "/ping/" + id + "/start", "rid=aaaaaaaa-0000-4000-8000-000000000001", ""},
		{"POST", "/ping/" + id + "/fail", "", "borg: error\r\n"},
		{"HEAD", "/ping/" + strings.ToUpper(id) + "/0", "", ""},
		{"PUT", "/ping/" + id + "/255", "", "\x1b[2J\xff"},
		{"GET", "/ping/" + id + "/log", "rid=%zz", "progress"},
		{"GET", "/ping/" + id + "/256", "", ""},
		{"DELETE", "/ping/" + id, "", ""},
		{"GET", "/ping/" + id + "/", "", ""},
		{"GET", "/ping/../x", "a=b;c", ""},
	} {
		f.Add(s.method, s.path, s.query, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, method, path, query string, body []byte) {
		p, err := backup.ParsePing(method, path, query)
		if err != nil {
			var pe *backup.PingError
			if !errors.As(err, &pe) || pe.Code < 400 || pe.Code > 499 || pe.Msg == "" {
				t.Fatalf("error %v is not a 4xx PingError", err)
			}
		} else {
			if got, err := backup.ParseID(p.UUID); err != nil || got != p.UUID {
				t.Fatalf("ping UUID %q", p.UUID)
			}
			switch p.Signal {
			case checks.BackupStart, checks.BackupSuccess, checks.BackupFail, checks.BackupLog:
			default:
				t.Fatalf("signal %q", p.Signal)
			}
			if p.Exit != nil && (*p.Exit < 0 || *p.Exit > 255 || (*p.Exit == 0) != (p.Signal == checks.BackupSuccess)) {
				t.Fatalf("exit %d with %s", *p.Exit, p.Signal)
			}
			if p.RunID != "" {
				if _, err := backup.ParseID(p.RunID); err != nil {
					t.Fatalf("rid %q", p.RunID)
				}
			}
		}
		out := backup.CleanOutput(body)
		if len(out) > checks.BackupOutputMax || !utf8.ValidString(out) {
			t.Fatalf("output of %d bytes, valid %v", len(out), utf8.ValidString(out))
		}
		for _, r := range out {
			if r != '\n' && r != '\t' && (unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r)) {
				t.Fatalf("control character %U kept", r)
			}
		}
	})
}
