package snmp

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"outpost/checks"
)

// Interfaces watches interface status and traffic. An interface that is
// administratively down was shut on purpose and is never an alarm; one
// that is admin up but not operationally up is. Rates need two polls, so
// the checker keeps the previous sample of each interface.
type Interfaces struct {
	base
	o        ifOptions
	downStat checks.Status

	mu   sync.Mutex
	prev ifSample
	// seenUp remembers interfaces this check has seen up: one that goes
	// down later alarms even if its counters were reset.
	seenUp map[int]bool
}

var _ checks.Checker = (*Interfaces)(nil)

type ifOptions struct {
	// Interfaces selects by ifName, ifDescr, ifAlias or ifIndex; empty
	// means every interface.
	Interfaces []string `yaml:"interfaces"`
	// Down is the status of an admin-up interface that is not up:
	// critical (default), warning or ignore.
	Down string `yaml:"down"`
	// Alarm says which admin-up interfaces that are down alarm: "used"
	// (default: those that carried traffic or were seen up, and every
	// interface named in Interfaces, such as uplinks) or "all". An access
	// switch has dozens of ports enabled but never connected; alarming on
	// them makes the check red forever.
	Alarm string `yaml:"alarm"`
	// Utilisation is % of the interface speed (busier direction).
	Utilisation checks.Thresholds `yaml:"utilisation"`
	// Errors is errors + discards per second, in and out together.
	Errors checks.Thresholds `yaml:"errors"`
}

type ifCounters struct {
	in, out, errs uint64
	c64           bool
}

type ifSample struct {
	at      time.Time
	uptime  uint32
	haveUp  bool
	byIndex map[int]ifCounters
}

// IfRate is one interface's traffic between two polls.
type IfRate struct {
	InBps, OutBps, ErrorsPerSec, Utilisation float64
	HasUtilisation                           bool
}

func newInterfaces(s checks.Spec, d checks.Deps) (checks.Checker, error) {
	var o ifOptions
	if err := s.Options.Decode(&o); err != nil {
		return nil, err
	}
	st, err := statusOption("down", o.Down, "critical")
	if err != nil {
		return nil, err
	}
	switch o.Alarm {
	case "":
		o.Alarm = "used"
	case "used", "all":
	default:
		return nil, &checks.FieldError{Field: "options.alarm", Msg: fmt.Sprintf("%q is not one of used, all", o.Alarm)}
	}
	b, err := newBase(s, d)
	if err != nil {
		return nil, err
	}
	return &Interfaces{base: b, o: o, downStat: st, seenUp: map[int]bool{}}, nil
}

// CounterDelta is how much a counter grew from prev to cur. A 32-bit
// counter below its previous value wrapped once; a 64-bit one does not wrap
// in practice, so going down means it was reset and there is no delta.
func CounterDelta(prev, cur uint64, bits64 bool) (uint64, bool) {
	if cur >= prev {
		return cur - prev, true
	}
	if !bits64 && prev <= math.MaxUint32 && cur <= math.MaxUint32 {
		return cur + (1 << 32) - prev, true
	}
	return 0, false
}

// Rebooted says whether sysUpTime going from prev to cur over elapsed
// wall time means the agent restarted. sysUpTime itself wraps after 497
// days: a drop that lands where a wrap would put it is not a reboot.
func Rebooted(prev, cur uint32, elapsed time.Duration) bool {
	if cur >= prev {
		return false
	}
	el := uint64(elapsed / (10 * time.Millisecond))
	expect := (uint64(prev) + el) % (1 << 32)
	if uint64(prev)+el < 1<<32 {
		return true // cannot have wrapped in so little time
	}
	diff := math.Abs(float64(int64(cur) - int64(expect)))
	return diff > math.Max(float64(el)/10, 6000)
}

func (c *Interfaces) selected(it Interface) bool {
	if len(c.o.Interfaces) == 0 {
		return true
	}
	for _, s := range c.o.Interfaces {
		if s == it.Name || s == it.Descr || (it.Alias != "" && s == it.Alias) || s == strconv.Itoa(it.Index) {
			return true
		}
	}
	return false
}

// Check reads the interface table and sysUpTime.
func (c *Interfaces) Check(ctx context.Context) checks.Result {
	start := time.Now()
	src := c.src()
	ifs, err := ReadInterfaces(ctx, src)
	if err != nil {
		return down(start, err)
	}
	now := c.clock.Now()
	cur := ifSample{at: now, byIndex: map[int]ifCounters{}}
	if pdus, err := src.Get(ctx, oidSysUpTime); err == nil && len(pdus) == 1 {
		if t, ok := unsigned(pdus[0]); ok {
			cur.uptime, cur.haveUp = uint32(t), true
		}
	}
	r := checks.Result{Time: start, Status: checks.OK, Latency: checks.Since(start)}
	c.mu.Lock()
	prev := c.prev
	c.mu.Unlock()
	elapsed := now.Sub(prev.at).Seconds()
	reset := prev.haveUp && cur.haveUp && Rebooted(prev.uptime, cur.uptime, now.Sub(prev.at))
	var up, downN, adminDown, other, unused int
	var downNames, unusedNames, notes []string
	found := map[string]bool{}
	busiest, busiestUtil := "", -1.0
	for _, it := range ifs {
		if !c.selected(it) {
			continue
		}
		for _, s := range []string{it.Name, it.Descr, it.Alias, strconv.Itoa(it.Index)} {
			found[s] = true
		}
		cur.byIndex[it.Index] = ifCounters{in: it.InOctets, out: it.OutOctets, errs: it.InErrors + it.OutErrors + it.InDiscards + it.OutDiscards, c64: it.Counters64}
		switch {
		case it.Admin == "down":
			adminDown++
			continue
		case it.Oper == "up":
			up++
			c.mu.Lock()
			if c.seenUp == nil {
				c.seenUp = map[int]bool{}
			}
			c.seenUp[it.Index] = true
			c.mu.Unlock()
		case it.Oper == "dormant" || it.Oper == "notPresent":
			other++
		case c.o.Alarm == "used" && len(c.o.Interfaces) == 0 && !c.used(it):
			unused++
			unusedNames = append(unusedNames, it.Name)
		default:
			downN++
			downNames = append(downNames, it.Name)
		}
		p, ok := prev.byIndex[it.Index]
		if !ok || reset || elapsed <= 0 || p.c64 != it.Counters64 {
			continue
		}
		rate, ok := ifRate(p, cur.byIndex[it.Index], it.SpeedBps, elapsed)
		if !ok {
			notes = append(notes, it.Name+" counters reset")
			continue
		}
		if rate.HasUtilisation {
			r.Status = checks.Worst(r.Status, c.o.Utilisation.Eval(rate.Utilisation))
		}
		if st := c.o.Errors.Eval(rate.ErrorsPerSec); st != checks.OK {
			r.Status = checks.Worst(r.Status, st)
			notes = append(notes, fmt.Sprintf("%s %.1f errors/s", it.Name, rate.ErrorsPerSec))
		}
		u := rate.Utilisation
		if !rate.HasUtilisation {
			u = 0
		}
		if u > busiestUtil {
			busiestUtil = u
			busiest = fmt.Sprintf("%s in %s out %s", it.Name, bps(rate.InBps), bps(rate.OutBps))
			if rate.HasUtilisation {
				busiest += fmt.Sprintf(" (%.1f %%)", rate.Utilisation)
			}
		}
	}
	c.mu.Lock()
	c.prev = cur
	c.mu.Unlock()
	var missing []string
	for _, s := range c.o.Interfaces {
		if !found[s] {
			missing = append(missing, s)
		}
	}
	total := up + downN + unused + adminDown + other
	if downN > 0 {
		r.Status = checks.Worst(r.Status, c.downStat)
	}
	r = r.WithValue(float64(downN))
	d := fmt.Sprintf("%d interfaces: %d up, %d down, %d admin-down", total, up, downN+unused, adminDown)
	if other > 0 {
		d += fmt.Sprintf(", %d dormant/not present", other)
	}
	if downN > 0 {
		d += "; down: " + list(downNames, 8)
	}
	if unused > 0 {
		d += fmt.Sprintf("; %d never connected (no traffic, not alarmed): %s", unused, list(unusedNames, 8))
	}
	if len(missing) > 0 {
		r.Status = checks.Worst(r.Status, checks.Critical)
		d += "; not found: " + strings.Join(missing, ", ")
	}
	switch {
	case reset:
		d += "; counters reset (device restarted), rates from next poll"
	case busiest != "":
		d += "; busiest " + busiest
	}
	if len(notes) > 0 {
		d += "; " + list(notes, 5)
	}
	r.Detail = d
	return r
}

// used reports whether an admin-up interface that is down is in use:
// it carried traffic (its counters are not zero) or this check saw it up.
func (c *Interfaces) used(it Interface) bool {
	c.mu.Lock()
	seen := c.seenUp[it.Index]
	c.mu.Unlock()
	return seen || it.InOctets+it.OutOctets > 0
}

func ifRate(p, c ifCounters, speed uint64, secs float64) (IfRate, bool) {
	din, ok1 := CounterDelta(p.in, c.in, c.c64)
	dout, ok2 := CounterDelta(p.out, c.out, c.c64)
	derr, ok3 := CounterDelta(p.errs, c.errs, false)
	if !ok1 || !ok2 {
		return IfRate{}, false
	}
	r := IfRate{InBps: float64(din) * 8 / secs, OutBps: float64(dout) * 8 / secs}
	if ok3 {
		r.ErrorsPerSec = float64(derr) / secs
	}
	if speed > 0 {
		r.Utilisation, r.HasUtilisation = round1(math.Max(r.InBps, r.OutBps)*100/float64(speed)), true
	}
	return r, true
}

func bps(v float64) string {
	switch {
	case v >= 1e9:
		return fmt.Sprintf("%.1f Gb/s", v/1e9)
	case v >= 1e6:
		return fmt.Sprintf("%.1f Mb/s", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1f kb/s", v/1e3)
	}
	return fmt.Sprintf("%.0f b/s", v)
}

func list(s []string, n int) string {
	if len(s) <= n {
		return strings.Join(s, ", ")
	}
	return strings.Join(s[:n], ", ") + fmt.Sprintf(" and %d more", len(s)-n)
}
