package config

import (
	"fmt"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Incidents tunes how results become incidents. (Self-healing's
// safeguards are the healing package's section.)
type Incidents struct {
	// Confirm is how many failures in a row open an incident (default 2).
	Confirm int `yaml:"confirm"`
	// Recover is how many ok results in a row resolve it (default 2).
	Recover int `yaml:"recover"`
	// FlapLow and FlapHigh are the state-change percentages over the last
	// 21 results that end and start flapping (defaults 20 and 30).
	FlapLow  float64 `yaml:"flap_low"`
	FlapHigh float64 `yaml:"flap_high"`

	node *yaml.Node // where the section is, for errors
}

// Maintenance is a window in which checks run and record but incidents
// neither notify nor heal. Scope by device, group or check; none of them
// means the whole site. Either start/end (one-off) or weekly.
type Maintenance struct {
	Name   string  `yaml:"name"`
	Device string  `yaml:"device"`
	Group  string  `yaml:"group"`
	Check  string  `yaml:"check"`
	Start  string  `yaml:"start"`
	End    string  `yaml:"end"`
	Weekly *Weekly `yaml:"weekly"`

	start, end time.Time
	node       *yaml.Node
}

// Weekly is a recurring window, e.g. Sundays 02:00 for 3h.
type Weekly struct {
	Days     []string      `yaml:"days"` // mon, tue, ...
	At       string        `yaml:"at"`   // "02:00"
	Duration time.Duration `yaml:"duration"`
	Timezone string        `yaml:"timezone"` // IANA name, default the box's

	days     map[time.Weekday]bool
	min      int
	location *time.Location
}

var weekdays = map[string]time.Weekday{"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday, "thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday}

// Covers reports whether the window applies to a check.
func (m *Maintenance) Covers(check, device, group string) bool {
	switch {
	case m.Check != "":
		return m.Check == check
	case m.Device != "":
		return m.Device == device
	case m.Group != "":
		return m.Group == group
	}
	return true
}

// Active reports whether t falls in the window.
func (m *Maintenance) Active(t time.Time) bool {
	if m.Weekly == nil {
		return !t.Before(m.start) && t.Before(m.end)
	}
	w := m.Weekly
	lt := t.In(w.location)
	// A window may start yesterday (or earlier) and still be running.
	for back := 0; back <= int(w.Duration/(24*time.Hour))+1; back++ {
		day := lt.AddDate(0, 0, -back)
		if !w.days[day.Weekday()] {
			continue
		}
		start := time.Date(day.Year(), day.Month(), day.Day(), w.min/60, w.min%60, 0, 0, w.location)
		if !lt.Before(start) && lt.Before(start.Add(w.Duration)) {
			return true
		}
	}
	return false
}

// locateIncidentSections remembers where the incidents, healing and
// maintenance sections are, so errors found after decoding name a line.
func (c *Config) locateIncidentSections(root *yaml.Node) {
	c.Incidents.node = findKey(root, "incidents")
	if seq := findKey(root, "maintenance"); seq != nil && seq.Kind == yaml.SequenceNode {
		for i, n := range seq.Content {
			if i < len(c.Maintenance) {
				c.Maintenance[i].node = n
			}
		}
	}
}

// lineOf is the line of the value at the key path under n, or of the
// nearest node found on the way (0 when n is nil: the section is absent).
// A numeric key indexes a sequence.
func lineOf(n *yaml.Node, keys ...string) int {
	if n == nil {
		return 0
	}
	line := n.Line
	for _, k := range keys {
		if n.Kind == yaml.SequenceNode {
			var i int
			if _, err := fmt.Sscan(k, &i); err != nil || i >= len(n.Content) {
				break
			}
			n = n.Content[i]
			line = n.Line
			continue
		}
		if n.Kind != yaml.MappingNode {
			break
		}
		if n = findKey(n, k); n == nil {
			break
		}
		line = n.Line
	}
	return line
}

func (c *Config) applyIncidentDefaults() {
	if c.Incidents.Confirm == 0 {
		c.Incidents.Confirm = 2
	}
	if c.Incidents.Recover == 0 {
		c.Incidents.Recover = 2
	}
	if c.Incidents.FlapLow == 0 {
		c.Incidents.FlapLow = 20
	}
	if c.Incidents.FlapHigh == 0 {
		c.Incidents.FlapHigh = 30
	}
	for i := range c.Checks {
		ch := &c.Checks[i]
		if ch.Confirm == 0 {
			ch.Confirm = c.Incidents.Confirm
		}
		if ch.Recover == 0 {
			ch.Recover = c.Incidents.Recover
		}
	}
}

func (c *Config) validateIncidents(d *decoder) {
	fail := func(line int, field, format string, args ...any) {
		d.errs = append(d.errs, &Error{File: c.File, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	if c.Incidents.FlapLow < 0 || c.Incidents.FlapLow >= c.Incidents.FlapHigh || c.Incidents.FlapHigh > 100 {
		fail(lineOf(c.Incidents.node, "flap_low"), "incidents.flap_low", "%g must be below flap_high (%g); both are percentages, 0 to 100", c.Incidents.FlapLow, c.Incidents.FlapHigh)
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"confirm", c.Incidents.Confirm}, {"recover", c.Incidents.Recover}} {
		if f.v < 1 || f.v > 100 {
			fail(lineOf(c.Incidents.node, f.name), "incidents."+f.name, "%d is out of range (1 to 100)", f.v)
		}
	}
	ids := map[string]bool{}
	for _, ch := range c.Checks {
		ids[ch.ID] = true
	}
	for i := range c.Checks {
		ch := &c.Checks[i]
		// A value inherited from incidents: was judged there already.
		if ch.Confirm != c.Incidents.Confirm && (ch.Confirm < 1 || ch.Confirm > 100) {
			fail(ch.line, ch.path+".confirm", "%d is out of range (1 to 100)", ch.Confirm)
		}
		if ch.Recover != c.Incidents.Recover && (ch.Recover < 1 || ch.Recover > 100) {
			fail(ch.line, ch.path+".recover", "%d is out of range (1 to 100)", ch.Recover)
		}
		if ch.DependsOn != "" && (!ids[ch.DependsOn] || ch.DependsOn == ch.ID) {
			fail(ch.line, ch.path+".depends_on", "%q is not another check of this config", ch.DependsOn)
		}
	}
	for i := range c.Maintenance {
		m := &c.Maintenance[i]
		path := fmt.Sprintf("maintenance[%d]", i)
		fail := func(line int, field, format string, args ...any) {
			if line == 0 {
				line = lineOf(m.node)
			}
			d.errs = append(d.errs, &Error{File: c.File, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)})
		}
		scopes := 0
		for _, s := range []string{m.Check, m.Device, m.Group} {
			if s != "" {
				scopes++
			}
		}
		if scopes > 1 {
			fail(0, path, "give one scope (check, device or group), or none for the whole site")
		}
		if m.Check != "" && !ids[m.Check] {
			fail(lineOf(m.node, "check"), path+".check", "%q is not a check of this config", m.Check)
		}
		if m.Weekly != nil && (m.Start != "" || m.End != "") {
			fail(lineOf(m.node, "weekly"), path, "is either one-off (start, end) or weekly, not both")
			continue
		}
		if m.Weekly == nil {
			var err error
			if m.start, err = time.Parse(time.RFC3339, m.Start); err != nil {
				fail(lineOf(m.node, "start"), path+".start", "%q is not a time like 2026-12-24T18:00:00+01:00", m.Start)
			}
			if m.end, err = time.Parse(time.RFC3339, m.End); err != nil {
				fail(lineOf(m.node, "end"), path+".end", "%q is not a time like 2026-12-24T22:00:00+01:00", m.End)
			} else if !m.end.After(m.start) {
				fail(lineOf(m.node, "end"), path+".end", "is not after start")
			}
			continue
		}
		w := m.Weekly
		w.days = map[time.Weekday]bool{}
		for _, dname := range w.Days {
			wd, ok := weekdays[strings.ToLower(dname)]
			if !ok {
				fail(lineOf(m.node, "weekly", "days"), path+".weekly.days", "%q is not a day (mon, tue, wed, thu, fri, sat, sun)", dname)
			}
			w.days[wd] = true
		}
		if len(w.days) == 0 {
			fail(lineOf(m.node, "weekly", "days"), path+".weekly.days", "lists no day")
		}
		if at, err := time.Parse("15:04", w.At); err != nil {
			fail(lineOf(m.node, "weekly", "at"), path+".weekly.at", "%q is not a time of day like 02:00", w.At)
		} else {
			w.min = at.Hour()*60 + at.Minute()
		}
		if w.Duration <= 0 || w.Duration > 7*24*time.Hour {
			fail(lineOf(m.node, "weekly", "duration"), path+".weekly.duration", "must be between 1s and 7d")
		}
		w.location = time.Local
		if w.Timezone != "" {
			loc, err := time.LoadLocation(w.Timezone)
			if err != nil {
				fail(lineOf(m.node, "weekly", "timezone"), path+".weekly.timezone", "%q is not a time zone (e.g. Europe/Berlin)", w.Timezone)
			} else {
				w.location = loc
			}
		}
	}
}
