package appliance

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"outpost/appliance/config"
	phwire "outpost/appliance/phonehome/wire"
	"outpost/checks"
	"outpost/checks/backup"
	"outpost/store"
)

// Backup jobs ping the box (checks/backup): the ping endpoint sits on the
// web UI's listener beside the login-free /ack/ and agent pairing, since
// the job's UUID is its credential; the store keeps the pings; each ping
// has the job's check judged at once.

// backupPingHandler serves /ping/<uuid>... for the config in force.
func (a *Appliance) backupPingHandler() http.Handler {
	return backup.NewHandler(backup.HandlerOptions{
		Store: a.store, Jobs: a.backupJob, Pinged: a.backupPinged, Clock: a.o.Clock, Log: a.log,
	})
}

// backupJobs are the backup jobs of the config in force, in file order.
func (a *Appliance) backupJobs() []backup.Job {
	var jobs []backup.Job
	for _, sp := range a.Config().Specs() {
		if sp.Kind != backup.Kind {
			continue
		}
		if j, err := backup.JobOf(sp); err == nil { // validated when applied
			jobs = append(jobs, j)
		}
	}
	return jobs
}

// backupJob is the configured job with this UUID.
func (a *Appliance) backupJob(uuid string) (backup.Job, bool) {
	for _, j := range a.backupJobs() {
		if j.UUID == uuid {
			return j, true
		}
	}
	return backup.Job{}, false
}

// backupPinged judges the job's check now, so that a failure opens (and a
// success resolves) its incident without waiting for the check's next run.
func (a *Appliance) backupPinged(j backup.Job, _ checks.BackupPing) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := a.sched.RunNow(ctx, j.Check); err != nil {
			a.log.Debug("backup check not run after its ping", "check", j.Check, "err", err)
		}
	}()
}

// backupURL is the ping URL of a job on this box: the web UI's scheme and
// port, its address when it listens on one, else the box's host name.
func (a *Appliance) backupURL(uuid string) string {
	base := a.UIURL()
	if base == "" {
		return ""
	}
	scheme, hostport, _ := strings.Cut(base, "://")
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return base + backup.PathPrefix + uuid
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		if name, err := os.Hostname(); err == nil && name != "" {
			host = name
		}
	}
	return scheme + "://" + net.JoinHostPort(host, port) + backup.PathPrefix + uuid
}

// BackupReports are the configured backup jobs with their verdict now and
// their newest runs (at most runs each).
func (a *Appliance) BackupReports(runs int) ([]backup.Report, error) {
	now := a.o.Clock.Now()
	out := []backup.Report{}
	for _, j := range a.backupJobs() {
		st, err := a.store.BackupJob(j.UUID, now)
		if err != nil {
			return nil, err
		}
		pings, err := a.store.BackupPings(j.UUID, 0)
		if err != nil {
			return nil, err
		}
		out = append(out, backup.NewReport(j, st, pings, a.backupURL(j.UUID), now, runs))
	}
	return out, nil
}

// apiBackups is GET /backups?runs=N on the control socket, for `outpost
// backups`.
func (a *Appliance) apiBackups(w http.ResponseWriter, r *http.Request) {
	runs := 10
	if s := r.URL.Query().Get("runs"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, errors.New("runs must be a number of runs (0: all kept)"))
			return
		}
		runs = n
	}
	reports, err := a.BackupReports(runs)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, http.StatusOK, reports)
}

// BackupFigures are the configured jobs' figures over [from, to].
func (a *Appliance) BackupFigures(from, to time.Time) ([]backup.Figures, error) {
	return backupFigures(a.store, a.Config(), from, to, a.o.Clock.Now())
}

// backupFigures are cfg's backup jobs' figures over [from, to] from the
// store; now is the box's clock (a job it never judged is watched from
// now).
func backupFigures(st *store.Store, cfg *config.Config, from, to, now time.Time) ([]backup.Figures, error) {
	var out []backup.Figures
	for _, sp := range cfg.Specs() {
		if sp.Kind != backup.Kind {
			continue
		}
		j, err := backup.JobOf(sp)
		if err != nil { // validated when applied
			continue
		}
		state, err := st.BackupJob(j.UUID, now)
		if err != nil {
			return nil, err
		}
		pings, err := st.BackupPings(j.UUID, 0)
		if err != nil {
			return nil, err
		}
		out = append(out, backup.FiguresOf(j, state, pings, len(pings) >= store.BackupPingsPerJob, from, to))
	}
	return out, nil
}

// backupSummary is the backup jobs as a phone-home summary tells them.
func (a *Appliance) backupSummary(from, to time.Time) ([]phwire.Backup, error) {
	figs, err := a.BackupFigures(from, to)
	if err != nil {
		return nil, err
	}
	device := map[string]string{}
	for _, sp := range a.Config().Specs() {
		device[sp.ID] = sp.Labels.Device
	}
	var out []phwire.Backup
	for _, f := range figs {
		b := phwire.Backup{Check: f.Check, Device: device[f.Check], Schedule: f.Schedule, Status: f.Status.String(), Detail: f.Detail,
			Runs: f.Runs, Failed: f.Failed, SuccessPercent: f.SuccessPercent()}
		if !f.LastSuccess.IsZero() {
			t := f.LastSuccess.UTC()
			b.LastSuccess = &t
		}
		if !f.LastFailure.IsZero() {
			t := f.LastFailure.UTC()
			b.LastFailure = &t
		}
		out = append(out, b)
	}
	return out, nil
}
