package appliance_test

import (
	"fmt"
	"html"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLogsAndBackupsPagesUnderAttack: what a LAN host puts in a syslog
// line or a backup job's output is shown as text on the Logs, device and
// Backups pages, never as markup; the pages need a login; filters that
// would make a search costly or do not parse are refused with what was
// wrong, the daemon unharmed.
func TestLogsAndBackupsPagesUnderAttack(t *testing.T) {
	udp := freeUDP(t)
	const job = "5a4f3e2d-1c0b-4a9b-8c7d-6e5f4a3b2c1d"
	a, cfgPath := MustRun(t, fmt.Sprintf(`site: Attack lab
syslog: {udp: '%s'}
devices:
  - {name: fw, address: 127.0.0.1}
checks:
  - {id: fw-rule, kind: log_match, target: fw, interval: 1h, options: {regex: 'never'}}
  - {id: job, kind: backup, options: {uuid: %s, period: 24h}}
`, udp, job))
	d := &uiDaemon{a: a, base: a.UIURL(), data: filepath.Join(filepath.Dir(cfgPath), "data")}
	waitFor(t, "the box's claim code", patience, func() (bool, string) { return d.claimCode() != "", "no claim code yet" })

	anon := lanClient(t, "")
	for _, p := range []string{"/logs", "/logs/rules", "/backups"} {
		if got := getUI(t, anon, d.base+p); got.code != http.StatusSeeOther || !strings.HasPrefix(got.header.Get("Location"), "/setup") && !strings.HasPrefix(got.header.Get("Location"), "/login") {
			t.Fatalf("%s without a login: %d %s", p, got.code, got.header.Get("Location"))
		}
	}
	c := d.claim(t)

	const evil = `<script>alert('line')</script><img src=x onerror=alert(1)>`
	waitFor(t, "the hostile line to be kept", patience, func() (bool, string) {
		sendUDP(t, "127.0.0.1", udp, "<38>Mar  4 12:00:00 fw sshd[1]: "+evil)
		time.Sleep(20 * time.Millisecond)
		return len(storedLines(a, "fw")) > 0, "no line stored"
	})
	ping := postUI(t, lanClient(t, ""), d.base+"/ping/"+job+"/1", nil)
	if ping.code != http.StatusOK {
		t.Fatalf("ping: %d %s", ping.code, ping.body)
	}
	req, _ := http.NewRequest("POST", d.base+"/ping/"+job+"/fail", strings.NewReader(`<script>alert('output')</script>`))
	if got := do(t, lanClient(t, ""), req); got.code != http.StatusOK {
		t.Fatalf("ping with output: %d %s", got.code, got.body)
	}
	for _, p := range []string{"/logs", "/devices/fw", "/backups"} {
		got := getUI(t, c, d.base+p)
		if got.code != http.StatusOK {
			t.Fatalf("%s: %d\n%s", p, got.code, got.body)
		}
		if strings.Contains(got.body, "<script>alert") || strings.Contains(got.body, "<img src=x") {
			t.Fatalf("%s renders a sender's markup:\n%s", p, got.body)
		}
		if !strings.Contains(got.body, "&lt;script&gt;alert(") {
			t.Fatalf("%s does not show the hostile text as text:\n%s", p, got.body)
		}
		if csp := got.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
			t.Fatalf("%s: Content-Security-Policy %q", p, csp)
		}
	}

	for _, tc := range []struct {
		query string
		code  int
		says  string
	}{
		{"grep=" + strings.Repeat("a", 5000), http.StatusUnprocessableEntity, "grep is 5000 bytes; at most 1024"},
		{"grep=" + url.QueryEscape("(a"), http.StatusUnprocessableEntity, "is not a regular expression"},
		{"severity=loud", http.StatusUnprocessableEntity, `"loud" is not a syslog severity`},
		{"since=99999999d", http.StatusUnprocessableEntity, `since "99999999d" is not a duration`},
		{"since=-1h", http.StatusUnprocessableEntity, `since "-1h" is not a duration`},
		{"source=kernel", http.StatusUnprocessableEntity, `source "kernel" is not syslog, trap, eventlog, journal or any`},
		{"before=yesterday", http.StatusBadRequest, `before "yesterday" is not a time in Unix milliseconds`},
		{"skip=-3", http.StatusBadRequest, `skip "-3" is not a count`},
		{"skip=99999999", http.StatusUnprocessableEntity, `skip "99999999" is not 0 to 10000`},
	} {
		got := getUI(t, c, d.base+"/logs?"+tc.query)
		if got.code != tc.code || !strings.Contains(html.UnescapeString(got.body), tc.says) {
			t.Errorf("/logs?%.60s: %d, want %d saying %q\n%.2000s", tc.query, got.code, tc.code, tc.says, got.body)
		}
	}
	// The device page's search says the same, and the page still shows.
	if got := getUI(t, c, d.base+"/devices/fw?logq="+url.QueryEscape("(a")); got.code != http.StatusOK || !strings.Contains(got.body, "is not a regular expression") {
		t.Fatalf("device page with a bad regex: %d\n%s", got.code, got.body)
	}
	if got := getUI(t, c, d.base+"/logs"); got.code != http.StatusOK {
		t.Fatalf("the Logs page after the attempts: %d", got.code)
	}
}
