package backup

import (
	"time"

	"outpost/checks"
)

// Figures are a job's results over a period, for phone-home summaries
// and the monthly report: its runs that finished in the period, how many
// failed, the longest, and its last success and failure ever kept.
type Figures struct {
	Check    string
	Schedule string
	// Status and Detail are the job's verdict at the period's end.
	Status                   checks.Status
	Detail                   string
	LastSuccess, LastFailure time.Time
	// Runs counts the runs that finished in the period (successes and
	// failures; /log pings are no run); Failed those that failed.
	Runs, Failed int
	Longest      time.Duration
	// LastOK is the newest success within the period (zero: none).
	LastOK time.Time
	// Since is when the kept pings start when that is after the
	// period's start: the box keeps a job's newest 200 pings, so a
	// frequent job's month is counted from there.
	Since time.Time
}

// FiguresOf are the job's figures over [from, to], from its state and
// its kept pings (oldest first; cut says older ones were dropped); the
// verdict is the one at to.
func FiguresOf(j Job, st checks.BackupState, pings []checks.BackupPing, cut bool, from, to time.Time) Figures {
	res := j.Judge(st, to)
	f := Figures{Check: j.Check, Schedule: j.Schedule.String(), Status: res.Status, Detail: res.Detail}
	if st.LastSuccess != nil {
		f.LastSuccess = st.LastSuccess.Time
	}
	if st.LastFailure != nil {
		f.LastFailure = st.LastFailure.Time
	}
	if cut && len(pings) > 0 && pings[0].Time.After(from) {
		f.Since = pings[0].Time
	}
	for _, r := range Runs(pings) {
		if (r.Result != RunOK && r.Result != RunFailed) || r.Finished.Before(from) || r.Finished.After(to) {
			continue
		}
		f.Runs++
		if r.Result == RunFailed {
			f.Failed++
		} else if r.Finished.After(f.LastOK) {
			f.LastOK = r.Finished
		}
		f.Longest = max(f.Longest, r.Duration)
	}
	return f
}

// SuccessPercent is the share of the period's runs that succeeded (100
// when none ran: a job that never ran is late, which its status says).
func (f Figures) SuccessPercent() float64 {
	if f.Runs == 0 {
		return 100
	}
	return 100 * float64(f.Runs-f.Failed) / float64(f.Runs)
}
