package backup_test

import (
	"testing"
	"time"

	"outpost/checks"
	"outpost/checks/backup"
)

// A job's figures count the runs that finished in the period (not /log
// pings, not a run still going), the failures among them, the longest,
// and the newest success; Since says when the kept pings start only when
// older ones were dropped.
func TestFiguresOverAPeriod(t *testing.T) {
	j := jobOf(t, "{uuid: "+jobID+", period: 24h}")
	day := time.Date(2031, 2, 1, 2, 0, 0, 0, time.UTC)
	exit := 2
	var pings []checks.BackupPing
	add := func(at time.Time, sig checks.BackupSignal) {
		p := checks.BackupPing{Time: at, Signal: sig}
		if sig == checks.BackupFail {
			p.Exit = &exit
		}
		pings = append(pings, p)
	}
	for d := range 5 { // Jan 31 to Feb 4, 02:00, each 10 min; Feb 2 fails
		start := day.AddDate(0, 0, d-1)
		sig := checks.BackupSuccess
		if d == 2 {
			sig = checks.BackupFail
		}
		add(start, checks.BackupStart)
		add(start.Add(time.Duration(10+d)*time.Minute), sig)
	}
	add(day.AddDate(0, 0, 2).Add(time.Hour), checks.BackupLog)
	add(day.AddDate(0, 0, 4), checks.BackupStart)                          // Feb 5, still running
	from, to := day.Add(-2*time.Hour), day.AddDate(0, 0, 3).Add(time.Hour) // Feb 1 00:00 to Feb 4 03:00
	last := day.AddDate(0, 0, 3).Add(14 * time.Minute)
	st := checks.BackupState{LastSuccess: &checks.BackupPing{Time: last}}
	f := backup.FiguresOf(j, st, pings, false, from, to)
	if f.Runs != 4 || f.Failed != 1 || f.Longest != 14*time.Minute || !f.LastOK.Equal(last) || f.SuccessPercent() != 75 || !f.Since.IsZero() {
		t.Fatalf("figures: %+v (%.1f %%)", f, f.SuccessPercent())
	}
	// Cut, but the kept pings start before the period: it is whole.
	if f := backup.FiguresOf(j, st, pings, true, from, to); !f.Since.IsZero() {
		t.Fatalf("cut pings starting %s, before the period: since %s", pings[0].Time, f.Since)
	}
	if f := backup.FiguresOf(j, st, pings[4:], true, from, to); !f.Since.Equal(pings[4].Time) || f.Runs != 3 {
		t.Fatalf("cut pings starting in the period: %+v", f)
	}
	if f := backup.FiguresOf(j, checks.BackupState{}, nil, false, from, to); f.Runs != 0 || f.SuccessPercent() != 100 {
		t.Fatalf("no pings: %+v", f)
	}
}
