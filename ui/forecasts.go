package ui

import "time"

// ForecastBackend is what a dashboard, checks or devices backend may
// also tell: the capacity forecasts (docs/reports.md). A backend without
// it shows none.
type ForecastBackend interface {
	// Forecasts returns every series with thresholds, the next to fill
	// first, and the horizon the site judges them against.
	Forecasts() ([]ForecastView, time.Duration)
}

// ForecastView is one series' forecast as the pages show it.
type ForecastView struct {
	Check, Target, Device, What string
	// Sentence says it all: "box-disk (/) on outpost: used % reaches
	// warning 80 in 5 days"; When only the time: "in 5 days", "already
	// past", "steady", "learning".
	Sentence, When string
	// Heading is the threshold ahead ("warning 80"; "" when none).
	Heading string
	// Alarming: past a threshold, crossing one within the horizon with
	// confidence, or growing fast; Ahead: some crossing is ahead.
	Alarming, Ahead bool
	Learning        bool
	// Trend is the line a graph draws (nil while learning).
	Trend *TrendLine
}

// maxDashForecasts is how many series the dashboard lists as next to fill.
const maxDashForecasts = 10

// forecastsOf asks b for forecasts when it tells them.
func forecastsOf(b any) ([]ForecastView, time.Duration) {
	if fb, ok := b.(ForecastBackend); ok {
		return fb.Forecasts()
	}
	return nil, 0
}

// nextToFill are the forecasts the dashboard lists: a threshold past or
// ahead, or growing fast, in the backend's order (the next first).
func nextToFill(fs []ForecastView) []ForecastView {
	var out []ForecastView
	for _, f := range fs {
		if (f.Ahead || f.Alarming) && len(out) < maxDashForecasts {
			out = append(out, f)
		}
	}
	return out
}

// forecastOf finds a check's forecast (nil: none).
func forecastOf(fs []ForecastView, check string) *ForecastView {
	for i := range fs {
		if fs[i].Check == check {
			return &fs[i]
		}
	}
	return nil
}

// fmtHorizonDays prints a horizon in days when it is whole days.
func fmtHorizonDays(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		if d == 24*time.Hour {
			return "1 day"
		}
		return fmtNum(float64(d/(24*time.Hour))) + " days"
	}
	return d.String()
}

// graphCaption says what a check page's graph draws.
func graphCaption(g Graph) string {
	s := g.Unit.What + " in " + g.Unit.Symbol + "; red ticks: failed runs"
	if g.Trend != "" {
		s += "; dashed: the trend of the daily peak, to " + g.ThresholdLabel.Text
	}
	return s
}
