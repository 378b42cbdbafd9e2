// Package backup is the backup check kind: a dead-man's switch. Each backup
// job has a URL on the box, /ping/<uuid>, compatible with the healthchecks.io
// ping API (start, fail, exit status, log, body = the job's output), so
// borgmatic's healthchecks hook and restic, Veeam or PowerShell scripts
// with curl or Invoke-WebRequest report to the box unchanged. The check
// judges each job from what the store kept of its pings: late (no run
// within its schedule plus grace), failed, or running longer than its
// max_duration is critical; the next success resolves it. The UUID is the
// job's credential: the ping handler (Handler) bounds what it reads and how
// often each source may call it.
package backup

import (
	"context"
	"fmt"
	"strings"
	"time"

	"outpost/checks"
	"outpost/checks/clock"
)

// Kind is the check kind's name in the config.
const Kind = "backup"

// DefaultGrace is how long after its due time a run may come before the
// job is late, as healthchecks.io's default.
const DefaultGrace = time.Hour

func init() {
	checks.Register(checks.Kind{Name: Kind, Summary: "a backup job's dead-man's switch: the job pings /ping/<uuid> (healthchecks.io API); late, failed or running too long is critical", New: newCheck})
}

// Options are the backup kind's options.
type Options struct {
	// UUID is the job's ping URL (/ping/<uuid>): `outpost backups
	// new-id`, or any UUID the technician chooses.
	UUID string `yaml:"uuid"`
	// Period or Cron (with Timezone) say when the job runs.
	Period   time.Duration `yaml:"period"`
	Cron     string        `yaml:"cron"`
	Timezone string        `yaml:"timezone"`
	// Grace is how late a run may be (default 1h).
	Grace time.Duration `yaml:"grace"`
	// MaxDuration is how long a started run may take before the job is
	// critical (default: the grace, as healthchecks.io does).
	MaxDuration time.Duration `yaml:"max_duration"`
}

// Job is one configured backup job.
type Job struct {
	// Check is the id of the check that watches the job.
	Check       string
	UUID        string
	Schedule    Schedule
	Grace       time.Duration
	MaxDuration time.Duration
}

// JobOf reads the job a backup check's spec configures, applying the
// defaults; errors are *checks.FieldError naming the option.
func JobOf(s checks.Spec) (Job, error) {
	var o Options
	if s.Options != nil {
		if err := s.Options.Decode(&o); err != nil {
			return Job{}, err
		}
	}
	fail := func(field, format string, args ...any) (Job, error) {
		return Job{}, &checks.FieldError{Field: "options." + field, Msg: fmt.Sprintf(format, args...)}
	}
	j := Job{Check: s.ID, Grace: o.Grace, MaxDuration: o.MaxDuration}
	if o.UUID == "" {
		return fail("uuid", "is required (the job pings /ping/<uuid>; make one with `outpost backups new-id`)")
	}
	var err error
	if j.UUID, err = ParseID(o.UUID); err != nil {
		return fail("uuid", "%v", err)
	}
	switch {
	case o.Period != 0 && o.Cron != "":
		return fail("period", "set period or cron, not both")
	case o.Period != 0:
		if o.Timezone != "" {
			return fail("timezone", "is only read with cron (a period has no time of day)")
		}
		if j.Schedule, err = NewPeriod(o.Period); err != nil {
			return fail("period", "%v", err)
		}
	case o.Cron != "":
		if j.Schedule, err = NewCron(o.Cron, o.Timezone); err != nil {
			field := "cron"
			if strings.HasPrefix(err.Error(), "timezone") {
				field = "timezone"
			}
			return fail(field, "%v", err)
		}
	default:
		return fail("period", "the job's schedule is required: period (e.g. 24h) or cron (e.g. \"30 2 * * *\", with timezone)")
	}
	if j.Grace == 0 {
		j.Grace = DefaultGrace
	}
	if j.Grace < time.Minute || j.Grace > MaxPeriod {
		return fail("grace", "%s is out of range (1m to 366d)", ShortDuration(j.Grace))
	}
	if j.MaxDuration == 0 {
		j.MaxDuration = j.Grace
	}
	if j.MaxDuration < time.Minute || j.MaxDuration > MaxPeriod {
		return fail("max_duration", "%s is out of range (1m to 366d)", ShortDuration(j.MaxDuration))
	}
	return j, nil
}

// Check judges one job from its pings.
type Check struct {
	job   Job
	pings checks.BackupPings
	clock clock.Clock
}

var _ checks.Checker = (*Check)(nil)

func newCheck(s checks.Spec, d checks.Deps) (checks.Checker, error) {
	j, err := JobOf(s)
	if err != nil {
		return nil, err
	}
	// Each job its own URL: two checks on one UUID would share pings.
	if site, ok := s.Env.(checks.Site); ok {
		for _, o := range site.Specs() {
			if o.Kind != Kind || o.ID == s.ID {
				continue
			}
			if oj, err := JobOf(o); err == nil && oj.UUID == j.UUID {
				return nil, &checks.FieldError{Field: "options.uuid", Msg: fmt.Sprintf("is also the uuid of check %q: each backup job needs its own", o.ID)}
			}
		}
	}
	return &Check{job: j, pings: d.Backups, clock: d.Clock}, nil
}

// Check reads the job's state and judges it at the clock's now.
func (c *Check) Check(ctx context.Context) checks.Result {
	now := c.clock.Now()
	if c.pings == nil {
		return checks.Result{Time: now, Status: checks.Unknown, Detail: "backup pings are kept by the running daemon (outpost run), which judges this check"}
	}
	if !clock.Plausible(now) {
		// A box without RTC before NTP: a watch started "in 1970" would
		// make a new job late the moment the clock is set.
		return checks.Result{Time: now, Status: checks.Unknown, Detail: fmt.Sprintf("the box's clock reads %s, before any plausible date: backup jobs are judged once it is set", now.UTC().Format("2006-01-02 15:04 UTC"))}
	}
	st, err := c.pings.BackupJob(c.job.UUID, now)
	if err != nil {
		return checks.Result{Time: now, Status: checks.Unknown, Detail: "reading the job's pings: " + err.Error()}
	}
	return c.job.Judge(st, now)
}

// Judge is the job's status at now from its state: critical while the
// last run failed, a started run has gone past MaxDuration, or no run
// came within the schedule and grace (counted from the last finished run,
// or from when the box started watching a job that never ran); ok
// otherwise. The value is the age of the last success in hours.
func (j Job) Judge(st checks.BackupState, now time.Time) checks.Result {
	r := checks.Result{Time: now, Status: checks.OK}
	if s := st.LastSuccess; s != nil {
		r = r.WithValue(max(now.Sub(s.Time), 0).Hours())
	}
	at := func(t time.Time) string { return t.In(j.Schedule.Location()).Format("2006-01-02 15:04 MST") }
	fin := st.Finished()
	if start := st.Running(); start != nil {
		ran := max(now.Sub(start.Time), 0)
		switch {
		case ran > j.MaxDuration:
			r.Status, r.Detail = checks.Critical, fmt.Sprintf("running too long: started %s and not finished after %s (max_duration %s)", at(start.Time), ShortDuration(ran), ShortDuration(j.MaxDuration))
		case fin != nil && fin.Signal == checks.BackupFail:
			r.Status, r.Detail = checks.Critical, failed(fin, at)+fmt.Sprintf("; a new run started %s", at(start.Time))
		default:
			r.Detail = fmt.Sprintf("running since %s (%s)", at(start.Time), ShortDuration(ran))
		}
		return r
	}
	ref := st.Watched
	if fin != nil {
		ref = fin.Time
	}
	due := j.Schedule.Next(ref)
	late := !due.IsZero() && now.After(due.Add(j.Grace))
	switch {
	case fin != nil && fin.Signal == checks.BackupFail:
		r.Status, r.Detail = checks.Critical, failed(fin, at)
		if late {
			r.Detail += fmt.Sprintf("; no run since, the next was due by %s", at(due))
		}
	case late && fin == nil:
		r.Status, r.Detail = checks.Critical, fmt.Sprintf("late: no run since the box started watching the job at %s; one was due by %s (grace %s)", at(st.Watched), at(due), ShortDuration(j.Grace))
	case late:
		r.Status, r.Detail = checks.Critical, fmt.Sprintf("late: the last run finished %s; the next was due by %s (grace %s)", at(fin.Time), at(due), ShortDuration(j.Grace))
	case due.IsZero():
		r.Status, r.Detail = checks.Unknown, fmt.Sprintf("the schedule (%s) never fires again", j.Schedule)
	case fin == nil:
		r.Detail = fmt.Sprintf("waiting for the first run: due by %s (grace %s)", at(due), ShortDuration(j.Grace))
	default:
		r.Detail = fmt.Sprintf("last run ok %s%s; next due by %s", at(fin.Time), took(fin), at(due))
	}
	return r
}

// failed says how a run failed, with the last line of its output.
func failed(p *checks.BackupPing, at func(time.Time) string) string {
	how := "failed"
	if p.Exit != nil {
		how = fmt.Sprintf("failed with exit status %d", *p.Exit)
	}
	s := fmt.Sprintf("last run %s at %s%s", how, at(p.Time), took(p))
	if line := LastLine(p.Output); line != "" {
		s += ": " + line
	}
	return s
}

func took(p *checks.BackupPing) string {
	if p.Duration <= 0 {
		return ""
	}
	return " (took " + ShortDuration(p.Duration) + ")"
}

// LastLine is the last non-blank line of output, cut to 200 bytes: what
// a job said last is usually why it failed.
func LastLine(output string) string {
	lines := strings.Split(strings.TrimRight(output, " \t\n"), "\n")
	line := strings.TrimSpace(lines[len(lines)-1])
	if len(line) > 200 {
		line = strings.ToValidUTF8(line[:200], "") + "…"
	}
	return line
}
