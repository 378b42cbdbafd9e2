package checks

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/beevik/ntp"

	"outpost/checks/clock"
)

func init() {
	Register(Kind{Name: "clock", Summary: "the box's own clock: set, synchronised (systemd-timesyncd, or an NTP server you name), steps seen", New: newClock})
}

// Clock judges the box's own wall clock. A box without a real-time clock
// boots at 1970 or at its last saved time; until NTP sets it, timestamps,
// certificates and bundle expiry are judged against a wrong date. The
// check asks, in order: is the date plausible at all (not before this
// software existed); does systemd-timesyncd say it is synchronised
// (`timedatectl show`, where systemd runs); and, when ntp_server is set,
// how far the clock is from that server. Its value is 1 when a source
// says the clock is synchronised, 0 when one says it is not (or the date
// is impossible), -1 when nothing here can tell.
type Clock struct {
	o     clockOptions
	wall  clock.Clock
	mu    sync.Mutex
	steps *clock.Steps
}

var _ Checker = (*Clock)(nil)

type clockOptions struct {
	// NTPServer is asked for the time (host or host:port, UDP 123). Off
	// by default: no network check runs until it is configured.
	NTPServer string `yaml:"ntp_server"`
	// MaxOffset is how far from the NTP server the clock may be before
	// the check warns (default 2 s: TLS, bundle expiry and logs do not
	// care about less).
	MaxOffset time.Duration `yaml:"max_offset"`
}

// Clock sync states, the check's value.
const (
	ClockSynced   = 1
	ClockUnsynced = 0
	ClockUnknown  = -1
)

func newClock(s Spec, _ Deps) (Checker, error) {
	c := &Clock{wall: clock.Real{}}
	c.steps = clock.NewSteps(c.wall)
	if err := s.Options.Decode(&c.o); err != nil {
		return nil, err
	}
	if c.o.MaxOffset == 0 {
		c.o.MaxOffset = 2 * time.Second
	}
	if c.o.MaxOffset < 0 {
		return nil, &FieldError{Field: "options.max_offset", Msg: "must be positive"}
	}
	if c.o.NTPServer != "" {
		host := c.o.NTPServer
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if host == "" || strings.ContainsAny(host, " /") {
			return nil, &FieldError{Field: "options.ntp_server", Msg: fmt.Sprintf("%q is not a host or host:port", c.o.NTPServer)}
		}
	}
	return c, nil
}

// Check reports the clock's state; see Clock.
func (c *Clock) Check(ctx context.Context) Result {
	start := time.Now()
	now := c.wall.Now()
	c.mu.Lock()
	step, _ := c.steps.Check()
	c.mu.Unlock()

	status, value := OK, float64(ClockUnknown)
	var parts []string
	judge := func(s Status, v float64, text string) {
		status = Worst(status, s)
		if v == ClockUnsynced || value == ClockUnknown {
			value = v
		}
		parts = append(parts, text)
	}
	if !clock.Plausible(now) {
		judge(Warning, ClockUnsynced, fmt.Sprintf("the clock reads %s, before this software existed: it was never set (no RTC, no NTP yet)", now.UTC().Format("2006-01-02 15:04 MST")))
	}
	if synced, detail, ok := timesyncd(ctx); ok {
		if synced {
			judge(OK, ClockSynced, "synchronised (systemd-timesyncd)")
		} else {
			judge(Warning, ClockUnsynced, "not synchronised: "+detail)
		}
	}
	if c.o.NTPServer != "" {
		judge(c.askNTP(ctx))
	}
	if len(parts) == 0 {
		parts = append(parts, "cannot tell whether the clock is synchronised: no systemd-timesyncd here and no ntp_server option")
	}
	if step != 0 {
		parts = append(parts, "the clock was stepped by "+clock.FormatStep(step)+" since the previous run")
	}
	return Result{Time: now, Status: status, Latency: Since(start), Detail: strings.Join(parts, "; ")}.WithValue(value)
}

func (c *Clock) askNTP(ctx context.Context) (Status, float64, string) {
	timeout := 5 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(dl))
	}
	r, err := ntp.QueryWithOptions(c.o.NTPServer, ntp.QueryOptions{Timeout: timeout})
	if err == nil {
		err = r.Validate()
	}
	if err != nil {
		return Warning, ClockUnknown, fmt.Sprintf("NTP server %s: %v", c.o.NTPServer, err)
	}
	off := r.ClockOffset
	abs := off
	if abs < 0 {
		abs = -abs
	}
	text := fmt.Sprintf("%s from NTP server %s (stratum %d)", fmtOffset(off), c.o.NTPServer, r.Stratum)
	if abs > c.o.MaxOffset {
		return Warning, ClockUnsynced, "off by " + text + ", more than " + c.o.MaxOffset.String()
	}
	return OK, ClockSynced, "within " + text
}

// fmtOffset writes an offset to the millisecond, or in days and years
// when the clock is that far off.
func fmtOffset(d time.Duration) string {
	if d >= 48*time.Hour || d <= -48*time.Hour {
		return clock.FormatStep(d)
	}
	sign := "+"
	if d < 0 {
		sign, d = "-", -d
	}
	if d < time.Millisecond {
		return sign + d.Round(time.Microsecond).String()
	}
	return sign + d.Round(time.Millisecond).String()
}

// errNoTimesyncd: timedatectl is missing or systemd is not running.
var errNoTimesyncd = errors.New("no timedatectl")

// timesyncd asks systemd whether the clock is synchronised. ok is false
// where it cannot answer (no systemd, a container).
func timesyncd(ctx context.Context) (synced bool, detail string, ok bool) {
	props, err := timedatectlShow(ctx)
	if err != nil {
		return false, "", false
	}
	if props["NTPSynchronized"] == "yes" {
		return true, "", true
	}
	switch {
	case props["NTP"] == "no":
		return false, "NTP is turned off (timedatectl set-ntp true)", true
	case props["CanNTP"] == "no":
		return false, "no NTP service is installed (systemd-timesyncd)", true
	}
	return false, "no NTP server reached yet (is UDP 123 blocked?)", true
}

func timedatectlShow(ctx context.Context) (map[string]string, error) {
	bin, err := exec.LookPath("timedatectl")
	if err != nil {
		return nil, errNoTimesyncd
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "show").Output()
	if err != nil {
		return nil, fmt.Errorf("timedatectl show: %w", err)
	}
	props := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			props[k] = v
		}
	}
	if _, ok := props["NTPSynchronized"]; !ok {
		return nil, fmt.Errorf("timedatectl show: no NTPSynchronized in its output")
	}
	return props, nil
}

// Clock sync words, as the dashboard, status, metrics and phone home say
// them.
const (
	ClockWordSynced   = "synchronised"
	ClockWordUnsynced = "not synchronised"
	ClockWordUnknown  = "unknown"
)

// ClockSync reads a clock check's result as one of the ClockWord values.
func ClockSync(r Result) string {
	switch {
	case !r.HasValue || r.Value == ClockUnknown:
		return ClockWordUnknown
	case r.Value == ClockSynced:
		return ClockWordSynced
	}
	return ClockWordUnsynced
}
