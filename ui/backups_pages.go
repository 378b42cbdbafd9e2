package ui

import (
	"net/http"
	"strconv"
)

func init() { pages = append(pages, (*Server).backupPages) }

// BackupsBackend is what the Backups page reads.
type BackupsBackend interface {
	// Backups returns every configured backup job with its verdict now
	// and its newest runs (at most runs each); errors are internal.
	Backups(runs int) ([]BackupView, error)
}

// BackupView is one backup job on the Backups page.
type BackupView struct {
	Check, Status, Detail string
	// Schedule, Grace and MaxDuration are in words ("cron 30 2 * * *
	// (Europe/Berlin)", "2h").
	Schedule, Grace, MaxDuration string
	// URL is the job's ping URL ("" while the web UI serves none).
	URL                               string
	Watched, LastSuccess, LastFailure string
	Runs                              []BackupRunView
}

// BackupRunView is one run of a job: its times, how long it took, its
// result and the output its last ping carried.
type BackupRunView struct {
	Started, Finished, Duration string
	// Result is ok, failed, running, no finish or log.
	Result, Exit, Source string
	Output               string
	// OutputBytes is how much the job sent (Output keeps its end).
	OutputBytes int64
}

// backupRunsShown is how many runs of each job the page shows.
const backupRunsShown = 10

func (s *Server) backupPages() {
	b := s.o.Backups
	if b == nil {
		return
	}
	s.handle("GET", "/backups", RoleViewer, func(w http.ResponseWriter, r *http.Request, sess *Session) error {
		jobs, err := b.Backups(backupRunsShown)
		if err != nil {
			return err
		}
		return s.render(w, r, sess, "Backups", backupsView(jobs))
	})
}

// runBadge is the badge status of a run's result.
func runBadge(result string) string {
	switch result {
	case "ok":
		return "ok"
	case "failed", "no finish":
		return "critical"
	case "running":
		return "pending"
	}
	return "unknown"
}

// keptNote says that only the end of a long output is kept.
func keptNote(r BackupRunView) string {
	if int64(len(r.Output)) < r.OutputBytes {
		return ", the last " + strconv.Itoa(len(r.Output)) + " kept"
	}
	return ""
}
