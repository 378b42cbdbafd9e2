package backup_test

import (
	"strings"
	"testing"
	"time"

	"outpost/appliance/config"
	"outpost/checks"
	"outpost/checks/backup"
	"outpost/checks/clock"
)

const jobID = "3f2b8c1e-9a4d-4e6f-8b21-5c7d9e0a1b2c"

// jobOf reads a backup check's job through the real config parser, as a
// site file would.
func jobOf(t *testing.T, options string) backup.Job {
	t.Helper()
	cfg, err := config.Parse("t.yaml", []byte("site: t\nchecks:\n  - id: nightly\n    kind: backup\n    options: "+options+"\n"))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	j, err := backup.JobOf(cfg.Specs()[0])
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func TestOptionErrors(t *testing.T) {
	const head = "site: t\nchecks:\n  - id: nightly\n    kind: backup\n    options:\n"
	cases := []struct{ name, yaml, err string }{
		{"no uuid", head + "      period: 24h\n",
			"t.yaml:6: checks[0].options.uuid: is required (the job pings /ping/<uuid>; make one with `outpost backups new-id`)"},
		{"bad uuid", head + "      uuid: nightly-borg\n      period: 24h\n",
			`t.yaml:6: checks[0].options.uuid: "nightly-borg" is not a UUID (8-4-4-4-12 hex digits, e.g. 3f2b8c1e-9a4d-4e6f-8b21-5c7d9e0a1b2c; ` + "`outpost backups new-id` makes one)"},
		{"nil uuid", head + "      uuid: 00000000-0000-0000-0000-000000000000\n      period: 24h\n",
			"t.yaml:6: checks[0].options.uuid: the nil UUID is not a secret: use a random one (`outpost backups new-id`)"},
		{"no schedule", head + "      uuid: " + jobID + "\n",
			`t.yaml:6: checks[0].options.period: the job's schedule is required: period (e.g. 24h) or cron (e.g. "30 2 * * *", with timezone)`},
		{"both", head + "      uuid: " + jobID + "\n      period: 24h\n      cron: '0 3 * * *'\n",
			"t.yaml:6: checks[0].options.period: set period or cron, not both"},
		{"short period", head + "      uuid: " + jobID + "\n      period: 30s\n",
			"t.yaml:6: checks[0].options.period: 30s is out of range (1m to 366d)"},
		{"bad cron", head + "      uuid: " + jobID + "\n      cron: '61 2 * * *'\n",
			`t.yaml:6: checks[0].options.cron: "61 2 * * *" is not a cron expression (minute hour day-of-month month day-of-week, e.g. "30 2 * * *"): end of range (61) above maximum (59): 61`},
		{"cron never", head + "      uuid: " + jobID + "\n      cron: '0 0 30 2 *'\n",
			`t.yaml:6: checks[0].options.cron: "0 0 30 2 *" never fires`},
		{"cron every", head + "      uuid: " + jobID + "\n      cron: '@every 1h'\n",
			"t.yaml:6: checks[0].options.cron: for a fixed interval use period: (e.g. period: 24h)"},
		{"tz in cron", head + "      uuid: " + jobID + "\n      cron: 'CRON_TZ=UTC 0 3 * * *'\n",
			"t.yaml:6: checks[0].options.cron: put the time zone in timezone:, not in the expression"},
		{"bad tz", head + "      uuid: " + jobID + "\n      cron: '0 3 * * *'\n      timezone: Mars/Olympus\n",
			`t.yaml:6: checks[0].options.timezone: timezone "Mars/Olympus" is not an IANA time zone (e.g. Europe/Berlin, America/New_York, UTC)`},
		{"tz with period", head + "      uuid: " + jobID + "\n      period: 24h\n      timezone: UTC\n",
			"t.yaml:6: checks[0].options.timezone: is only read with cron (a period has no time of day)"},
		{"grace", head + "      uuid: " + jobID + "\n      period: 24h\n      grace: 10s\n",
			"t.yaml:6: checks[0].options.grace: 10s is out of range (1m to 366d)"},
		{"unknown option", head + "      uuid: " + jobID + "\n      period: 24h\n      gracetime: 1h\n",
			"t.yaml:8: checks[0].options.gracetime: unknown field (expected one of cron, grace, max_duration, period, timezone, uuid)"},
		{"uuid twice", "site: t\nchecks:\n  - {id: a, kind: backup, options: {uuid: " + jobID + ", period: 24h}}\n  - {id: b, kind: backup, options: {uuid: " + strings.ToUpper(jobID) + ", period: 1d}}\n",
			`t.yaml:3: checks[0].options.uuid: is also the uuid of check "b": each backup job needs its own`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := config.Parse("t.yaml", []byte(c.yaml))
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Fatalf("got %v\nwant %s", err, c.err)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	j := jobOf(t, "{uuid: "+strings.ToUpper(jobID)+", period: 1d}")
	if j.UUID != jobID || j.Grace != time.Hour || j.MaxDuration != time.Hour || j.Check != "nightly" || j.Schedule.String() != "every 1d" {
		t.Fatalf("job %+v (%s)", j, j.Schedule)
	}
	j = jobOf(t, "{uuid: "+jobID+", cron: '30 2 * * *', timezone: Asia/Tokyo, grace: 30m, max_duration: 4h}")
	if j.Grace != 30*time.Minute || j.MaxDuration != 4*time.Hour || j.Schedule.String() != "cron 30 2 * * * (Asia/Tokyo)" {
		t.Fatalf("job %+v (%s)", j, j.Schedule)
	}
}

func ping(sig checks.BackupSignal, at time.Time, exit *int, output string) checks.BackupPing {
	return checks.BackupPing{Time: at, Signal: sig, Exit: exit, Output: output}
}

func exitStatus(n int) *int { return &n }

// TestJudge walks a daily job through its life on fixed dates: waiting for
// its first run, late, a success, a run going on, one running too long, a
// failure (with the last line of its log), a success resolving it, and
// late again.
func TestJudge(t *testing.T) {
	j := jobOf(t, "{uuid: "+jobID+", period: 24h, grace: 1h, max_duration: 2h}")
	t0 := time.Date(2031, 2, 3, 10, 0, 0, 0, time.UTC)
	st := checks.BackupState{Job: jobID, Watched: t0}
	type step struct {
		name   string
		ping   *checks.BackupPing
		now    time.Duration // after t0
		status checks.Status
		detail string
	}
	p := func(sig checks.BackupSignal, at time.Duration, exit *int, out string) *checks.BackupPing {
		v := ping(sig, t0.Add(at), exit, out)
		return &v
	}
	steps := []step{
		{"waiting", nil, time.Hour, checks.OK, "waiting for the first run: due by"},
		{"still within grace", nil, 24*time.Hour + 59*time.Minute, checks.OK, "waiting for the first run"},
		{"never ran: late", nil, 25*time.Hour + time.Second, checks.Critical, "late: no run since the box started watching the job at"},
		{"started", p(checks.BackupStart, 26*time.Hour, nil, ""), 26*time.Hour + 10*time.Minute, checks.OK, "running since"},
		{"finished", p(checks.BackupSuccess, 26*time.Hour+3*time.Minute, nil, "done"), 27 * time.Hour, checks.OK, "last run ok"},
		{"next start", p(checks.BackupStart, 50*time.Hour, nil, ""), 51 * time.Hour, checks.OK, "running since"},
		{"running too long", nil, 52*time.Hour + time.Second, checks.Critical, "running too long: started"},
		{"failed", p(checks.BackupFail, 52*time.Hour+time.Minute, exitStatus(2), "Creating archive\nRepository /srv/borg does not exist.\n\n"), 52*time.Hour + 2*time.Minute, checks.Critical, "last run failed with exit status 2 at"},
		{"retry running after failure", p(checks.BackupStart, 53*time.Hour, nil, ""), 53*time.Hour + time.Minute, checks.Critical, "; a new run started"},
		{"success resolves", p(checks.BackupSuccess, 53*time.Hour+5*time.Minute, exitStatus(0), ""), 53*time.Hour + 6*time.Minute, checks.OK, "last run ok"},
		{"log says nothing", p(checks.BackupLog, 60*time.Hour, nil, "verify 50%"), 61 * time.Hour, checks.OK, "last run ok"},
		{"late after a success", nil, 78*time.Hour + 6*time.Minute, checks.Critical, "late: the last run finished"},
	}
	for _, s := range steps {
		if s.ping != nil {
			st.Add(*s.ping)
		}
		r := j.Judge(st, t0.Add(s.now))
		if r.Status != s.status || !strings.Contains(r.Detail, s.detail) || strings.Contains(r.Detail, "\n") {
			t.Fatalf("%s: got %s %q, want %s with %q", s.name, r.Status, r.Detail, s.status, s.detail)
		}
		if s.name == "failed" && !strings.HasSuffix(r.Detail, ": Repository /srv/borg does not exist.") {
			t.Fatalf("failure detail lacks the log's last line: %q", r.Detail)
		}
		if s.name == "finished" && (!r.HasValue || r.Value < 0.9 || r.Value > 1.1 || !strings.Contains(r.Detail, "(took 3m)")) {
			t.Fatalf("finished: value %v %v, detail %q", r.Value, r.HasValue, r.Detail)
		}
	}
}

// TestJudgeCron: a cron job in a time zone is due at its next time after
// the last run, read in that zone.
func TestJudgeCron(t *testing.T) {
	j := jobOf(t, "{uuid: "+jobID+", cron: '30 2 * * *', timezone: Asia/Tokyo, grace: 1h}")
	watched := time.Date(2031, 6, 1, 0, 0, 0, 0, time.UTC) // 09:00 in Tokyo
	st := checks.BackupState{Job: jobID, Watched: watched}
	due := time.Date(2031, 6, 1, 17, 30, 0, 0, time.UTC) // 02:30 on the 2nd in Tokyo
	r := j.Judge(st, due.Add(59*time.Minute))
	if r.Status != checks.OK || !strings.Contains(r.Detail, "due by 2031-06-02 02:30 JST") {
		t.Fatalf("before grace: %s %q", r.Status, r.Detail)
	}
	if r := j.Judge(st, due.Add(61*time.Minute)); r.Status != checks.Critical || !strings.Contains(r.Detail, "one was due by 2031-06-02 02:30 JST (grace 1h)") {
		t.Fatalf("after grace: %s %q", r.Status, r.Detail)
	}
	st.Add(ping(checks.BackupSuccess, due.Add(20*time.Minute), nil, ""))
	if r := j.Judge(st, due.Add(2*time.Hour)); r.Status != checks.OK || !strings.Contains(r.Detail, "next due by 2031-06-03 02:30 JST") {
		t.Fatalf("after a run: %s %q", r.Status, r.Detail)
	}
	if r := j.Judge(st, due.Add(25*time.Hour+time.Minute)); r.Status != checks.Critical {
		t.Fatalf("a day later: %s %q", r.Status, r.Detail)
	}
}

// TestRuns pairs starts and finishes into runs, with durations, overlapping
// runs by ?rid=, and the log and unfinished runs in between.
func TestRuns(t *testing.T) {
	t0 := time.Date(2031, 2, 3, 2, 0, 0, 0, time.UTC)
	ridA, ridB := "aaaaaaaa-0000-4000-8000-000000000001", "bbbbbbbb-0000-4000-8000-000000000002"
	var st checks.BackupState
	var pings []checks.BackupPing
	add := func(p checks.BackupPing) { pings = append(pings, st.Add(p)) }
	add(ping(checks.BackupStart, t0, nil, ""))
	add(ping(checks.BackupStart, t0.Add(time.Hour), nil, "")) // the first never finished
	add(ping(checks.BackupLog, t0.Add(time.Hour+time.Minute), nil, "50%"))
	add(ping(checks.BackupFail, t0.Add(time.Hour+2*time.Minute), exitStatus(3), "boom"))
	a, b := ping(checks.BackupStart, t0.Add(2*time.Hour), nil, ""), ping(checks.BackupStart, t0.Add(2*time.Hour+time.Minute), nil, "")
	a.RunID, b.RunID = ridA, ridB
	add(a)
	add(b)
	fa := ping(checks.BackupSuccess, t0.Add(2*time.Hour+10*time.Minute), nil, "a done")
	fa.RunID = ridA
	add(fa)
	add(ping(checks.BackupSuccess, t0.Add(3*time.Hour), nil, "")) // ends the newest run, b
	add(ping(checks.BackupSuccess, t0.Add(4*time.Hour), nil, "")) // no start
	runs := backup.Runs(pings)
	want := []struct {
		result string
		dur    time.Duration
	}{
		{backup.RunOK, 0}, {backup.RunOK, 59 * time.Minute}, {backup.RunOK, 10 * time.Minute}, {backup.RunLog, 0}, {backup.RunFailed, 2 * time.Minute}, {backup.RunNoFinish, 0},
	}
	if pings[7].Duration != 59*time.Minute || st.Running() != nil {
		t.Fatalf("state pairs the rid-less finish with b: %+v, open %+v", pings[7], st.Running())
	}
	if len(runs) != len(want) {
		t.Fatalf("runs: %+v", runs)
	}
	for i, w := range want {
		if runs[i].Result != w.result || runs[i].Duration != w.dur {
			t.Errorf("run %d: %s %s, want %s %s (%+v)", i, runs[i].Result, runs[i].Duration, w.result, w.dur, runs[i])
		}
	}
	if runs[4].Exit == nil || *runs[4].Exit != 3 || runs[4].Output != "boom" || runs[2].RunID != ridA || runs[1].RunID != ridB {
		t.Fatalf("runs: %+v", runs)
	}
}

type fakePings struct{ asked int }

func (f *fakePings) BackupJob(job string, now time.Time) (checks.BackupState, error) {
	f.asked++
	return checks.BackupState{Job: job, Watched: now}, nil
}

// TestUnsetClockJudgesNothing: before NTP sets a box's clock (1970), the
// check neither judges nor starts watching a job, which would make it late
// the moment the clock is set.
func TestUnsetClockJudgesNothing(t *testing.T) {
	cfg, err := config.Parse("t.yaml", []byte("site: t\nchecks:\n  - {id: nightly, kind: backup, options: {uuid: "+jobID+", period: 24h}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	fp := &fakePings{}
	fc := clock.NewFake(time.Unix(3600, 0).UTC())
	c, err := checks.Build(cfg.Specs()[0], checks.Deps{Clock: fc, Backups: fp})
	if err != nil {
		t.Fatal(err)
	}
	if r := c.Check(t.Context()); r.Status != checks.Unknown || !strings.Contains(r.Detail, "the box's clock reads 1970-01-01 01:00 UTC") || fp.asked != 0 {
		t.Fatalf("at 1970: %s %q (store asked %d times)", r.Status, r.Detail, fp.asked)
	}
	fc.JumpTo(time.Date(2031, 2, 3, 2, 0, 0, 0, time.UTC))
	if r := c.Check(t.Context()); r.Status != checks.OK || fp.asked != 1 {
		t.Fatalf("once set: %s %q", r.Status, r.Detail)
	}
	if r := buildNoDeps(t, cfg).Check(t.Context()); r.Status != checks.Unknown || !strings.Contains(r.Detail, "kept by the running daemon") {
		t.Fatalf("without a daemon: %s %q", r.Status, r.Detail)
	}
}

func buildNoDeps(t *testing.T, cfg *config.Config) checks.Checker {
	t.Helper()
	c, err := checks.Build(cfg.Specs()[0], checks.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
