package appliance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"outpost/appliance/config"
	"outpost/appliance/report"
	"outpost/checks/clock"
	"outpost/notify"
	"outpost/store"
)

// The monthly report by email (docs/reports.md): once a month is over
// (from report.email.day), its PDF goes to the configured recipients
// through a notify email channel, once: the month mailed is kept in the
// store, so a restart does not mail it again.

// reportMailBlob is where the store keeps the last month mailed.
const reportMailBlob = "report-mail/sent"

// reportMailPoll is how often the daemon looks whether a report is due
// (and retries one that failed).
const reportMailPoll = 10 * time.Minute

// ReportMailSent is the last month mailed by itself, and how it went.
type ReportMailSent struct {
	Month  string    `json:"month"`
	At     time.Time `json:"at"`
	Answer string    `json:"answer"`
}

// MailReport builds month's report from st for cfg and mails its PDF,
// with the text report as the body, through cfg's report.email channel.
// It returns what the mail server answered. Errors: no report.email, the
// report, or the delivery (notify.IsPermanent for a refused address).
func MailReport(ctx context.Context, st *store.Store, cfg *config.Config, month string, now time.Time, loc *time.Location) (string, error) {
	rc := report.Section.Of(cfg)
	if rc.Email == nil {
		return "", errors.New("report.email is not set in the site config: name a notify email channel to mail reports through (docs/reports.md)")
	}
	rep, err := MonthReport(st, cfg, month, now, loc)
	if err != nil {
		return "", err
	}
	var pdf, text bytes.Buffer
	if err := report.WritePDF(&pdf, rep); err != nil {
		return "", fmt.Errorf("rendering the PDF: %w", err)
	}
	if err := report.WriteText(&text, rep); err != nil {
		return "", err
	}
	chs, err := notify.ConfigOf(cfg).Build()
	if err != nil {
		return "", fmt.Errorf("building the notification channels: %w", err)
	}
	em, ok := chs[rc.Email.Channel].(*notify.Email)
	if !ok {
		return "", fmt.Errorf("report.email.channel: %q is not a notify channel of kind email", rc.Email.Channel)
	}
	subject := fmt.Sprintf("[%s] Monthly report %s: uptime %s", rep.Site, rep.Period, report.Percent(rep.SiteRow.Uptime))
	body := fmt.Sprintf("The monthly report of %s for %s is attached (PDF).\n\n%s", rep.Site, rep.Period, text.String())
	files := []notify.Attachment{{Name: fmt.Sprintf("outpost-report-%s.pdf", rep.Period), Type: "application/pdf", Data: pdf.Bytes()}}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	ans, err := em.SendFiles(ctx, rc.Email.To, subject, body, files, now)
	if err != nil {
		return "", fmt.Errorf("mailing the %s report through %s: %w", rep.Period, rc.Email.Channel, err)
	}
	return ans, nil
}

// reportMailDue is the month to mail at now (in its location): the month
// before now's, from day onwards, unless it was mailed already (last).
func reportMailDue(now time.Time, day int, last string) (string, bool) {
	if now.Day() < day {
		return "", false
	}
	m := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, now.Location()).AddDate(0, -1, 0).Format("2006-01")
	return m, m != last
}

// reportMailer mails the monthly report when it is due.
type reportMailer struct {
	st    *store.Store
	cfg   func() *config.Config
	clock clock.Clock
	loc   *time.Location
	log   *slog.Logger
	// told: the last month mailed was logged (once, at the first look).
	told bool
}

// lastSent is the month last mailed by itself ("" for none).
func (m *reportMailer) lastSent() (ReportMailSent, error) {
	var s ReportMailSent
	b, err := m.st.GetBlob(reportMailBlob)
	if err != nil || b == nil {
		return s, err
	}
	return s, json.Unmarshal(b, &s)
}

// tick mails the month before now when it is due and not mailed yet,
// and records it. A month that ended before the box first ran
// (firstActivity) is recorded without mailing: there is nothing to
// report. It returns the month mailed ("" for none).
func (m *reportMailer) tick(ctx context.Context) (string, error) {
	cfg := m.cfg()
	rc := report.Section.Of(cfg)
	if rc.Email == nil {
		return "", nil
	}
	last, err := m.lastSent()
	if err != nil {
		return "", fmt.Errorf("reading the last report mailed: %w", err)
	}
	now := m.clock.Now().In(m.loc)
	month, due := reportMailDue(now, rc.Email.Day, last.Month)
	if !m.told && last.Month != "" {
		m.told = true
		m.log.Info("monthly report mail: last month mailed", "month", last.Month, "at", last.At.Format(time.RFC3339), "answer", last.Answer)
	}
	if !due {
		return "", nil
	}
	rec := ReportMailSent{Month: month, At: now}
	_, end, _ := report.MonthOf(month, m.loc)
	first, err := firstActivity(m.st, cfg, now)
	if err != nil {
		return "", err
	}
	mailed := ""
	if !first.Before(end) {
		rec.Answer = "not mailed: the box did not run yet that month"
	} else if rec.Answer, err = MailReport(ctx, m.st, cfg, month, now, m.loc); err != nil {
		return "", err
	} else {
		mailed = month
	}
	b, _ := json.Marshal(rec)
	if err := m.st.PutBlob(reportMailBlob, b); err != nil {
		return "", fmt.Errorf("recording the %s report as mailed: %w", month, err)
	}
	if mailed != "" {
		m.log.Info("monthly report mailed", "month", month, "answer", rec.Answer)
	}
	return mailed, nil
}

// runReportMail looks every reportMailPoll whether a report is due.
func (a *Appliance) runReportMail(ctx context.Context) {
	m := &reportMailer{st: a.store, cfg: a.Config, clock: a.o.Clock, loc: time.Local, log: a.log}
	t := a.o.Clock.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
		if _, err := m.tick(ctx); err != nil && ctx.Err() == nil {
			a.log.Warn("monthly report mail", "err", err)
		}
		t.Reset(reportMailPoll)
	}
}

// reportMailRoutes serves `outpost report --email` on the control
// socket: POST /report/email?month=2026-11 mails that month now.
func (a *Appliance) reportMailRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /report/email", func(w http.ResponseWriter, r *http.Request) {
		month := r.URL.Query().Get("month")
		if month == "" {
			month = a.o.Clock.Now().In(time.Local).Format("2006-01")
		}
		ans, err := MailReport(r.Context(), a.store, a.Config(), month, a.o.Clock.Now(), time.Local)
		if err != nil {
			writeError(w, http.StatusBadGateway, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"month": month, "answer": ans})
	})
}
