package syslog

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"outpost/checks"
	"outpost/checks/clock"
)

// The box's own systemd journal as an event source (docs/logs.md,
// "The box's journal"): journalctl is run every Interval with
// --cursor (the entry at the cursor left out), and each entry becomes an event of the box's device
// with source journal, kept within the syslog retention, so log_match
// rules read it like a syslog line.

// Journal defaults and bounds.
const (
	DefaultJournalInterval = 5 * time.Second
	DefaultJournalPriority = "info"
	// maxJournalLine bounds one line of journalctl's JSON output; a
	// longer one is counted (too_long) and dropped.
	maxJournalLine = 64 << 10
	// maxJournalPoll bounds the entries one journalctl run hands over;
	// the next run goes on from there.
	maxJournalPoll = 5000
	// maxJournalBackoff is the longest wait after journalctl failed.
	maxJournalBackoff = 5 * time.Minute
	maxJournalUnits   = 64
	// maxJournalCursor is the longest cursor taken (journald's are
	// about 130 bytes): the store keeps fields to 256 bytes, and a cut
	// cursor would not be found again.
	maxJournalCursor = 250
)

// JournalConfig is `syslog.journal:`. Present (even empty), the box
// follows its own journal.
type JournalConfig struct {
	// Units, when set, are the only systemd units read (journalctl
	// --unit, any of them).
	Units []string `yaml:"units"`
	// Priority is the least severe priority kept (default info).
	Priority string `yaml:"priority"`
	// Interval is how often journalctl is asked for new entries.
	Interval time.Duration `yaml:"interval"`
	// Directory or File read another journal than the system's
	// (journalctl --directory, --file): absolute paths.
	Directory string `yaml:"directory"`
	File      string `yaml:"file"`

	priority int
}

var unitName = regexp.MustCompile(`^[A-Za-z0-9:_.@\\*?\[\]-]{1,256}$`)

func checkJournal(j *JournalConfig) error {
	var errs []error
	fail := func(field, format string, args ...any) {
		errs = append(errs, &checks.FieldError{Field: "journal." + field, Msg: fmt.Sprintf(format, args...)})
	}
	if len(j.Units) > maxJournalUnits {
		fail("units", "%d units; at most %d", len(j.Units), maxJournalUnits)
	}
	for i, u := range j.Units {
		if !unitName.MatchString(u) || strings.HasPrefix(u, "-") {
			fail(fmt.Sprintf("units[%d]", i), "%q is not a systemd unit name (e.g. ssh.service, or a glob such as nut-*.service)", u)
		}
	}
	if j.Priority == "" {
		j.Priority = DefaultJournalPriority
	}
	p, err := checks.ParseSyslogSeverity(j.Priority)
	if err != nil {
		fail("priority", "%v", err)
	}
	j.priority = p
	switch {
	case j.Interval == 0:
		j.Interval = DefaultJournalInterval
	case j.Interval < time.Second || j.Interval > 10*time.Minute:
		fail("interval", "%s is not 1s to 10m (default 5s)", j.Interval)
	}
	if j.Directory != "" && j.File != "" {
		fail("file", "give directory or file, not both")
	}
	for _, f := range []struct{ field, v string }{{"directory", j.Directory}, {"file", j.File}} {
		if f.v != "" && (!filepath.IsAbs(f.v) || strings.ContainsAny(f.v, "\x00\n")) {
			fail(f.field, "%q is not an absolute path", f.v)
		}
	}
	return errors.Join(errs...)
}

// Args are journalctl's arguments for entries from cursor on ("": those
// since the time given). --cursor, not --after-cursor: journalctl's
// --after-cursor skips one entry past where it lands, so an entry is
// lost when the cursor's own entry does not match the filters (a reload
// that names units); the caller leaves out the cursor's entry itself.
func (j *JournalConfig) Args(cursor string, since time.Time) []string {
	// Without --all, journalctl writes a field over 4096 bytes as null,
	// so lines stay short and the cursor is always there.
	args := []string{"--output=json", "--no-pager", "--quiet", "--priority=0.." + strconv.Itoa(j.priority)}
	switch {
	case j.Directory != "":
		args = append(args, "--directory="+j.Directory)
	case j.File != "":
		args = append(args, "--file="+j.File)
	}
	for _, u := range j.Units {
		args = append(args, "--unit="+u)
	}
	if cursor != "" {
		return append(args, "--cursor="+cursor)
	}
	us := since.UnixMicro()
	return append(args, fmt.Sprintf("--since=@%d.%06d", us/1e6, us%1e6))
}

// Journal reasons an entry is dropped (JournalStats.Dropped).
const (
	JournalTooLong = "too_long" // a message over 4096 bytes, a line over 64 KiB
	JournalGarbage = "garbage"  // not a journal entry in JSON
	JournalEmpty   = "empty"    // no MESSAGE
)

// JournalStats are the follower's counters.
type JournalStats struct {
	Runs    uint64            `json:"runs"`    // journalctl runs
	Failed  uint64            `json:"failed"`  // runs that failed to start or exited with an error
	Entries uint64            `json:"entries"` // lines read
	Kept    uint64            `json:"kept"`    // entries kept as events
	Dropped map[string]uint64 `json:"dropped"` // by reason
	Cursor  string            `json:"cursor"`  // the last entry read
	Error   string            `json:"error,omitempty"`
}

// Journal follows the box's journal. Run it once; Stats may be read
// meanwhile.
type Journal struct {
	cfg     JournalConfig
	device  string
	onEvent func(checks.Event)
	clock   clock.Clock
	logf    func(format string, args ...any)
	since   time.Time

	mu sync.Mutex
	st JournalStats
}

// NewJournal makes a follower of the journal c says, whose entries are
// events of device handed to onEvent; it goes on after cursor, or
// begins with the entries since the time given when cursor is "".
func NewJournal(c JournalConfig, device, cursor string, since time.Time, onEvent func(checks.Event), clk clock.Clock, logf func(string, ...any)) *Journal {
	if clk == nil {
		clk = clock.Real{}
	}
	if logf == nil {
		logf = func(string, ...any) {}
	}
	j := &Journal{cfg: c, device: device, onEvent: onEvent, clock: clk, logf: logf, since: since}
	j.st.Cursor = cursor
	j.st.Dropped = map[string]uint64{}
	return j
}

// Stats are the counters so far.
func (j *Journal) Stats() JournalStats {
	j.mu.Lock()
	defer j.mu.Unlock()
	s := j.st
	s.Dropped = make(map[string]uint64, len(j.st.Dropped))
	for k, v := range j.st.Dropped {
		s.Dropped[k] = v
	}
	return s
}

// Run reads new entries every Interval until ctx ends; after a failed
// run it waits twice as long each time, up to 5 minutes.
func (j *Journal) Run(ctx context.Context) error {
	wait := j.cfg.Interval
	for {
		full, err := j.poll(ctx)
		if ctx.Err() != nil {
			return nil
		}
		j.mu.Lock()
		j.st.Runs++
		if err != nil {
			j.st.Failed++
			if j.st.Error != err.Error() {
				j.logf("journal: %v (trying again in %s)", err, min(2*wait, maxJournalBackoff))
			}
			j.st.Error = err.Error()
		} else {
			j.st.Error = ""
		}
		j.mu.Unlock()
		switch {
		case err != nil:
			wait = min(2*wait, maxJournalBackoff)
		case full:
			wait = 0 // more are waiting
		default:
			wait = j.cfg.Interval
		}
		if wait == 0 {
			continue
		}
		t := j.clock.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C():
		}
	}
}

// poll runs journalctl once and hands over what it printed; full says
// it stopped at maxJournalPoll entries.
func (j *Journal) poll(ctx context.Context) (full bool, err error) {
	j.mu.Lock()
	cursor := j.st.Cursor
	j.mu.Unlock()
	prog := "journalctl"
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := exec.CommandContext(rctx, prog, j.cfg.Args(cursor, j.since)...)
	var stderr limitedBuffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return false, err
	}
	if err := cmd.Start(); err != nil {
		return false, fmt.Errorf("running %s: %w", prog, err)
	}
	n := 0
	r := bufio.NewReaderSize(out, 64<<10)
	first := true
	for n < maxJournalPoll {
		line, long, rerr := readBounded(r, maxJournalLine)
		if len(line) > 0 || long {
			// The entry at the cursor was read last time.
			if first && cursor != "" && !long && bytes.Contains(line, []byte(`"__CURSOR":`+strconv.Quote(cursor))) {
				first = false
				continue
			}
			first = false
			n++
			j.take(line, long)
		}
		if rerr != nil {
			break
		}
	}
	if n >= maxJournalPoll {
		full = true
		cancel()
	}
	_, _ = io.Copy(io.Discard, out)
	werr := cmd.Wait()
	if werr != nil && !full {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = werr.Error()
		}
		if cursor != "" && strings.Contains(msg, "seek to cursor") {
			// Not a cursor of this journal (journalctl knows none
			// nearby): begin again with the entries since the start.
			j.mu.Lock()
			if j.st.Cursor == cursor {
				j.st.Cursor = ""
			}
			j.mu.Unlock()
			j.logf("journal: the stored cursor %q is not this journal's (%s): reading the entries since %s", cursor, msg, j.since.UTC().Format(time.RFC3339))
		}
		return false, fmt.Errorf("%s: %s", prog, msg)
	}
	return full, nil
}

// readBounded reads one line of at most limit bytes; a longer one is
// read to its end and reported as long, with its first limit bytes.
func readBounded(r *bufio.Reader, limit int) (line []byte, long bool, err error) {
	total := 0
	for {
		chunk, isPrefix, e := r.ReadLine()
		total += len(chunk)
		if room := limit - len(line); room > 0 {
			line = append(line, chunk[:min(len(chunk), room)]...)
		}
		if e != nil || !isPrefix {
			return line, total > limit, e
		}
	}
}

var cursorField = regexp.MustCompile(`"__CURSOR"\s*:\s*"([^"\\]{1,250})"`)

// take keeps one line of journalctl's output, or counts it dropped;
// either way the cursor goes past it.
func (j *Journal) take(line []byte, long bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.st.Entries++
	if long {
		j.st.Dropped[JournalTooLong]++
		if m := cursorField.FindSubmatch(line); m != nil {
			j.st.Cursor = string(m[1])
		}
		return
	}
	e, cursor, reason := ParseJournalEntry(line, j.device, j.clock.Now())
	if cursor != "" {
		j.st.Cursor = cursor
	}
	if reason != "" {
		j.st.Dropped[reason]++
		return
	}
	j.st.Kept++
	j.onEvent(e)
}

// ParseJournalEntry reads one entry of journalctl --output=json as an
// event of device dated now (its own time is the field timestamp), or
// says why it is dropped. It returns the entry's cursor when it has one.
func ParseJournalEntry(line []byte, device string, now time.Time) (e checks.Event, cursor, reason string) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(line, &raw); err != nil {
		return e, "", JournalGarbage
	}
	field := func(k string) string { return journalValue(raw[k]) }
	cursor = field("__CURSOR")
	if cursor == "" || len(cursor) > maxJournalCursor {
		return e, "", JournalGarbage
	}
	if m, ok := raw["MESSAGE"]; ok && string(bytes.TrimSpace(m)) == "null" {
		return e, cursor, JournalTooLong // journalctl's null: over 4096 bytes
	}
	msg := cleanText(field("MESSAGE"))
	if strings.TrimSpace(msg) == "" {
		return e, cursor, JournalEmpty
	}
	sev := 6
	if p, err := strconv.Atoi(field("PRIORITY")); err == nil && p >= 0 && p <= 7 {
		sev = p
	}
	// kern only for what the kernel wrote (_TRANSPORT is journald's,
	// not the sender's): a local user's entry claiming kern is user's,
	// as syslog(3) makes it, so a kern rule cannot be fed by logger.
	fac := 3 // daemon, a unit's default
	if f, err := strconv.Atoi(field("SYSLOG_FACILITY")); err == nil && f >= 0 && f < len(checks.SyslogFacilities) {
		fac = f
	}
	if kernel := field("_TRANSPORT") == "kernel"; kernel {
		fac = 0
	} else if fac == 0 {
		fac = 1
	}
	app := cleanText(field("SYSLOG_IDENTIFIER"))
	if app == "" {
		app = cleanText(field("_COMM"))
	}
	unit := cleanText(field("_SYSTEMD_UNIT"))
	if app == "" {
		app = strings.TrimSuffix(unit, ".service")
	}
	if app == "" {
		app = "journal"
	}
	e = checks.Event{Time: now, Device: device, Source: checks.SourceJournal, Name: app, Detail: msg, Severity: checks.SyslogStatus(sev),
		Fields: map[string]string{
			checks.FieldFacility: checks.SyslogFacilities[fac],
			checks.FieldSeverity: checks.SyslogSeverities[sev],
			checks.FieldApp:      app,
			checks.FieldCursor:   cursor,
		}}
	if h := cleanText(field("_HOSTNAME")); h != "" {
		e.Fields[checks.FieldHost] = h
	}
	if unit != "" {
		e.Fields[checks.FieldUnit] = unit
	}
	if pid := cleanText(field("_PID")); pid != "" {
		e.Fields[checks.FieldProcID] = pid
	}
	if us, err := strconv.ParseInt(field("__REALTIME_TIMESTAMP"), 10, 64); err == nil && us > 0 {
		e.Fields[checks.FieldTimestamp] = time.UnixMicro(us).UTC().Format(time.RFC3339Nano)
	}
	return e, cursor, ""
}

// journalValue is a journal JSON field as text: a string, an array of
// bytes (a binary value, as journalctl writes one that is not UTF-8
// text), or the first of several values.
func journalValue(v json.RawMessage) string {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return ""
	}
	switch v[0] {
	case '"':
		var s string
		if json.Unmarshal(v, &s) == nil {
			return s
		}
	case '[':
		var b []byte
		var nums []int
		if json.Unmarshal(v, &nums) == nil {
			for _, n := range nums {
				if n < 0 || n > 255 {
					return ""
				}
				b = append(b, byte(n))
			}
			return string(b)
		}
		var many []json.RawMessage
		if json.Unmarshal(v, &many) == nil && len(many) > 0 {
			return journalValue(many[0])
		}
	}
	return ""
}

// cleanText makes s valid UTF-8 on one line: control characters become
// spaces, so that nothing forges a second line in a listing.
func cleanText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return ' '
		}
		return r
	}, strings.TrimRight(s, "\n"))
}

// limitedBuffer keeps the first 4 KiB written to it.
type limitedBuffer struct{ b bytes.Buffer }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := 4096 - l.b.Len(); room > 0 {
		l.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (l *limitedBuffer) String() string { return l.b.String() }
