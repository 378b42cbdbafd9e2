package backup

import (
	"time"

	"outpost/checks"
)

// Run is one run of a job as its pings tell it, for `outpost backups` and
// the pages.
type Run struct {
	// Started is the start ping's time (zero: the job sent no start);
	// Finished the finish's (zero: still running, or never finished).
	Started  time.Time     `json:"started,omitzero"`
	Finished time.Time     `json:"finished,omitzero"`
	Duration time.Duration `json:"duration_ns,omitempty"`
	// Result is "ok", "failed", "running", "no finish" (another start
	// came first) or "log" (output sent with /log, no verdict).
	Result string `json:"result"`
	Exit   *int   `json:"exit,omitempty"`
	RunID  string `json:"rid,omitempty"`
	Source string `json:"source,omitempty"`
	// Output is what the finish (or log) ping carried: the tail of the
	// job's log.
	Output    string `json:"output,omitempty"`
	BodyBytes int64  `json:"body_bytes,omitempty"`
}

// The results of a Run.
const (
	RunOK       = "ok"
	RunFailed   = "failed"
	RunRunning  = "running"
	RunNoFinish = "no finish"
	RunLog      = "log"
)

// Runs pairs pings (oldest first) into runs, newest first: a finish
// closes the open start with its ?rid= (or one without), a finish without
// a rid the newest open start.
func Runs(pings []checks.BackupPing) []Run {
	var runs []Run
	open := map[string]int{} // rid -> index in runs
	for _, p := range pings {
		switch p.Signal {
		case checks.BackupStart:
			if i, ok := open[p.RunID]; ok {
				runs[i].Result = RunNoFinish
			}
			open[p.RunID] = len(runs)
			runs = append(runs, Run{Started: p.Time, Result: RunRunning, RunID: p.RunID, Source: p.Source})
		case checks.BackupSuccess, checks.BackupFail:
			result := RunOK
			if p.Signal == checks.BackupFail {
				result = RunFailed
			}
			i, ok := open[p.RunID]
			switch {
			case !ok && p.RunID != "":
				i, ok = open[""]
			case !ok:
				// Without a run id a finish ends the newest open run, as
				// the check judges it.
				for _, j := range open {
					if !ok || j > i {
						i, ok = j, true
					}
				}
			}
			if ok {
				delete(open, runs[i].RunID)
			} else {
				i = len(runs)
				runs = append(runs, Run{RunID: p.RunID, Source: p.Source})
			}
			r := &runs[i]
			r.Finished, r.Result, r.Exit, r.Output, r.BodyBytes = p.Time, result, p.Exit, p.Output, p.BodyBytes
			if r.RunID == "" {
				r.RunID = p.RunID
			}
			if !r.Started.IsZero() && !p.Time.Before(r.Started) {
				r.Duration = p.Time.Sub(r.Started)
			}
		case checks.BackupLog:
			runs = append(runs, Run{Finished: p.Time, Result: RunLog, RunID: p.RunID, Source: p.Source, Output: p.Output, BodyBytes: p.BodyBytes})
		}
	}
	for i, j := 0, len(runs)-1; i < j; i, j = i+1, j-1 {
		runs[i], runs[j] = runs[j], runs[i]
	}
	return runs
}

// Report is one job as `outpost backups` and the pages show it.
type Report struct {
	Check string `json:"check"`
	UUID  string `json:"uuid"`
	// URL is the job's ping URL on this box ("" while the web UI, which
	// serves pings, is off).
	URL         string        `json:"url"`
	Schedule    string        `json:"schedule"`
	Grace       time.Duration `json:"grace_ns"`
	MaxDuration time.Duration `json:"max_duration_ns"`
	// Status and Detail are the job's verdict now (what its check says).
	Status      checks.Status `json:"status"`
	Detail      string        `json:"detail"`
	Watched     time.Time     `json:"watched,omitzero"`
	LastPing    time.Time     `json:"last_ping,omitzero"`
	LastSuccess time.Time     `json:"last_success,omitzero"`
	LastFailure time.Time     `json:"last_failure,omitzero"`
	// Runs are the newest runs first.
	Runs []Run `json:"runs"`
}

// NewReport is the job's report at now from its state and newest pings
// (oldest first), with at most runs runs.
func NewReport(j Job, st checks.BackupState, pings []checks.BackupPing, url string, now time.Time, runs int) Report {
	res := j.Judge(st, now)
	r := Report{Check: j.Check, UUID: j.UUID, URL: url, Schedule: j.Schedule.String(), Grace: j.Grace, MaxDuration: j.MaxDuration,
		Status: res.Status, Detail: res.Detail, Watched: st.Watched, LastPing: st.LastPing, Runs: Runs(pings)}
	if st.LastSuccess != nil {
		r.LastSuccess = st.LastSuccess.Time
	}
	if st.LastFailure != nil {
		r.LastFailure = st.LastFailure.Time
	}
	if runs > 0 && len(r.Runs) > runs {
		r.Runs = r.Runs[:runs]
	}
	if r.Runs == nil {
		r.Runs = []Run{}
	}
	return r
}
