package checks

import "time"

// Backup jobs report to the box rather than being polled: each job calls
// its dead-man's switch URL (/ping/<uuid>, the healthchecks.io ping API)
// when it starts, fails or finishes, and the backup check kind
// (checks/backup) judges the job from what the store kept of those pings.
// The types here are the contract between that kind, the store and the
// pages that show backup runs.

// BackupSignal is what a ping says about its job.
type BackupSignal string

// The signals of the healthchecks.io ping API.
const (
	// BackupStart: a run began (/ping/<uuid>/start).
	BackupStart BackupSignal = "start"
	// BackupSuccess: a run finished well (/ping/<uuid>, or exit status 0).
	BackupSuccess BackupSignal = "success"
	// BackupFail: a run failed (/ping/<uuid>/fail, or exit status 1-255).
	BackupFail BackupSignal = "fail"
	// BackupLog: output without a verdict (/ping/<uuid>/log).
	BackupLog BackupSignal = "log"
)

// BackupOutputMax bounds the output kept of one ping: the tail of the
// request body (a job's log ends with its error), as healthchecks.io keeps
// 10,000 bytes of a body by default.
const BackupOutputMax = 10_000

// BackupPing is one call a backup job made to its URL, as the box keeps it.
type BackupPing struct {
	Time   time.Time    `json:"time"`
	Signal BackupSignal `json:"signal"`
	// Exit is the job's exit status when the URL gave one
	// (/ping/<uuid>/<0-255>).
	Exit *int `json:"exit,omitempty"`
	// RunID is the ping's ?rid=, which pairs a finish with its start
	// when runs of one job overlap.
	RunID string `json:"rid,omitempty"`
	// Source is the address the ping came from; Method and UserAgent
	// say what sent it (bounded).
	Source    string `json:"source,omitempty"`
	Method    string `json:"method,omitempty"`
	UserAgent string `json:"user_agent,omitempty"`
	// Output is the tail of the request body, at most BackupOutputMax
	// bytes of valid UTF-8 without control characters (tabs and line
	// breaks kept); BodyBytes is the body's size as received, larger
	// when the output was cut.
	Output    string `json:"output,omitempty"`
	BodyBytes int64  `json:"body_bytes,omitempty"`
	// Duration is, for a finish, the time since its run's start ping;
	// 0 when no start was seen.
	Duration time.Duration `json:"duration_ns,omitempty"`
}

// Finishes reports whether the ping ends a run (success or failure).
func (p BackupPing) Finishes() bool { return p.Signal == BackupSuccess || p.Signal == BackupFail }

// BackupState is what the box remembers of one job between pings: enough
// to judge it without reading its history.
type BackupState struct {
	// Job is the job's UUID (lower case).
	Job string `json:"job"`
	// Watched is when the box started watching the job: a job that never
	// pinged is late one period (plus grace) after it.
	Watched  time.Time `json:"watched"`
	LastPing time.Time `json:"last_ping,omitzero"`
	Pings    uint64    `json:"pings"`
	// The newest ping of each kind, in the order they came (a clock
	// step does not reorder them).
	LastStart   *BackupPing `json:"last_start,omitempty"`
	LastSuccess *BackupPing `json:"last_success,omitempty"`
	LastFailure *BackupPing `json:"last_failure,omitempty"`
	// LastFinish is the newest ping that ended a run (success or
	// failure); Open is the start of a run that has not ended yet.
	LastFinish *BackupPing `json:"last_finish,omitempty"`
	Open       *BackupPing `json:"open,omitempty"`
}

// Finished is the newest ping that ended a run (nil: none yet).
func (s BackupState) Finished() *BackupPing { return s.LastFinish }

// Running is the start ping of a run that has not finished yet (nil:
// none is running).
func (s BackupState) Running() *BackupPing { return s.Open }

// Add folds p into s and returns p as it is to be kept: a finish ends the
// open run (unless both carry different ?rid=s: runs of one job may
// overlap) and gets its Duration.
func (s *BackupState) Add(p BackupPing) BackupPing {
	ends := false
	if p.Finishes() && s.Open != nil && (p.RunID == "" || s.Open.RunID == "" || p.RunID == s.Open.RunID) {
		ends = true
		if !p.Time.Before(s.Open.Time) {
			p.Duration = p.Time.Sub(s.Open.Time)
		}
	}
	s.Pings++
	s.LastPing = p.Time
	kept := p
	switch p.Signal {
	case BackupStart:
		s.LastStart, s.Open = &kept, &kept
	case BackupSuccess:
		s.LastSuccess, s.LastFinish = &kept, &kept
	case BackupFail:
		s.LastFailure, s.LastFinish = &kept, &kept
	}
	if ends {
		s.Open = nil
	}
	return p
}

// BackupPings is what the box kept of its backup jobs' pings (the store).
type BackupPings interface {
	// BackupJob returns what is known of the job with this UUID. A job
	// never seen before is recorded as watched from now. Errors are the
	// store's (unreadable, disk full).
	BackupJob(job string, now time.Time) (BackupState, error)
}
