package appliance

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"outpost/appliance/config"
	"outpost/appliance/report"
	"outpost/checks"
	"outpost/checks/forecast"
	"outpost/checks/incident"
	"outpost/firmware/identity"
	"outpost/store"
)

// The monthly report and forecasts (docs/reports.md): the store adapted
// to what forecast checks and the report read, and the report's route on
// the control socket.

// wireReport hands the store to every check as its series reader (the
// forecast kind) and adds GET /report to the control socket. New calls
// it before the first config is applied.
func (a *Appliance) wireReport() {
	a.deps.Series = seriesReader{a.store}
	a.routes = append(a.routes, a.reportRoutes)
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
	return report.Build(reportSource{seriesReader{st}}, report.Options{
		Site: cfg.Site, From: from, To: to, Now: now, Label: month,
		Checks: cfg.Specs(), Maint: ws, Config: *report.Section.Of(cfg),
	})
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
	path := filepath.Join(dataDir, "outpost.db")
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("no store at %s: %w", path, err)
	}
	st, err := store.Open(path, store.Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	var cfg *config.Config
	if configPath != "" {
		if cfg, err = config.Load(configPath); err != nil {
			return nil, err
		}
	} else {
		key, err := store.LoadKeyFile(StoreKeyPath(dataDir, storeKey))
		if err == nil {
			err = st.SetBlobKey(key)
		}
		if err != nil {
			return nil, err
		}
		id, err := identity.Load(st)
		if err != nil {
			return nil, fmt.Errorf("box identity: %w", err)
		}
		st.SetSealer(id)
		cur, ok, err := st.CurrentConfig()
		switch {
		case err != nil:
			return nil, fmt.Errorf("stored config: %w", err)
		case ok:
			cfg, err = config.Parse("stored config v"+strconv.Itoa(cur.Version), cur.Raw)
		default:
			cfg, err = config.Default()
		}
		if err != nil {
			return nil, err
		}
	}
	return MonthReport(st, cfg, month, now, loc)
}

var _ checks.SeriesReader = seriesReader{}
var _ report.Source = reportSource{}
