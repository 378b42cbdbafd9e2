package backup

import (
	"errors"
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // time zones by name on a box without /usr/share/zoneinfo

	"github.com/robfig/cron/v3"
)

// Bounds of a period.
const (
	MinPeriod = time.Minute
	MaxPeriod = 366 * 24 * time.Hour
)

// cronParser reads the standard five fields (minute hour day-of-month
// month day-of-week) and the @daily-style descriptors, as crontab does.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Schedule is when a job is expected to run: every period after its last
// run, or at the times of a cron expression in a time zone.
type Schedule struct {
	period time.Duration
	expr   string
	cron   *cron.SpecSchedule
}

// NewPeriod is a schedule of one run every period.
func NewPeriod(period time.Duration) (Schedule, error) {
	if period < MinPeriod || period > MaxPeriod {
		return Schedule{}, fmt.Errorf("%s is out of range (1m to 366d)", ShortDuration(period))
	}
	return Schedule{period: period}, nil
}

// NewCron is the schedule of a cron expression (five fields, or @hourly,
// @daily, @weekly, @monthly, @yearly) read in the named time zone ("" is
// the box's own).
func NewCron(expr, zone string) (Schedule, error) {
	expr = strings.TrimSpace(expr)
	if strings.HasPrefix(expr, "TZ=") || strings.HasPrefix(expr, "CRON_TZ=") {
		return Schedule{}, errors.New("put the time zone in timezone:, not in the expression")
	}
	if strings.HasPrefix(expr, "@every") {
		return Schedule{}, errors.New("for a fixed interval use period: (e.g. period: 24h)")
	}
	loc := time.Local
	if zone != "" {
		var err error
		if loc, err = time.LoadLocation(zone); err != nil {
			return Schedule{}, fmt.Errorf("timezone %q is not an IANA time zone (e.g. Europe/Berlin, America/New_York, UTC)", zone)
		}
	}
	s, err := cronParser.Parse(expr)
	if err != nil {
		return Schedule{}, fmt.Errorf("%q is not a cron expression (minute hour day-of-month month day-of-week, e.g. \"30 2 * * *\"): %v", expr, err)
	}
	spec, ok := s.(*cron.SpecSchedule)
	if !ok {
		return Schedule{}, fmt.Errorf("%q is not a calendar schedule", expr)
	}
	spec.Location = loc
	// A year of Feb 30ths: never. cron gives up after five years.
	if spec.Next(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)).IsZero() {
		return Schedule{}, fmt.Errorf("%q never fires", expr)
	}
	return Schedule{expr: expr, cron: spec}, nil
}

// Next is when a run is due after one at t: t plus the period, or the
// cron expression's next time after t. Zero when the expression never
// fires again.
func (s Schedule) Next(t time.Time) time.Time {
	if s.cron != nil {
		return s.cron.Next(t)
	}
	return t.Add(s.period)
}

// Location is the time zone the schedule is read in (the box's for a
// period).
func (s Schedule) Location() *time.Location {
	if s.cron != nil {
		return s.cron.Location
	}
	return time.Local
}

// String says the schedule as the config does: "every 24h" or
// "cron 30 2 * * * (Europe/Berlin)".
func (s Schedule) String() string {
	if s.cron != nil {
		return fmt.Sprintf("cron %s (%s)", s.expr, s.cron.Location)
	}
	if s.period%(24*time.Hour) == 0 {
		return fmt.Sprintf("every %dd", s.period/(24*time.Hour))
	}
	return "every " + ShortDuration(s.period)
}

// ShortDuration prints a duration without zero units: 1h, 1h30m, 45s,
// 412ms.
func ShortDuration(d time.Duration) string {
	if d > 0 && d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	s := d.Round(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
