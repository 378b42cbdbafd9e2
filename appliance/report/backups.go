package report

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// BackupRow is one backup job's figures over the report's period
// (docs/backups.md): its runs that finished in it, how many failed, the
// share that succeeded, the longest run and the last success.
type BackupRow struct {
	Check          string        `json:"check"`
	Device         string        `json:"device,omitempty"`
	Schedule       string        `json:"schedule"`
	Runs           int           `json:"runs"`
	Failed         int           `json:"failed"`
	SuccessPercent float64       `json:"success_percent"`
	Longest        time.Duration `json:"longest_ns"`
	// LastOK is the newest success in the period (zero: none).
	LastOK time.Time `json:"last_ok,omitzero"`
	// Since is set when the kept pings start within the period: the
	// runs are counted from then.
	Since time.Time `json:"since,omitzero"`
}

// backupSummary is the backups in one line: jobs, runs, failures.
func backupSummary(rows []BackupRow) string {
	runs, failed, none := 0, 0, 0
	for _, b := range rows {
		runs += b.Runs
		failed += b.Failed
		if b.Runs-b.Failed == 0 {
			none++
		}
	}
	s := fmt.Sprintf("%d job(s), %d of %d runs succeeded", len(rows), runs-failed, runs)
	if none > 0 {
		s += fmt.Sprintf("; %d job(s) without a successful run", none)
	}
	return s
}

func lastOK(b BackupRow) string {
	if b.LastOK.IsZero() {
		return "none"
	}
	return b.LastOK.Format("2006-01-02 15:04")
}

// writeBackupsText prints the backup table of WriteText.
func writeBackupsText(w io.Writer, rows []BackupRow) {
	if len(rows) == 0 {
		return
	}
	fmt.Fprintf(w, "\nBackups: %s\n", backupSummary(rows))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB\tSCHEDULE\tRUNS\tFAILED\tSUCCEEDED\tLONGEST\tLAST SUCCESS")
	for _, b := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s %%\t%s\t%s%s\n", b.Check, b.Schedule, b.Runs, b.Failed, trimPct(b.SuccessPercent), fmtDur(b.Longest), lastOK(b), since(b))
	}
	tw.Flush()
}

func since(b BackupRow) string {
	if b.Since.IsZero() {
		return ""
	}
	return "  (runs counted from " + b.Since.Format("2006-01-02 15:04") + ")"
}

// backups is the PDF's backup section.
func (d doc) backups(rows []BackupRow) {
	if len(rows) == 0 {
		return
	}
	d.heading("Backups")
	d.line(backupSummary(rows) + ".")
	d.table([]string{"Job", "Schedule", "Runs", "Failed", "Succeeded", "Longest", "Last success"}, []float64{40, 42, 14, 14, 22, 20, 38}, func(row func(...string)) {
		for _, b := range rows {
			row(b.Check, b.Schedule, fmt.Sprint(b.Runs), fmt.Sprint(b.Failed), trimPct(b.SuccessPercent)+" %", fmtDur(b.Longest), lastOK(b)+since(b))
		}
	})
}
