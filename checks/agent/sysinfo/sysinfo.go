// Package sysinfo is what an Outpost agent reads about its own machine,
// behind the small Host interface: on Windows through WMI (the
// github.com/yusufpapurcu/wmi client), the registry and the service
// manager; on Linux through /proc, statfs, systemctl and journalctl. The
// functions that turn WMI rows into answers compile everywhere, so they
// are tested on Linux on recorded rows.
package sysinfo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"outpost/checks/agent/wire"
)

// Host answers the agent's questions about this machine. Every method
// honours ctx. An error means the measurement could not be made (no such
// log, a WMI property this system does not provide, ...): the agent passes
// it to the box as that check's error, and it never stops the agent.
type Host interface {
	// Service reports a Windows service or systemd unit; a missing one is
	// Found=false, not an error.
	Service(ctx context.Context, name string) (wire.Service, error)
	// Volumes lists local fixed volumes; name selects one ("" = all).
	Volumes(ctx context.Context, name string) ([]wire.Volume, error)
	CPU(ctx context.Context) (wire.CPU, error)
	Memory(ctx context.Context) (wire.Memory, error)
	Uptime(ctx context.Context) (wire.Uptime, error)
	// Processes counts running processes with that name.
	Processes(ctx context.Context, name string) (wire.ProcessList, error)
	// Events returns log entries matching q after q.Cursor.
	Events(ctx context.Context, q wire.EventQuery) (wire.EventBatch, error)
	// Perf reads a numeric WMI property (Windows only).
	Perf(ctx context.Context, q wire.PerfQuery) (wire.PerfValue, error)
	// Inventory gathers OS, hardware, applications and patches; parts it
	// cannot read are listed in Problems rather than failing it all.
	Inventory(ctx context.Context) (wire.Inventory, error)
	// ControlService restarts, starts or stops a service or unit and
	// returns what happened. The caller has already checked the
	// allow-list.
	ControlService(ctx context.Context, action, name string) (string, error)
}

// ErrUnsupported is returned for a measurement this OS does not have.
var ErrUnsupported = errors.New("not supported on this operating system")

// normalizeState maps Windows and systemd service states onto one set.
func normalizeState(raw string) string {
	switch strings.ToLower(raw) {
	case "running", "active", "reloading":
		return "running"
	case "stopped", "inactive", "dead":
		return "stopped"
	case "start pending", "continue pending", "activating":
		return "starting"
	case "stop pending", "deactivating", "pause pending":
		return "stopping"
	case "paused":
		return "paused"
	case "failed":
		return "failed"
	}
	return "unknown"
}

// levelRank orders levels so a query's Level means "this or worse".
func levelRank(level string) int {
	switch strings.ToLower(level) {
	case "critical", "error":
		return 3
	case "warning":
		return 2
	case "information", "info", "notice", "":
		return 1
	}
	return 0
}

// eventFilter is an EventQuery compiled once.
type eventFilter struct {
	q       wire.EventQuery
	pattern *regexp.Regexp
}

func newEventFilter(q wire.EventQuery) (*eventFilter, error) {
	f := &eventFilter{q: q}
	if q.Pattern != "" {
		re, err := regexp.Compile(q.Pattern)
		if err != nil {
			return nil, fmt.Errorf("pattern %q: %w", q.Pattern, err)
		}
		f.pattern = re
	}
	return f, nil
}

func (f *eventFilter) match(e wire.Event) bool {
	if f.q.Source != "" && !strings.EqualFold(f.q.Source, e.Source) {
		return false
	}
	if len(f.q.EventIDs) > 0 {
		found := false
		for _, id := range f.q.EventIDs {
			found = found || id == e.ID
		}
		if !found {
			return false
		}
	}
	if f.q.Level != "" && levelRank(e.Level) < levelRank(f.q.Level) {
		return false
	}
	if f.pattern != nil && !f.pattern.MatchString(e.Message) {
		return false
	}
	return true
}

// add records a match, keeping at most max entries (newest last).
func (f *eventFilter) add(b *wire.EventBatch, e wire.Event) {
	if !f.match(e) {
		return
	}
	b.Count++
	limit := f.q.Max
	if limit <= 0 {
		limit = 20
	}
	if len(e.Message) > 1024 {
		e.Message = e.Message[:1024] + "…"
	}
	b.Entries = append(b.Entries, e)
	if len(b.Entries) > limit {
		b.Entries = b.Entries[1:]
	}
}

// maxTail bounds how much of a log file one poll reads, so a log that
// grew by gigabytes cannot stall the agent.
const maxTail = 4 << 20

// tailFile reads lines of a plain log file added since cursor
// ("inode-or-size:offset"). An empty cursor starts at the current end: the
// first poll reports nothing older than itself. A file that shrank or was
// replaced is read from its start.
func tailFile(ctx context.Context, path string, f *eventFilter, now time.Time) (wire.EventBatch, error) {
	fh, err := os.Open(path)
	if err != nil {
		return wire.EventBatch{}, fmt.Errorf("log file: %w", err)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return wire.EventBatch{}, fmt.Errorf("log file: %w", err)
	}
	id := fileID(st)
	size := st.Size()
	var b wire.EventBatch
	if f.q.Cursor == "" {
		b.Cursor = id + ":" + strconv.FormatInt(size, 10)
		return b, nil
	}
	curID, offStr, _ := strings.Cut(f.q.Cursor, ":")
	off, err := strconv.ParseInt(offStr, 10, 64)
	if err != nil || curID != id || off > size {
		off = 0 // rotated or truncated: the new file is all new lines
	}
	if _, err := fh.Seek(off, io.SeekStart); err != nil {
		return b, fmt.Errorf("log file: %w", err)
	}
	buf, err := io.ReadAll(io.LimitReader(fh, maxTail))
	if err != nil {
		return b, fmt.Errorf("log file: %w", err)
	}
	// Only whole lines: a line being written now is read next time.
	end := strings.LastIndexByte(string(buf), '\n') + 1
	for _, line := range strings.Split(string(buf[:end]), "\n") {
		if ctx.Err() != nil {
			return b, ctx.Err()
		}
		if line == "" {
			continue
		}
		f.add(&b, wire.Event{Time: now, Source: path, Level: "info", Message: line})
	}
	b.Cursor = id + ":" + strconv.FormatInt(off+int64(end), 10)
	return b, nil
}

// wqlQuote makes a WQL string literal.
func wqlQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)

// ValidIdent reports whether s can be a WMI class or property name; they
// are spliced into WQL, so nothing else is accepted.
func ValidIdent(s string) bool { return identRE.MatchString(s) }

// ValidateEventQuery reports a query the agent could not run (a bad
// pattern), so the box can refuse it at config time.
func ValidateEventQuery(q wire.EventQuery) error {
	_, err := newEventFilter(q)
	return err
}
