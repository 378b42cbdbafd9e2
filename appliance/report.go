package appliance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"outpost/appliance/config"
	"outpost/appliance/report"
	"outpost/checks"
	"outpost/checks/backup"
	"outpost/checks/forecast"
	"outpost/checks/incident"
	"outpost/firmware/identity"
	"outpost/notify"
	"outpost/store"
	"outpost/ui"
)

// The monthly report and forecasts (docs/reports.md): the store adapted
// to what forecast checks and the report read, and the report's route on
// the control socket.

// wireReport hands the store to every check as its series reader (the
// forecast kind) and adds GET /report to the control socket. New calls
// it before the first config is applied.
func (a *Appliance) wireReport() {
	a.deps.Series = seriesReader{a.store}
	a.routes = append(a.routes, a.reportRoutes, a.forecastRoutes, a.reportMailRoutes)
}

func (a *Appliance) reportRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /report", func(w http.ResponseWriter, r *http.Request) {
		rep, err := MonthReport(a.store, a.Config(), r.URL.Query().Get("month"), a.o.Clock.Now(), time.Local)
		if err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		writeJSON(w, http.StatusOK, rep)
	})
}

// seriesReader is the store as a checks.SeriesReader.
type seriesReader struct{ st *store.Store }

func (s seriesReader) ValueBuckets(check string, step time.Duration, from, to time.Time) ([]forecast.Bucket, error) {
	res := store.Res1h
	if step < time.Hour {
		res = store.Res5m
	}
	rs, err := s.st.Rollups(check, res, from, to)
	out := make([]forecast.Bucket, 0, len(rs))
	for _, r := range rs {
		if r.HasValue {
			out = append(out, forecast.Bucket{Start: r.Start, Mean: r.ValueMean, Min: r.ValueMin, Max: r.ValueMax, Count: int(r.Count)})
		}
	}
	return out, err
}

// reportSource is the store as a report.Source.
type reportSource struct {
	seriesReader
}

func (s reportSource) Changes(check string, from, to time.Time) ([]report.Change, error) {
	// The state at from is the last change before it: status changes
	// are few, so reading the check's history up to to is cheap.
	chs, err := s.st.Changes(check, time.UnixMilli(0), to) // keys are unsigned: the epoch is the start
	if err != nil {
		return nil, err
	}
	first := 0
	for i, c := range chs {
		if !c.Time.After(from) {
			first = i
		}
	}
	out := make([]report.Change, 0, len(chs)-first)
	for _, c := range chs[first:] {
		out = append(out, report.Change{Time: c.Time, To: c.To})
	}
	return out, nil
}

func (s reportSource) Incidents(from, to time.Time) ([]incident.Incident, error) {
	var out []incident.Incident
	var bad error
	err := s.st.ListIncidents(false, func(doc []byte) bool {
		var in incident.Incident
		if err := json.Unmarshal(doc, &in); err != nil {
			bad = fmt.Errorf("incident document: %w", err)
			return true
		}
		if !in.Opened.Before(from) && in.Opened.Before(to) {
			out = append(out, in)
		}
		return true
	})
	return out, errors.Join(err, bad)
}

// MonthReport builds the report of month ("2026-11", in loc; empty: the
// current month) from st for cfg.
func MonthReport(st *store.Store, cfg *config.Config, month string, now time.Time, loc *time.Location) (*report.Report, error) {
	if month == "" {
		month = now.In(loc).Format("2006-01")
	}
	from, to, err := report.MonthOf(month, loc)
	if err != nil {
		return nil, err
	}
	ws, err := maintenanceWindows(cfg.Maintenance)
	if err != nil {
		return nil, err
	}
	o := report.Options{
		Site: cfg.Site, From: from, To: to, Now: now, Label: month,
		Checks: cfg.Specs(), Maint: ws, Config: *report.Section.Of(cfg),
	}
	if o.Backups, err = monthBackups(st, cfg, from, to, now); err != nil {
		return nil, err
	}
	if o.Inventory, o.InventoryMore, err = monthInventory(st, from, to); err != nil {
		return nil, err
	}
	if o.Notifications, err = monthNotifications(st, from, to); err != nil {
		return nil, err
	}
	return report.Build(reportSource{seriesReader{st}}, o)
}

// monthBackups are the configured backup jobs' runs that started or
// finished in [from, to), and each job's verdict at now.
func monthBackups(st *store.Store, cfg *config.Config, from, to, now time.Time) ([]report.BackupRow, error) {
	var out []report.BackupRow
	for _, sp := range cfg.Specs() {
		if sp.Kind != backup.Kind {
			continue
		}
		j, err := backup.JobOf(sp)
		if err != nil {
			continue // validated when the config was applied
		}
		state, err := st.BackupJob(j.UUID, now)
		if err != nil {
			return nil, fmt.Errorf("backup job %s: %w", j.Check, err)
		}
		pings, err := st.BackupPings(j.UUID, 0)
		if err != nil {
			return nil, fmt.Errorf("backup job %s: %w", j.Check, err)
		}
		row := report.BackupRow{Check: j.Check, Schedule: j.Schedule.String(), Status: j.Judge(state, now).Status.String()}
		for _, run := range backup.Runs(pings) {
			at := run.Finished
			if at.IsZero() {
				at = run.Started
			}
			if at.Before(from) || !at.Before(to) || run.Result == "log" || run.Result == "running" {
				continue
			}
			row.Runs++
			row.Longest = max(row.Longest, run.Duration)
			if run.Result == "ok" {
				row.OK++
				if at.After(row.LastSuccess) {
					row.LastSuccess = at
				}
			} else {
				row.Failed++
			}
		}
		out = append(out, row)
	}
	return out, nil
}

// monthNotifications counts the notify log's delivered and given-up
// attempts in [from, to) per channel (the log keeps 90 days).
func monthNotifications(st *store.Store, from, to time.Time) ([]report.NotifyRow, error) {
	at := map[string]int{}
	var out []report.NotifyRow
	err := st.NotifyLogList(func(doc []byte) bool {
		var e notify.LogEntry
		if json.Unmarshal(doc, &e) != nil || !e.Time.Before(to) {
			return true
		}
		if e.Time.Before(from) {
			return false // newest first: the rest is older
		}
		if !e.OK && !e.Final {
			return true // a retry follows
		}
		i, ok := at[e.Channel]
		if !ok {
			out = append(out, report.NotifyRow{Channel: e.Channel})
			i = len(out) - 1
			at[e.Channel] = i
		}
		if e.OK {
			out[i].Sent++
		} else {
			out[i].Failed++
		}
		return true
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Channel < out[j].Channel })
	return out, err
}

// maxReportInventory bounds the inventory changes a report lists.
const maxReportInventory = 200

// monthInventory are the discovered inventory's changes in [from, to).
func monthInventory(st *store.Store, from, to time.Time) ([]report.InventoryRow, bool, error) {
	chs, err := st.InventoryChangesSince(from, maxReportInventory+1)
	if err != nil {
		return nil, false, fmt.Errorf("inventory changes: %w", err)
	}
	var out []report.InventoryRow
	more := false
	for _, c := range chs {
		if !c.Time.Before(to) {
			break
		}
		if len(out) == maxReportInventory {
			more = true
			break
		}
		out = append(out, report.InventoryRow{Time: c.Time, Kind: strings.ReplaceAll(c.Kind, "_", " "), IP: c.IP, Detail: c.Detail})
	}
	return out, more, nil
}

// maintenanceWindows converts the config's windows (validated when it
// loaded) for the report.
func maintenanceWindows(ms []config.Maintenance) ([]report.Window, error) {
	var out []report.Window
	for i, m := range ms {
		w := report.Window{Name: m.Name, Check: m.Check, Device: m.Device, Group: m.Group}
		if w.Name == "" {
			w.Name = fmt.Sprintf("maintenance[%d]", i)
		}
		if m.Weekly == nil {
			var err1, err2 error
			w.Start, err1 = time.Parse(time.RFC3339, m.Start)
			w.End, err2 = time.Parse(time.RFC3339, m.End)
			if err := errors.Join(err1, err2); err != nil {
				return nil, fmt.Errorf("maintenance[%d]: %w", i, err)
			}
			out = append(out, w)
			continue
		}
		wk := &report.Weekly{Duration: m.Weekly.Duration, Location: time.Local}
		if m.Weekly.Timezone != "" {
			loc, err := time.LoadLocation(m.Weekly.Timezone)
			if err != nil {
				return nil, fmt.Errorf("maintenance[%d].weekly.timezone: %w", i, err)
			}
			wk.Location = loc
		}
		h, mm, ok := strings.Cut(m.Weekly.At, ":")
		hi, err1 := strconv.Atoi(h)
		mi, err2 := strconv.Atoi(mm)
		if !ok || err1 != nil || err2 != nil {
			return nil, fmt.Errorf("maintenance[%d].weekly.at: %q is not a time of day", i, m.Weekly.At)
		}
		wk.At = time.Duration(hi)*time.Hour + time.Duration(mi)*time.Minute
		for _, d := range m.Weekly.Days {
			for wd := time.Sunday; wd <= time.Saturday; wd++ {
				if strings.EqualFold(d, wd.String()[:3]) {
					wk.Days = append(wk.Days, wd)
				}
			}
		}
		w.Weekly = wk
		out = append(out, w)
	}
	return out, nil
}

// OfflineReport builds a month's report from the store in dataDir while
// no daemon runs (the daemon holds the file; `outpost report` asks it
// instead when it answers). The config is the one the box last ran
// (or configPath when given); storeKey is as for Options.StoreKey.
func OfflineReport(dataDir, configPath, storeKey, month string, now time.Time, loc *time.Location) (*report.Report, error) {
	st, cfg, err := offlineStore(dataDir, configPath, storeKey)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	return MonthReport(st, cfg, month, now, loc)
}

// OfflineMailReport mails a month's report (MailReport) while no daemon
// runs, from the store in dataDir, as OfflineReport reads it.
func OfflineMailReport(ctx context.Context, dataDir, configPath, storeKey, month string, now time.Time, loc *time.Location) (string, error) {
	st, cfg, err := offlineStore(dataDir, configPath, storeKey)
	if err != nil {
		return "", err
	}
	defer st.Close()
	return MailReport(ctx, st, cfg, month, now, loc)
}

// offlineStore opens the store in dataDir and the config the box last
// ran (or configPath). The caller closes the store.
func offlineStore(dataDir, configPath, storeKey string) (st *store.Store, cfg *config.Config, err error) {
	path := filepath.Join(dataDir, "outpost.db")
	if _, err := os.Stat(path); err != nil {
		return nil, nil, fmt.Errorf("no store at %s: %w", path, err)
	}
	st, err = store.Open(path, store.Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if err != nil {
			st.Close()
		}
	}()
	// The store key and identity unseal the stored config and secrets
	// (an SMTP password the report mail needs, too).
	key, kerr := store.LoadKeyFile(StoreKeyPath(dataDir, storeKey))
	if kerr == nil {
		kerr = st.SetBlobKey(key)
	}
	var id *identity.Identity
	if kerr == nil {
		if id, kerr = identity.Load(st); kerr != nil {
			kerr = fmt.Errorf("box identity: %w", kerr)
		} else {
			st.SetSealer(id)
		}
	}
	if configPath != "" {
		cfg, err = config.Load(configPath)
		return st, cfg, err
	}
	if kerr != nil {
		return nil, nil, kerr
	}
	cur, ok, err := st.CurrentConfig()
	switch {
	case err != nil:
		return nil, nil, fmt.Errorf("stored config: %w", err)
	case ok:
		cfg, err = config.Parse("stored config v"+strconv.Itoa(cur.Version), cur.Raw)
	default:
		cfg, err = config.Default()
	}
	return st, cfg, err
}

var _ checks.SeriesReader = seriesReader{}
var _ report.Source = reportSource{}

var _ ui.ReportsBackend = uiBackend{}

// maxReportMonths bounds the months the UI offers.
const maxReportMonths = 36

// ReportMonths are the months since the box first ran a config (its
// first recorded config version) or first recorded a status change,
// newest first, the current one included, in the box's time zone.
func (b uiBackend) ReportMonths() ([]string, error) {
	now := b.a.o.Clock.Now().In(time.Local)
	first, err := firstActivity(b.a.store, b.a.Config(), now)
	if err != nil {
		return nil, err
	}
	first = first.In(time.Local)
	firstMonth := time.Date(first.Year(), first.Month(), 1, 0, 0, 0, 0, time.Local)
	var out []string
	for m := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.Local); !m.Before(firstMonth) && len(out) < maxReportMonths; m = m.AddDate(0, -1, 0) {
		out = append(out, m.Format("2006-01"))
	}
	return out, nil
}

// firstActivity is when the box first ran: its first recorded config
// version, or the first status change of a check of cfg when the store
// is older than its config history (restored, or moved to a new box);
// now when neither is older.
func firstActivity(st *store.Store, cfg *config.Config, now time.Time) (time.Time, error) {
	hist, err := st.ConfigHistory()
	if err != nil {
		return now, err
	}
	first := now
	for _, v := range hist {
		if !v.Applied.IsZero() && v.Applied.Before(first) {
			first = v.Applied
		}
	}
	for _, sp := range cfg.Specs() {
		chs, err := st.Changes(sp.ID, time.UnixMilli(0), first)
		if err != nil {
			return now, err
		}
		if len(chs) > 0 && chs[0].Time.Before(first) {
			first = chs[0].Time
		}
	}
	return first, nil
}

// uiReport builds a month's report for the UI: months the UI does not
// offer are not found.
func (b uiBackend) uiReport(month string) (*report.Report, error) {
	ms, err := b.ReportMonths()
	if err != nil {
		return nil, err
	}
	if !slices.Contains(ms, month) {
		return nil, ui.Errorf(ui.ENOTFOUND, "no report for %s: the box has reports from %s to %s", month, ms[len(ms)-1], ms[0])
	}
	return MonthReport(b.a.store, b.a.Config(), month, b.a.o.Clock.Now(), time.Local)
}

// Report is a month's report laid out as the PDF is, for the page.
func (b uiBackend) Report(month string) (ui.ReportView, error) {
	r, err := b.uiReport(month)
	if err != nil {
		return ui.ReportView{}, err
	}
	v := ui.ReportView{Site: r.Site, Month: r.Period, PeriodLine: report.PeriodLine(r), Partial: r.Partial, Generated: r.Generated, Daily: r.Daily, Target: r.Target, From: r.From}
	for _, p := range report.Parts(r) {
		part := ui.ReportPart{Heading: p.Heading, Lines: p.Lines, KV: p.KV, Head: p.Head}
		for _, row := range p.Rows {
			cells := make([]ui.ReportCell, len(row))
			for i, c := range row {
				if t, bad := strings.CutPrefix(c, "!"); bad {
					cells[i] = ui.ReportCell{Text: t, Bad: true}
				} else {
					cells[i] = ui.ReportCell{Text: c}
				}
			}
			part.Rows = append(part.Rows, cells)
		}
		for _, in := range p.Incidents {
			part.Incidents = append(part.Incidents, ui.ReportIncident{Title: in.Title, Summary: in.Summary, More: in.More, Timeline: in.Timeline})
		}
		for _, b := range p.Bars {
			part.Bars = append(part.Bars, ui.ReportBar{Name: b.Name, Days: b.Days, Soon: b.Soon})
		}
		part.HorizonDays = p.HorizonDays
		v.Parts = append(v.Parts, part)
	}
	return v, nil
}

// ReportFile is a month's report as a PDF or JSON file.
func (b uiBackend) ReportFile(month, format string) ([]byte, error) {
	r, err := b.uiReport(month)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	switch format {
	case "pdf":
		err = report.WritePDF(&buf, r)
	case "json":
		enc := json.NewEncoder(&buf)
		enc.SetIndent("", "  ")
		err = enc.Encode(r)
	default:
		return nil, ui.Errorf(ui.ENOTFOUND, "no report format %s", format)
	}
	return buf.Bytes(), err
}
