//go:build linux

package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// journalRemote is Debian's systemd-journal-remote (package
// systemd-journal-remote, Makefile TEST_DEBS_NOSTART): it writes a real
// journal file from the journal export format, so the box reads a
// journal of the test's own and never this machine's.
const journalRemote = "/lib/systemd/systemd-journal-remote"

// writeJournal appends entries (each field name to value; a value that
// is not printable text is written as binary, as journald does) to the
// journal file at path.
func writeJournal(t *testing.T, path string, entries ...map[string]string) {
	t.Helper()
	var in bytes.Buffer
	for _, e := range entries {
		fmt.Fprintf(&in, "__REALTIME_TIMESTAMP=%d\n", time.Now().UnixMicro())
		for k, v := range e {
			if strings.ContainsAny(v, "\n\x00\x01") {
				in.WriteString(k + "\n")
				binary.Write(&in, binary.LittleEndian, uint64(len(v)))
				in.WriteString(v + "\n")
				continue
			}
			fmt.Fprintf(&in, "%s=%s\n", k, v)
		}
		in.WriteString("\n")
	}
	cmd := exec.Command(journalRemote, "--output="+path, "-")
	cmd.Stdin = &in
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", journalRemote, err, out)
	}
}

// TestJournalUnderLogRules: the box follows a journal (syslog.journal
// with a directory of the test's, written by systemd-journal-remote);
// a kernel disk error entry makes the shipped disk-io-errors rule with
// source journal open an incident, which resolves after its quiet
// period; `outpost logs --source journal` lists the entries; garbage
// (an entry without a message, one over the line bound, a binary one)
// is counted, never kept whole nor crashing the daemon; a local user's
// entry claiming the kern facility does not feed the rule; a restart
// of the daemon goes on from the stored cursor, repeating nothing; and a
// reload that names units reads only theirs, losing none.
func TestJournalUnderLogRules(t *testing.T) {
	if _, err := os.Stat(journalRemote); err != nil {
		t.Fatalf("%s is missing (apt-get install systemd-journal-remote, see the Makefile's TEST_DEBS_NOSTART): %v", journalRemote, err)
	}
	dir := t.TempDir()
	jf := filepath.Join(dir, "box.journal")
	writeJournal(t, jf, map[string]string{"MESSAGE": "before the box was told", "PRIORITY": "3", "SYSLOG_IDENTIFIER": "old"})
	cfg := writeConfig(t, fmt.Sprintf(`site: Acme
syslog:
  journal: {directory: '%s', interval: 1s, priority: info}
checks:
  - {id: box-disks, kind: log_match, interval: 1s, options: {rule: disk-io-errors, source: journal, window: 2s, quiet: 4s}}
  - {id: any-io-error, kind: log_match, interval: 1s, options: {source: journal, regex: 'I/O error', window: 1s, quiet: 2s}}
`, dir))
	data := t.TempDir()
	box, boxLog := startBox(t, cfg, data)
	status := func(what string, re *regexp.Regexp) {
		t.Helper()
		waitFor(t, what, patience, func() string {
			out, _ := outpost(t, "status", "--data", data)
			if !re.MatchString(out) {
				return out + "\nbox log:\n" + boxLog.String()
			}
			return ""
		})
	}
	logs := func(what string, re *regexp.Regexp) string {
		t.Helper()
		var out string
		waitFor(t, what, patience, func() string {
			var code int
			out, code = outpost(t, "logs", "--source", "journal", "--data", data)
			if code != 0 || !re.MatchString(out) {
				return fmt.Sprintf("logs --source journal: %d\n%s\nbox log:\n%s", code, out, boxLog.String())
			}
			return ""
		})
		return out
	}
	status("the disk rule to run", regexp.MustCompile(`box-disks\s+log_match\s+-\s+OK\s`))
	// The attack: a local user's logger line claiming the kern facility
	// is kept as user's, and the kern rule does not fire on it.
	writeJournal(t, jf, map[string]string{"MESSAGE": "I/O error, dev sdz, forged", "PRIORITY": "3", "SYSLOG_FACILITY": "0", "SYSLOG_IDENTIFIER": "kernel", "_TRANSPORT": "syslog"})
	logs("the forged line to be kept as user's", regexp.MustCompile(`outpost user\.err kernel: I/O error, dev sdz, forged`))
	// A rule without facility sees it, fires and goes quiet; the kern
	// rule, which ran meanwhile, never fires.
	seen := false
	waitFor(t, "a rule without facility to fire on the forged line and go quiet", patience, func() string {
		out, _ := outpost(t, "status", "--data", data)
		if regexp.MustCompile(`box-disks\s+log_match\s+-\s+CRITICAL`).MatchString(out) {
			t.Fatalf("the kern rule fired on a user's line:\n%s", out)
		}
		seen = seen || regexp.MustCompile(`any-io-error\s+log_match\s+-\s+CRITICAL\s.*dev sdz, forged`).MatchString(out)
		if !seen || !regexp.MustCompile(`any-io-error\s+log_match\s+-\s+OK\s+.*quiet for 2s since: .*dev sdz`).MatchString(out) {
			return out
		}
		return ""
	})
	writeJournal(t, jf,
		map[string]string{"MESSAGE": "boot ok", "PRIORITY": "6", "SYSLOG_IDENTIFIER": "systemd", "_SYSTEMD_UNIT": "init.scope"},
		map[string]string{"PRIORITY": "3", "SYSLOG_IDENTIFIER": "nomessage"},
		map[string]string{"MESSAGE": strings.Repeat("x", 100<<10), "PRIORITY": "3", "SYSLOG_IDENTIFIER": "huge"},
		map[string]string{"MESSAGE": "binary\x01\nsecond line\xff", "PRIORITY": "4", "SYSLOG_IDENTIFIER": "bin"},
		map[string]string{"MESSAGE": "chatty debug", "PRIORITY": "7", "SYSLOG_IDENTIFIER": "debugger"},
		map[string]string{"MESSAGE": "blk_update_request: I/O error, dev sda, sector 123456 op 0x0:(READ) flags 0x0 phys_seg 1 prio class 0", "PRIORITY": "3", "SYSLOG_FACILITY": "0", "SYSLOG_IDENTIFIER": "kernel", "_TRANSPORT": "kernel", "_HOSTNAME": "closet-box"},
	)
	status("the disk rule to fire on the journal's kernel line", regexp.MustCompile(`box-disks\s+log_match\s+-\s+CRITICAL\s.*I/O error, dev sda`))
	waitFor(t, "an incident to open", patience, func() string {
		out, _ := outpost(t, "incidents", "--open", "--data", data)
		if !strings.Contains(out, "box-disks") {
			return out
		}
		return ""
	})
	out := logs("the entries to be listed", regexp.MustCompile(`outpost \(closet-box\) kern\.err kernel: blk_update_request: I/O error, dev sda`))
	for _, want := range []string{"daemon.info systemd: boot ok", "daemon.warning bin: binary  second line\uFFFD"} {
		if !strings.Contains(out, want) {
			t.Errorf("logs --source journal lacks %q:\n%s", want, out)
		}
	}
	for _, not := range []string{"before the box was told", "chatty debug", "nomessage", "xxxx"} {
		if strings.Contains(out, not) {
			t.Errorf("logs --source journal has %q:\n%s", not, out)
		}
	}
	st, _ := outpost(t, "logs", "--stats", "--data", data)
	if !regexp.MustCompile(`journal\s+\d+ journalctl runs \(0 failed\), entries 6: 4 kept, dropped: empty 1, too_long 1`).MatchString(st) {
		t.Errorf("logs --stats:\n%s", st)
	}
	m := regexp.MustCompile(`msg="outpost running" status=(\S+)`).FindStringSubmatch(boxLog.String())
	if m == nil {
		t.Fatalf("no status address in the box log:\n%s", boxLog.String())
	}
	resp, err := http.Get("http://" + m[1] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"outpost_journal_entries_total 6", "outpost_journal_kept_total 4", `outpost_journal_dropped_total{reason="too_long"} 1`, `outpost_journal_dropped_total{reason="empty"} 1`, "outpost_journal_failed_total 0"} {
		if !strings.Contains(string(body), want+"\n") {
			t.Errorf("/metrics lacks %q:\n%s", want, body)
		}
	}
	status("the disk rule to resolve after its quiet period", regexp.MustCompile(`box-disks\s+log_match\s+-\s+OK\s.*quiet for 4s since: .*I/O error`))
	waitFor(t, "the incident to resolve", patience, func() string {
		out, _ := outpost(t, "incidents", "--open", "--data", data)
		if strings.Contains(out, "box-disks") {
			return out
		}
		return ""
	})

	// A restart goes on after the stored cursor: nothing is read twice.
	box.Process.Signal(syscall.SIGTERM)
	box.Wait()
	writeJournal(t, jf, map[string]string{"MESSAGE": "while the box was down", "PRIORITY": "5", "SYSLOG_IDENTIFIER": "later"})
	box, boxLog = startBox(t, cfg, data)
	writeJournal(t, jf, map[string]string{"MESSAGE": "after the restart", "PRIORITY": "5", "SYSLOG_IDENTIFIER": "later"})
	out = logs("the entries after the restart", regexp.MustCompile(`(?s)while the box was down.*after the restart`))
	if n := strings.Count(out, "I/O error, dev sda"); n != 1 {
		t.Errorf("the disk line is listed %d times after a restart:\n%s", n, out)
	}
	if n := strings.Count(out, "boot ok"); n != 1 {
		t.Errorf("boot ok is listed %d times after a restart:\n%s", n, out)
	}

	// A reload that names units reads only theirs, from where it was.
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("site: Acme\nsyslog:\n  journal: {directory: '%s', interval: 1s, units: [nut-monitor.service]}\n", dir)), 0o644); err != nil {
		t.Fatal(err)
	}
	box.Process.Signal(syscall.SIGHUP)
	waitFor(t, "the reload to move the follower", patience, func() string {
		if !strings.Contains(boxLog.String(), `following the box's journal" units=[nut-monitor.service]`) {
			return boxLog.String()
		}
		return ""
	})
	writeJournal(t, jf,
		map[string]string{"MESSAGE": "another unit's", "PRIORITY": "4", "SYSLOG_IDENTIFIER": "sshd", "_SYSTEMD_UNIT": "ssh.service"},
		map[string]string{"MESSAGE": "UPS ups@localhost on battery", "PRIORITY": "4", "SYSLOG_IDENTIFIER": "upsmon", "_SYSTEMD_UNIT": "nut-monitor.service", "_PID": "812"})
	out = logs("the unit's entry after the reload", regexp.MustCompile(`daemon\.warning upsmon\[812\]: UPS ups@localhost on battery`))
	if strings.Contains(out, "another unit's") || strings.Count(out, "after the restart") != 1 {
		t.Errorf("after the reload:\n%s", out)
	}
}
