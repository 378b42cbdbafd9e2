package agent

import (
	"context"
	"fmt"
	"path"
	"path/filepath"
	"strings"
	"time"

	"outpost/checks"
	"outpost/checks/agent/wire"
)

// BackupFolder checks a backup target on an agent's server: the newest
// file in a folder is younger than max_age and at least min_size, and
// the folder holds at least min_total (docs/agent.md).
type BackupFolder struct {
	base
	q        wire.FolderQuery
	maxAge   time.Duration
	minSize  uint64
	minTotal uint64
}

var _ checks.Checker = (*BackupFolder)(nil)

// Bounds of a backup folder check's options.
const maxBackupAge = 366 * 24 * time.Hour

func newBackupFolder(s checks.Spec, b *base) (checks.Checker, error) {
	var o struct {
		Path      string        `yaml:"path"`
		Pattern   string        `yaml:"pattern"`
		Recursive bool          `yaml:"recursive"`
		MaxAge    time.Duration `yaml:"max_age"`
		MinSize   string        `yaml:"min_size"`
		MinTotal  string        `yaml:"min_total"`
	}
	if err := s.Options.Decode(&o); err != nil {
		return nil, err
	}
	// The server's OS is not known here: an absolute path is /... or
	// a drive path (D:\Backups); a share (\\nas\...) is the NAS's.
	if o.Path == "" || strings.ContainsRune(o.Path, 0) || !(strings.HasPrefix(o.Path, "/") || len(o.Path) >= 3 && o.Path[1] == ':' && (o.Path[2] == '\\' || o.Path[2] == '/')) {
		return nil, &checks.FieldError{Field: "options.path", Msg: fmt.Sprintf("%q is not an absolute folder path on the server (e.g. /srv/backup or D:\\Backups)", o.Path)}
	}
	if o.Pattern != "" {
		if _, err := path.Match(o.Pattern, ""); err != nil || strings.ContainsAny(o.Pattern, `/\`) {
			return nil, &checks.FieldError{Field: "options.pattern", Msg: fmt.Sprintf("%q is not a file name pattern (e.g. *.vbk, nightly-*.tar.zst)", o.Pattern)}
		}
	}
	c := &BackupFolder{base: *b, q: wire.FolderQuery{Path: o.Path, Pattern: o.Pattern, Recursive: o.Recursive}, maxAge: o.MaxAge, minSize: 1}
	if c.maxAge == 0 {
		c.maxAge = 26 * time.Hour
	}
	if c.maxAge < time.Minute || c.maxAge > maxBackupAge {
		return nil, &checks.FieldError{Field: "options.max_age", Msg: fmt.Sprintf("%s is not 1m to 366d", c.maxAge)}
	}
	var err error
	if o.MinSize != "" {
		if c.minSize, err = checks.ParseBytes(o.MinSize); err != nil {
			return nil, &checks.FieldError{Field: "options.min_size", Msg: err.Error()}
		}
	}
	if o.MinTotal != "" {
		if c.minTotal, err = checks.ParseBytes(o.MinTotal); err != nil {
			return nil, &checks.FieldError{Field: "options.min_total", Msg: err.Error()}
		}
	}
	return c, nil
}

// Check asks the agent what the folder holds and judges its newest file
// by the server's clock. The value is the newest file's age in hours.
func (c *BackupFolder) Check(ctx context.Context) checks.Result {
	start := time.Now()
	a, r := c.ask(ctx, wire.Query{Kind: wire.QueryFolder, Folder: &c.q})
	if r != nil {
		return *r
	}
	f := a.Folder
	if f == nil {
		return done(start, checks.Unknown, "agent sent no folder answer")
	}
	what := "file"
	if c.q.Pattern != "" {
		what = "file matching " + c.q.Pattern
	}
	in := fmt.Sprintf("%d files, %s in all", f.Files, checks.Bytes(f.TotalBytes))
	if f.Cut {
		in += " (the agent stopped counting at its bound)"
	}
	if f.Newest == nil {
		return done(start, checks.Critical, fmt.Sprintf("no %s in %s on %s", what, c.q.Path, c.agent))
	}
	n := f.Newest
	age := f.Read.Sub(n.Modified) // both the server's clock
	res := done(start, checks.OK, "")
	res = res.WithValue(age.Hours())
	name := filepath.ToSlash(n.Name)
	newest := fmt.Sprintf("newest %s %s, %s, %s old", what, name, checks.Bytes(n.Size), shortAge(age))
	switch {
	case age > c.maxAge:
		res.Status, res.Detail = checks.Critical, fmt.Sprintf("%s: older than %s; %s", newest, shortAge(c.maxAge), in)
	case n.Size < c.minSize:
		res.Status, res.Detail = checks.Critical, fmt.Sprintf("%s: smaller than %s; %s", newest, checks.Bytes(c.minSize), in)
	case f.TotalBytes < c.minTotal:
		res.Status, res.Detail = checks.Critical, fmt.Sprintf("%s; %s: less than %s in all", newest, in, checks.Bytes(c.minTotal))
	default:
		res.Detail = fmt.Sprintf("%s; %s", newest, in)
	}
	return res
}

// shortAge prints an age as a technician reads it: 3h12m, 2d4h, 45s.
func shortAge(d time.Duration) string {
	if d < 0 {
		return "in the future (the server's clock is ahead)"
	}
	switch {
	case d < time.Minute:
		return d.Round(time.Second).String()
	case d < 48*time.Hour:
		return strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
	}
	days := int(d / (24 * time.Hour))
	return fmt.Sprintf("%dd%dh", days, int((d-time.Duration(days)*24*time.Hour)/time.Hour))
}
