package appliance_test

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"outpost/checks"
)

// TestBrowserLogsAndBackups drives the Logs and Backups pages of a
// running daemon in chromium: lines sent by util-linux logger over TCP
// (RFC 5424, octet-counted) and over UDP from a second address are
// filtered by device, severity and text and paged through without a
// line lost or shown twice; the device page searches its own lines;
// a backup job pinged by curl (start, failure with its log, start,
// success) shows its schedule, runs, durations and output.
func TestBrowserLogsAndBackups(t *testing.T) {
	logger, err := exec.LookPath("logger")
	if err != nil {
		t.Skip("logger is not installed (make test installs Debian's bsdutils)")
	}
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl is not installed (make test installs it)")
	}
	udp, tcp := freeUDP(t), freeTCP(t)
	const job = "0b7a4b52-6f4e-4a0c-9d43-2f1e8c3a5d71"
	a, cfgPath := MustRun(t, fmt.Sprintf(`site: Acme Dental, 2nd floor closet
syslog: {udp: '%s', tcp: '%s', rate_limit: {per_source: 1000, total: 2000}}
devices:
  - {name: fw, address: 127.0.0.1, class: router}
  - {name: nas, address: 127.0.0.2, class: server}
checks:
  - {id: fw-failed-logins, kind: log_match, interval: 2s, labels: {device: fw}, options: {app: sshd, regex: 'Failed password', threshold: 20, window: 5m}}
  - id: fileserver-borg
    kind: backup
    confirm: 1
    labels: {device: nas}
    options: {uuid: %s, cron: "30 2 * * *", timezone: Europe/Berlin, grace: 2h, max_duration: 6h}
`, udp, tcp, job))
	_, port, _ := strings.Cut(tcp, ":")

	// 120 failed logins from fw through logger, one connection; the
	// lines arrive within a few milliseconds, so pages split between
	// lines of the same millisecond.
	var in strings.Builder
	for i := range 120 {
		fmt.Fprintf(&in, "Failed password for root from 198.51.100.7 port %d ssh2\n", 40000+i)
	}
	cmd := exec.Command(logger, "--server", "127.0.0.1", "--port", port, "--tcp", "--octet-count", "--rfc5424", "-t", "sshd", "-p", "auth.warning")
	cmd.Stdin = strings.NewReader(in.String())
	waitFor(t, "logger to reach the receiver", patience, func() (bool, string) {
		out, err := cmd.CombinedOutput()
		if err != nil {
			cmd = exec.Command(cmd.Path, cmd.Args[1:]...)
			cmd.Stdin = strings.NewReader(in.String())
			return false, fmt.Sprintf("%v: %s", err, out)
		}
		return true, ""
	})
	waitFor(t, "fw's 120 lines to be kept", patience, func() (bool, string) {
		n := len(storedLines(a, "fw"))
		return n >= 120, fmt.Sprintf("%d kept", n)
	})
	// UDP: sent again until kept (a repeat is one more row, no harm).
	waitFor(t, "nas's lines to be kept", patience, func() (bool, string) {
		if len(storedLines(a, "nas")) < 2 {
			sendUDP(t, "127.0.0.2", udp, "<3>Mar  4 11:59:58 nas kernel: md/raid1:md2: Disk failure on sdb3, disabling device.",
				"<14>Mar  4 11:59:59 nas synoscgi: System successfully started backup task [Nightly].")
			time.Sleep(50 * time.Millisecond)
		}
		n := len(storedLines(a, "nas"))
		return n >= 2, fmt.Sprintf("%d kept", n)
	})

	// The backup job: a failed run with its log, then a good one.
	ping := func(path, body string) {
		t.Helper()
		args := []string{"-fsS", "-k", "-m", "30", a.UIURL() + "/ping/" + job + path}
		if body != "" {
			args = append(args, "--data-binary", body)
		}
		if out, err := exec.Command(curl, args...).CombinedOutput(); err != nil {
			t.Fatalf("curl %s: %v: %s", path, err, out)
		}
	}
	ping("/start", "")
	ping("/2", "Creating archive at /srv/borg::nas-2031\n/srv/borg: Error running actions for repository\nCommand 'borg create' returned non-zero exit status 2.")
	ping("/start", "")
	ping("", "Creating archive at /srv/borg::nas-2031\nArchive fingerprint: 5b1c\nsucceeded")

	ctx, cancel := browser(t)
	defer cancel()
	base := a.UIURL()
	claimInBrowser(t, ctx, base, cfgPath)

	// fw's lines, 50 a page, newest first, three pages, each line once.
	rows := func(table string) []string {
		t.Helper()
		return evalIn[[]string](t, ctx, fmt.Sprintf(`[...document.querySelectorAll('[data-testid=%q] [data-testid="log-row"]')].map(r => r.innerText)`, table))
	}
	visit(t, ctx, base+"/logs?device=fw", `[data-testid="logs"]`)
	var seen []string
	for page := 1; ; page++ {
		got := rows("logs")
		seen = append(seen, got...)
		if page == 1 {
			if len(got) != 50 || !strings.Contains(got[0], "port 40119") || !strings.Contains(got[0], "auth.warning") {
				t.Fatalf("first page: %d rows, first %q", len(got), got[0])
			}
			if n := evalIn[int](t, ctx, `document.querySelectorAll('[data-testid="logs"] .lvl.st-warning').length`); n != 50 {
				t.Fatalf("%d of 50 auth.warning lines are marked as warnings", n)
			}
			screenshot(t, ctx, "logs")
		}
		if !evalIn[bool](t, ctx, `!!document.querySelector('[data-testid="logs-older"]')`) {
			break
		}
		if page > 3 {
			t.Fatalf("more than three pages of 120 lines")
		}
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`[data-testid="logs-older"]`)), chromedp.WaitVisible(chromedp.CSS(`[data-testid="logs-newest"]`))); err != nil {
			t.Fatal(err)
		}
	}
	if len(seen) != 120 {
		t.Fatalf("paged through %d lines, want 120", len(seen))
	}
	for i := range 120 {
		want := fmt.Sprintf("port %d ssh2", 40119-i)
		if !strings.Contains(seen[i], want) {
			t.Fatalf("line %d is %q, want one with %q (lines lost, repeated or out of order)", i, seen[i], want)
		}
	}

	// The form: text, then severity over every device.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/logs"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="logs-filter"]`)),
		chromedp.SetValue(chromedp.CSS("#grep"), "port 4004[0-2] "),
		chromedp.Click(chromedp.CSS(`[data-testid="logs-search"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#grep[value="port 4004[0-2] "]`)),
	); err != nil {
		t.Fatal(err)
	}
	if got := rows("logs"); len(got) != 3 || !strings.Contains(got[0], "port 40042") || !strings.Contains(got[2], "port 40040") {
		t.Fatalf("text search: %q", got)
	}
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/logs"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="logs-filter"]`)),
		chromedp.SetValue(chromedp.CSS("#severity"), "err"),
		chromedp.Click(chromedp.CSS(`[data-testid="logs-search"]`)),
		chromedp.WaitReady(chromedp.CSS(`#severity option[value="err"][selected]`)),
	); err != nil {
		t.Fatal(err)
	}
	got := rows("logs")
	if len(got) == 0 {
		t.Fatal("severity err: no row")
	}
	for _, r := range got { // only the NAS's kernel error, not fw's warnings nor its info line
		if !strings.Contains(r, "nas") || !strings.Contains(r, "kern.err") || !strings.Contains(r, "Disk failure on sdb3") {
			t.Fatalf("severity err: %q", got)
		}
	}
	// A regex that does not parse is said, not a broken page.
	visit(t, ctx, base+"/logs?grep=%28unclosed", `[data-testid="logs-problem"]`)
	if p := text(t, ctx, `[data-testid="logs-problem"]`); !strings.Contains(p, `grep "(unclosed" is not a regular expression`) {
		t.Fatalf("bad regex: %q", p)
	}

	// The device page's own search.
	visit(t, ctx, base+"/devices/fw", `[data-testid="device-logs"]`)
	if got := rows("device-logs"); len(got) != 20 || !strings.Contains(got[0], "port 40119") {
		t.Fatalf("device page lines: %d, first %q", len(got), got)
	}
	if err := chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#logq"), "port 4010[5-7]"),
		chromedp.Click(chromedp.CSS(`[data-testid="device-logs-search"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#logq[value="port 4010[5-7]"]`)),
	); err != nil {
		t.Fatal(err)
	}
	if got := rows("device-logs"); len(got) != 3 || !strings.Contains(got[0], "port 40107") {
		t.Fatalf("device page search: %q", got)
	}
	screenshot(t, ctx, "device-logs")

	// The Backups page: schedule, both runs with durations, the failed
	// run's log.
	visit(t, ctx, base+"/backups", `[data-testid="backup-fileserver-borg"]`)
	job1 := `[data-testid="backup-fileserver-borg"]`
	if s := text(t, ctx, job1+` [data-testid="backup-schedule"]`); s != "cron 30 2 * * * (Europe/Berlin), grace 2h, max duration 6h" {
		t.Fatalf("schedule: %q", s)
	}
	if u := text(t, ctx, job1+` [data-testid="backup-url"]`); !strings.HasSuffix(u, "/ping/"+job) {
		t.Fatalf("ping URL: %q", u)
	}
	results := evalIn[[]string](t, ctx, `[...document.querySelectorAll('[data-testid="run-result"]')].map(e => e.innerText)`)
	durations := evalIn[[]string](t, ctx, `[...document.querySelectorAll('[data-testid="run-duration"]')].map(e => e.innerText)`)
	outputs := evalIn[[]string](t, ctx, `[...document.querySelectorAll('[data-testid="run-output"]')].map(e => e.textContent)`)
	if !slices.Equal(results, []string{"OK", "FAILED"}) { // the badge is in capitals
		t.Fatalf("run results: %q", results)
	}
	if len(durations) != 2 || durations[0] == "" || durations[1] == "" {
		t.Fatalf("run durations: %q", durations)
	}
	if len(outputs) != 2 || !strings.Contains(outputs[0], "succeeded") || !strings.Contains(outputs[1], "returned non-zero exit status 2") {
		t.Fatalf("run outputs: %q", outputs)
	}
	if b := text(t, ctx, job1+` h2 .badge`); b != "OK" {
		t.Fatalf("job badge: %q", b)
	}
	if d := text(t, ctx, job1+` [data-testid="backup-detail"]`); !strings.HasPrefix(d, "last run ok") {
		t.Fatalf("job detail: %q", d)
	}
	screenshot(t, ctx, "backups")

	// Log rules: the site's, and a shipped one added from its list.
	visit(t, ctx, base+"/logs/rules", `[data-testid="log-rule-fw-failed-logins"]`)
	if n := evalIn[int](t, ctx, `document.querySelectorAll('[data-testid="shipped-rules"] tbody tr').length`); n < 15 {
		t.Fatalf("%d shipped rules listed", n)
	}
	screenshot(t, ctx, "log-rules")
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`[data-testid="shipped-ssh-brute-force"] [data-testid="add-rule"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="save-check"]`)),
	); err != nil {
		t.Fatal(err)
	}
	if id, opts := evalIn[string](t, ctx, `document.querySelector('#id').value`), evalIn[string](t, ctx, `document.querySelector('#options').value`); id != "ssh-brute-force" || opts != "rule: ssh-brute-force" {
		t.Fatalf("the add form says id %q, options %q", id, opts)
	}
	if err := chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#target"), "fw"),
		chromedp.SetValue(chromedp.CSS("#interval"), "1s"),
		chromedp.Click(chromedp.CSS(`[data-testid="save-check"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="check-id"]`)),
	); err != nil {
		t.Fatal(err)
	}
	// 120 failed logins within the minute: more than the rule's 20.
	waitFor(t, "the added rule to fire on fw's lines", patience, func() (bool, string) {
		r, ok, state := latest(a, "ssh-brute-force")
		return ok && r.Status == checks.Warning && strings.Contains(r.Detail, "more than 20 matching in 5m0s"), state
	})
	visit(t, ctx, base+"/logs/rules", `[data-testid="log-rule-ssh-brute-force"] [data-testid="edit-rule"]`)
}

// evalIn evaluates a script in the page and decodes its result.
func evalIn[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v
}
