package appliance

import (
	"fmt"
	"net/http"
	"sync"
	"time"

	"outpost/appliance/config"
	"outpost/appliance/report"
	"outpost/checks"
	"outpost/checks/forecast"
	"outpost/ui"
)

// Capacity forecasts as the dashboard, the device and check pages,
// `outpost status` and phone home show them (docs/reports.md): every
// series with thresholds in the config in force, forecast from the
// store's hourly rollups.

// forecastTTL is how long computed forecasts are reused: the hourly
// rollups they read change once an hour, and a site of 5,000 series
// takes seconds of CPU to forecast (BENCHMARKS.md).
const forecastTTL = 30 * time.Minute

// forecastWindow is the history a forecast reads, as the forecast
// check's default window.
const forecastWindow = 30 * forecast.Day

// forecastCache holds the last forecasts and the config and time they
// were computed for; mu serialises computing, so concurrent readers wait
// for one computation instead of each running their own.
type forecastCache struct {
	mu   sync.Mutex
	cfg  *config.Config
	at   time.Time
	list []checks.SeriesForecast
}

// Forecasts returns every thresholded series' forecast, the next to fill
// first (checks.SortForecasts), and the horizon the site judges them
// against (report.horizon). Series whose history cannot be read are left
// out (and logged).
func (a *Appliance) Forecasts() ([]checks.SeriesForecast, time.Duration) {
	cfg := a.Config()
	horizon := report.Section.Of(cfg).Horizon
	now := a.o.Clock.Now()
	c := &a.forecasts
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cfg == cfg && !c.at.IsZero() && now.Sub(c.at) < forecastTTL && !now.Before(c.at) {
		return c.list, horizon
	}
	src := seriesReader{a.store}
	list := []checks.SeriesForecast{}
	for _, sp := range cfg.Specs() {
		s, ok := checks.SeriesOf(sp)
		if !ok {
			continue
		}
		f, err := checks.ForecastSeries(src, s, now, forecastWindow, 3)
		if err != nil {
			a.log.Warn("forecast", "check", sp.ID, "err", err)
			continue
		}
		list = append(list, f)
	}
	checks.SortForecasts(list)
	c.cfg, c.at, c.list = cfg, now, list
	return list, horizon
}

// ForecastList is the control API's answer to GET /forecasts.
type ForecastList struct {
	Horizon   time.Duration           `json:"horizon_ns"`
	Forecasts []checks.SeriesForecast `json:"forecasts"`
}

func (a *Appliance) forecastRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /forecasts", func(w http.ResponseWriter, r *http.Request) {
		fs, h := a.Forecasts()
		writeJSON(w, http.StatusOK, ForecastList{Horizon: h, Forecasts: fs})
	})
}

var _ ui.ForecastBackend = uiBackend{}

// Forecasts are the daemon's forecasts as the UI shows them.
func (b uiBackend) Forecasts() ([]ui.ForecastView, time.Duration) {
	fs, horizon := b.a.Forecasts()
	out := make([]ui.ForecastView, 0, len(fs))
	for _, f := range fs {
		out = append(out, forecastView(f, horizon))
	}
	return out, horizon
}

// forecastView is one forecast as the UI's view model.
func forecastView(f checks.SeriesForecast, horizon time.Duration) ui.ForecastView {
	s := f.Series
	v := ui.ForecastView{Check: s.Check, Target: s.Target, Device: s.Device, What: s.What, Sentence: f.Sentence(horizon), Alarming: f.Alarming(horizon)}
	next, past := f.Next(), f.Past()
	switch {
	case f.Forecast == nil:
		v.Learning, v.When = true, "learning"
	case past != nil:
		v.When = "past " + past.Name
	case next != nil:
		v.When = next.Days()
	case f.Growth != nil && f.Growth.Alarm:
		v.When = "growing fast"
	default:
		v.When = "steady"
	}
	v.Ahead = next != nil
	if f.Forecast == nil {
		return v
	}
	tr := f.Forecast.Trend
	// The line a graph draws is the daily peak's (the trough's for a
	// falling series): the one whose crossing the forecast gives.
	tl := ui.TrendLine{From: tr.From, Now: tr.Now, Level: tr.Peak, PerDay: tr.PerDay}
	target := next
	if target == nil {
		target = past
	}
	if target == nil {
		for _, c := range []*forecast.Crossing{f.Forecast.Warning, f.Forecast.Critical} {
			if c != nil {
				target = c
				break
			}
		}
	}
	if target != nil {
		tl.Name, tl.Threshold = target.Name, target.Threshold
		v.Heading = fmt.Sprintf("%s %g", target.Name, target.Threshold)
		if target == next {
			tl.At = next.At
		}
	}
	v.Trend = &tl
	return v
}
