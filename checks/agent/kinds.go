package agent

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"outpost/checks"
	"outpost/checks/agent/sysinfo"
	"outpost/checks/agent/wire"
)

func init() {
	reg := func(name, summary string, build func(checks.Spec, *base) (checks.Checker, error)) {
		checks.Register(checks.Kind{Name: name, Summary: summary, NeedsTarget: true, New: func(s checks.Spec, d checks.Deps) (checks.Checker, error) {
			if s.Env != nil && s.Env.Agent(s.Target) == nil {
				return nil, &checks.FieldError{Field: "target", Msg: fmt.Sprintf("%q is not a configured agent (add it under agents:)", s.Target)}
			}
			return build(s, &base{agent: s.Target, client: d.Agents, keeper: d.Keeper, device: s.Labels.Device})
		}})
	}
	reg("agent_service", "a Windows service or systemd unit on an agent: state and start mode", newService)
	reg("agent_disk", "volumes on an agent: used % and free space (Win32_LogicalDisk / statfs)", newDisk)
	reg("agent_cpu", "CPU busy % on an agent", newCPU)
	reg("agent_memory", "memory used % on an agent", newMemory)
	reg("agent_uptime", "uptime of an agent's machine, warning after a reboot", newUptime)
	reg("agent_process", "count of processes with a name on an agent", newProcess)
	reg("agent_eventlog", "Windows event log entries (or journal/syslog lines) matching a filter since the last poll", newEventLog)
	reg("agent_perf", "a Windows performance counter or WMI class property on an agent, with thresholds", newPerf)
	reg("agent_folder", "the size of a folder on an agent (Exchange logs, a mailbox database, a backup share) in MiB, with size thresholds; forecast and growth-alarmed like any series", newFolder)
	reg("agent_backup_target", "a backup target folder on an agent: its newest file is younger than max_age and at least min_size", newBackupTarget)
}

// base holds what every agent_* checker shares: the agent it asks and the
// box's agent client (nil where agent mode does not run).
type base struct {
	agent  string
	client checks.AgentQuerier
	// keeper keeps the events a check collects (nil: none kept); device
	// is the device they are kept under (the check's device label).
	keeper checks.EventKeeper
	device string
}

// ask runs a query and turns transport failures into a Result: an agent
// that cannot be reached is Critical (the server may be down), one that
// refuses or is not paired is Unknown, a measurement it could not make is
// Unknown with its reason.
func (b *base) ask(ctx context.Context, q wire.Query) (wire.Answer, *checks.Result) {
	start := time.Now()
	if b.client == nil {
		return wire.Answer{}, &checks.Result{Time: start, Status: checks.Unknown, Detail: "agent mode is not running on this box"}
	}
	a, err := b.client.Query(ctx, b.agent, q)
	r := checks.Result{Time: start, Latency: checks.Since(start)}
	switch {
	case err != nil && (errors.Is(err, ErrNotPaired) || errors.Is(err, ErrRevoked) || errors.Is(err, ErrRefused)):
		r.Status, r.Detail = checks.Unknown, err.Error()
		return a, &r
	case err != nil:
		r.Status, r.Detail = checks.Critical, err.Error()
		return a, &r
	case a.Error != "":
		r.Status, r.Detail = checks.Unknown, fmt.Sprintf("agent %s could not read %s: %s", b.agent, q.Kind, a.Error)
		return a, &r
	}
	return a, nil
}

func done(start time.Time, st checks.Status, detail string) checks.Result {
	return checks.Result{Time: start, Status: st, Latency: checks.Since(start), Detail: detail}
}

// PercentThresholds are the warning/critical percentages of the agent
// kinds that measure a share (disk, CPU, memory), defaulted per kind.
type PercentThresholds struct {
	Warning  *float64 `yaml:"warning"`
	Critical *float64 `yaml:"critical"`
}

func (p PercentThresholds) thresholds(defW, defC float64) (checks.Thresholds, error) {
	w, c := defW, defC
	if p.Warning != nil {
		w = *p.Warning
	}
	if p.Critical != nil {
		c = *p.Critical
	}
	if w < 0 || w > 100 {
		return checks.Thresholds{}, &checks.FieldError{Field: "options.warning", Msg: fmt.Sprintf("%g is not a percentage (0 to 100)", w)}
	}
	if c < 0 || c > 100 {
		return checks.Thresholds{}, &checks.FieldError{Field: "options.critical", Msg: fmt.Sprintf("%g is not a percentage (0 to 100)", c)}
	}
	if w > c {
		return checks.Thresholds{}, &checks.FieldError{Field: "options.warning", Msg: fmt.Sprintf("%g is above critical %g", w, c)}
	}
	return checks.Thresholds{Warning: &w, Critical: &c}, nil
}

// Service checks a service's state and start mode.
type Service struct {
	base
	name, state, startMode string
}

var _ checks.Checker = (*Service)(nil)

var serviceStates = []string{"running", "stopped"}

func newService(s checks.Spec, b *base) (checks.Checker, error) {
	var o struct {
		Service   string `yaml:"service"`
		State     string `yaml:"state"`
		StartMode string `yaml:"start_mode"`
	}
	if err := s.Options.Decode(&o); err != nil {
		return nil, err
	}
	if o.Service == "" || strings.HasPrefix(o.Service, "-") || strings.ContainsAny(o.Service, "/\\\n'") {
		return nil, &checks.FieldError{Field: "options.service", Msg: fmt.Sprintf("%q is not a service name (e.g. MSSQLSERVER, nginx.service)", o.Service)}
	}
	if o.State == "" {
		o.State = "running"
	}
	if !contains(serviceStates, o.State) {
		return nil, &checks.FieldError{Field: "options.state", Msg: fmt.Sprintf("%q is not a state to expect (one of %s)", o.State, strings.Join(serviceStates, ", "))}
	}
	return &Service{base: *b, name: o.Service, state: o.State, startMode: strings.ToLower(o.StartMode)}, nil
}

// Check compares the service with the expected state.
func (c *Service) Check(ctx context.Context) checks.Result {
	start := time.Now()
	a, r := c.ask(ctx, wire.Query{Kind: wire.QueryService, Name: c.name})
	if r != nil {
		return *r
	}
	s := a.Service
	switch {
	case s == nil:
		return done(start, checks.Unknown, "agent sent no service answer")
	case !s.Found:
		return done(start, checks.Critical, fmt.Sprintf("service %s does not exist on %s", c.name, c.agent))
	case s.State != c.state:
		return done(start, checks.Critical, fmt.Sprintf("service %s is %s (%s), expected %s", s.Name, s.State, s.Raw, c.state))
	case c.startMode != "" && s.StartMode != c.startMode:
		return done(start, checks.Warning, fmt.Sprintf("service %s is %s but its start mode is %s, expected %s", s.Name, s.State, s.StartMode, c.startMode))
	}
	return done(start, checks.OK, fmt.Sprintf("service %s is %s (start mode %s)", s.Name, s.State, s.StartMode))
}

// Disk checks volumes' used share and free space.
type Disk struct {
	base
	volume  string
	th      checks.Thresholds
	minFree uint64
}

var _ checks.Checker = (*Disk)(nil)

func newDisk(s checks.Spec, b *base) (checks.Checker, error) {
	var o struct {
		Volume            string `yaml:"volume"`
		PercentThresholds `yaml:",inline"`
		MinFree           string `yaml:"min_free"`
	}
	if err := s.Options.Decode(&o); err != nil {
		return nil, err
	}
	th, err := o.thresholds(85, 95)
	if err != nil {
		return nil, err
	}
	d := &Disk{base: *b, volume: o.Volume, th: th}
	if o.MinFree != "" {
		if d.minFree, err = checks.ParseBytes(o.MinFree); err != nil {
			return nil, &checks.FieldError{Field: "options.min_free", Msg: err.Error()}
		}
	}
	return d, nil
}

// Check reports the fullest volume.
func (c *Disk) Check(ctx context.Context) checks.Result {
	start := time.Now()
	a, r := c.ask(ctx, wire.Query{Kind: wire.QueryDisk, Name: c.volume})
	if r != nil {
		return *r
	}
	if len(a.Volumes) == 0 {
		return done(start, checks.Unknown, "agent reported no volumes")
	}
	worst, st := 0.0, checks.OK
	var parts []string
	for _, v := range a.Volumes {
		used := v.UsedPercent()
		vs := c.th.Eval(used)
		if c.minFree > 0 && v.Free < c.minFree {
			vs = checks.Worst(vs, checks.Critical)
		}
		st = checks.Worst(st, vs)
		worst = max(worst, used)
		parts = append(parts, fmt.Sprintf("%s %.1f%% used, %s free of %s", v.Name, used, fmtBytes(v.Free), fmtBytes(v.Total)))
	}
	return done(start, st, strings.Join(parts, "; ")).WithValue(worst)
}

// CPU checks the busy share.
type CPU struct {
	base
	th checks.Thresholds
}

var _ checks.Checker = (*CPU)(nil)

func newCPU(s checks.Spec, b *base) (checks.Checker, error) {
	var o PercentThresholds
	if err := s.Options.Decode(&o); err != nil {
		return nil, err
	}
	th, err := o.thresholds(85, 95)
	return &CPU{base: *b, th: th}, err
}

// Check reads the CPU.
func (c *CPU) Check(ctx context.Context) checks.Result {
	start := time.Now()
	a, r := c.ask(ctx, wire.Query{Kind: wire.QueryCPU})
	if r != nil {
		return *r
	}
	if a.CPU == nil {
		return done(start, checks.Unknown, "agent sent no CPU answer")
	}
	return done(start, c.th.Eval(a.CPU.Percent), fmt.Sprintf("CPU %.1f%% busy over %s (%d cores)", a.CPU.Percent, a.CPU.Window.Round(time.Second), a.CPU.Cores)).WithValue(a.CPU.Percent)
}

// Memory checks the used share of physical memory.
type Memory struct {
	base
	th checks.Thresholds
}

var _ checks.Checker = (*Memory)(nil)

func newMemory(s checks.Spec, b *base) (checks.Checker, error) {
	var o PercentThresholds
	if err := s.Options.Decode(&o); err != nil {
		return nil, err
	}
	th, err := o.thresholds(90, 97)
	return &Memory{base: *b, th: th}, err
}

// Check reads memory.
func (c *Memory) Check(ctx context.Context) checks.Result {
	start := time.Now()
	a, r := c.ask(ctx, wire.Query{Kind: wire.QueryMemory})
	if r != nil {
		return *r
	}
	m := a.Memory
	if m == nil || m.Total == 0 {
		return done(start, checks.Unknown, "agent sent no memory answer")
	}
	used := 100 * float64(m.Total-min(m.Available, m.Total)) / float64(m.Total)
	return done(start, c.th.Eval(used), fmt.Sprintf("memory %.1f%% used, %s available of %s", used, fmtBytes(m.Available), fmtBytes(m.Total))).WithValue(used)
}

// Uptime notices reboots: the poll after a boot-time change is a warning.
type Uptime struct {
	base
	maxUptime time.Duration
	mu        sync.Mutex
	lastBoot  time.Time
}

var _ checks.Checker = (*Uptime)(nil)

func newUptime(s checks.Spec, b *base) (checks.Checker, error) {
	var o struct {
		MaxUptime time.Duration `yaml:"max_uptime"`
	}
	if err := s.Options.Decode(&o); err != nil {
		return nil, err
	}
	if o.MaxUptime < 0 {
		return nil, &checks.FieldError{Field: "options.max_uptime", Msg: "must be positive"}
	}
	return &Uptime{base: *b, maxUptime: o.MaxUptime}, nil
}

// Check compares the boot time with the previous poll's. The value is
// the uptime in hours.
func (c *Uptime) Check(ctx context.Context) checks.Result {
	start := time.Now()
	a, r := c.ask(ctx, wire.Query{Kind: wire.QueryUptime})
	if r != nil {
		return *r
	}
	u := a.Uptime
	if u == nil {
		return done(start, checks.Unknown, "agent sent no uptime answer")
	}
	c.mu.Lock()
	prev := c.lastBoot
	c.lastBoot = u.BootTime
	c.mu.Unlock()
	hours := u.Uptime.Hours()
	// Boot times read from clocks jitter by a second; a reboot moves it by
	// at least the time the machine was down plus its boot.
	if !prev.IsZero() && u.BootTime.Sub(prev) > 5*time.Second {
		return done(start, checks.Warning, fmt.Sprintf("rebooted: up since %s (previous boot %s)", u.BootTime.Format(time.RFC3339), prev.Format(time.RFC3339))).WithValue(hours)
	}
	if c.maxUptime > 0 && u.Uptime > c.maxUptime {
		return done(start, checks.Warning, fmt.Sprintf("up %s, longer than %s: pending patches need a reboot", u.Uptime.Round(time.Hour), c.maxUptime)).WithValue(hours)
	}
	return done(start, checks.OK, fmt.Sprintf("up %s since %s", u.Uptime.Round(time.Minute), u.BootTime.Format(time.RFC3339))).WithValue(hours)
}

// Process counts processes by name.
type Process struct {
	base
	name     string
	min, max int
}

var _ checks.Checker = (*Process)(nil)

func newProcess(s checks.Spec, b *base) (checks.Checker, error) {
	var o struct {
		Name string `yaml:"name"`
		Min  *int   `yaml:"min"`
		Max  int    `yaml:"max"`
	}
	if err := s.Options.Decode(&o); err != nil {
		return nil, err
	}
	if o.Name == "" || strings.ContainsAny(o.Name, "/\\'") {
		return nil, &checks.FieldError{Field: "options.name", Msg: fmt.Sprintf("%q is not a process name (e.g. sqlservr, nginx)", o.Name)}
	}
	p := &Process{base: *b, name: o.Name, min: 1, max: o.Max}
	if o.Min != nil {
		p.min = *o.Min
	}
	if p.min < 0 || (p.max > 0 && p.max < p.min) {
		return nil, &checks.FieldError{Field: "options.max", Msg: fmt.Sprintf("min %d and max %d leave no allowed count", p.min, p.max)}
	}
	return p, nil
}

// Check counts.
func (c *Process) Check(ctx context.Context) checks.Result {
	start := time.Now()
	a, r := c.ask(ctx, wire.Query{Kind: wire.QueryProcess, Name: c.name})
	if r != nil {
		return *r
	}
	if a.Processes == nil {
		return done(start, checks.Unknown, "agent sent no process answer")
	}
	n := a.Processes.Count
	switch {
	case n < c.min:
		return done(start, checks.Critical, fmt.Sprintf("%d %s process(es) running, expected at least %d", n, c.name, c.min)).WithValue(float64(n))
	case c.max > 0 && n > c.max:
		return done(start, checks.Critical, fmt.Sprintf("%d %s process(es) running, expected at most %d", n, c.name, c.max)).WithValue(float64(n))
	}
	return done(start, checks.OK, fmt.Sprintf("%d %s process(es) running", n, c.name)).WithValue(float64(n))
}

// EventLog counts matching log entries since the previous poll.
type EventLog struct {
	base
	q              wire.EventQuery
	warnAt, critAt int
	// keep hands every matching entry to the event store, where log
	// rules read it (docs/logs.md).
	keep   bool
	mu     sync.Mutex
	cursor string
}

// keptEntries bounds the entries one poll of a keeping check returns.
const keptEntries = 200

var _ checks.Checker = (*EventLog)(nil)

func newEventLog(s checks.Spec, b *base) (checks.Checker, error) {
	var o struct {
		Log      string `yaml:"log"`
		Source   string `yaml:"source"`
		EventIDs []int  `yaml:"event_ids"`
		Level    string `yaml:"level"`
		Unit     string `yaml:"unit"`
		Pattern  string `yaml:"pattern"`
		Warning  *int   `yaml:"warning"`
		Critical *int   `yaml:"critical"`
		Keep     bool   `yaml:"keep"`
	}
	if err := s.Options.Decode(&o); err != nil {
		return nil, err
	}
	if o.Log == "" {
		return nil, &checks.FieldError{Field: "options.log", Msg: "is required (Application, System, ... on Windows; journal or /var/log/FILE on Linux)"}
	}
	if o.Level != "" && !contains([]string{"error", "warning", "information"}, o.Level) {
		return nil, &checks.FieldError{Field: "options.level", Msg: fmt.Sprintf("%q is not a level (error, warning, information)", o.Level)}
	}
	q := wire.EventQuery{Log: o.Log, Source: o.Source, EventIDs: o.EventIDs, Level: o.Level, Unit: o.Unit, Pattern: o.Pattern, Max: 5}
	if err := sysinfo.ValidateEventQuery(q); err != nil {
		return nil, &checks.FieldError{Field: "options.pattern", Msg: err.Error()}
	}
	e := &EventLog{base: *b, q: q, warnAt: 1, keep: o.Keep}
	if o.Keep {
		e.q.Max = keptEntries
	}
	if o.Warning != nil {
		e.warnAt = *o.Warning
	}
	if o.Critical != nil {
		e.critAt = *o.Critical
	}
	return e, nil
}

// Check asks for entries after the cursor and moves it on. The first
// poll only finds where the log ends.
func (c *EventLog) Check(ctx context.Context) checks.Result {
	start := time.Now()
	c.mu.Lock()
	q := c.q
	q.Cursor = c.cursor
	c.mu.Unlock()
	a, r := c.ask(ctx, wire.Query{Kind: wire.QueryEventLog, Events: &q})
	if r != nil {
		return *r
	}
	b := a.Events
	if b == nil {
		return done(start, checks.Unknown, "agent sent no event answer")
	}
	c.mu.Lock()
	c.cursor = b.Cursor
	c.mu.Unlock()
	kept := c.keepEntries(b.Entries)
	if b.Count == 0 {
		return done(start, checks.OK, "no matching entries in "+q.Log+" since the last poll").WithValue(0)
	}
	st := checks.OK
	switch {
	case c.critAt > 0 && b.Count >= c.critAt:
		st = checks.Critical
	case c.warnAt > 0 && b.Count >= c.warnAt:
		st = checks.Warning
	}
	last := b.Entries[len(b.Entries)-1]
	detail := fmt.Sprintf("%d matching entries in %s since the last poll; latest: %s", b.Count, q.Log, oneLine(last))
	if c.keep {
		detail += fmt.Sprintf(" (%d kept for log rules)", kept)
	}
	return done(start, st, detail).WithValue(float64(b.Count))
}

// keepEntries hands the entries to the event store, as events of the
// check's device dated by the box's arrival (the entry's own time is
// the field timestamp), so that log_match rules (source: eventlog)
// read them like syslog lines and traps. It returns how many it kept.
func (c *EventLog) keepEntries(entries []wire.Event) int {
	if !c.keep || c.keeper == nil {
		return 0
	}
	now := time.Now()
	for _, en := range entries {
		c.keeper.AppendEvent(EntryEvent(c.agent, c.device, c.q.Log, en, now))
	}
	return len(entries)
}

// EntryEvent is the event a kept entry of an agent's log becomes: of the
// device, source eventlog, named by the entry's source, dated now (the
// entry's own time is the field timestamp).
func EntryEvent(agent, device, log string, en wire.Event, now time.Time) checks.Event {
	ev := checks.Event{Time: now, Device: device, Source: checks.SourceEventLog, Name: en.Source, Detail: en.Message, Severity: levelStatus(en.Level),
		Fields: map[string]string{checks.FieldLevel: en.Level, checks.FieldLog: log, checks.FieldTimestamp: en.Time.UTC().Format(time.RFC3339Nano), "agent": agent}}
	if ev.Name == "" {
		ev.Name = "eventlog"
	}
	if en.ID != 0 {
		ev.Fields[checks.FieldEventID] = strconv.Itoa(en.ID)
	}
	return ev
}

// levelStatus is an entry level's status: critical and error are
// critical, warning a warning, the rest ok.
func levelStatus(level string) checks.Status {
	switch strings.ToLower(level) {
	case "critical", "error":
		return checks.Critical
	case "warning":
		return checks.Warning
	}
	return checks.OK
}

func oneLine(e wire.Event) string {
	msg := strings.Join(strings.Fields(e.Message), " ")
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	id := ""
	if e.ID != 0 {
		id = fmt.Sprintf(" %d", e.ID)
	}
	return fmt.Sprintf("[%s %s%s] %s", e.Level, e.Source, id, msg)
}

// Perf reads a WMI property and applies thresholds or an expected value.
type Perf struct {
	base
	q      wire.PerfQuery
	th     checks.Thresholds
	expect *float64
}

var _ checks.Checker = (*Perf)(nil)

func newPerf(s checks.Spec, b *base) (checks.Checker, error) {
	var o struct {
		Class             string `yaml:"class"`
		Property          string `yaml:"property"`
		Instance          string `yaml:"instance"`
		Namespace         string `yaml:"namespace"`
		checks.Thresholds `yaml:",inline"`
		Expect            *float64 `yaml:"expect"`
	}
	if err := s.Options.Decode(&o); err != nil {
		return nil, err
	}
	if !sysinfo.ValidIdent(o.Class) {
		return nil, &checks.FieldError{Field: "options.class", Msg: fmt.Sprintf("%q is not a WMI class name (e.g. Win32_PerfFormattedData_PerfOS_Processor)", o.Class)}
	}
	if !sysinfo.ValidIdent(o.Property) {
		return nil, &checks.FieldError{Field: "options.property", Msg: fmt.Sprintf("%q is not a WMI property name (e.g. PercentProcessorTime)", o.Property)}
	}
	if o.Expect != nil && (o.Warning != nil || o.Critical != nil) {
		return nil, &checks.FieldError{Field: "options.expect", Msg: "give either expect or warning/critical, not both"}
	}
	return &Perf{base: *b, q: wire.PerfQuery{Class: o.Class, Property: o.Property, Instance: o.Instance, Namespace: o.Namespace}, th: o.Thresholds, expect: o.Expect}, nil
}

// Check reads the property.
func (c *Perf) Check(ctx context.Context) checks.Result {
	start := time.Now()
	q := c.q
	a, r := c.ask(ctx, wire.Query{Kind: wire.QueryPerf, Perf: &q})
	if r != nil {
		return *r
	}
	if a.Perf == nil {
		return done(start, checks.Unknown, "agent sent no perf answer")
	}
	v := a.Perf.Value
	what := q.Class + "." + q.Property
	if q.Instance != "" {
		what += "[" + q.Instance + "]"
	}
	if c.expect != nil {
		if v != *c.expect {
			return done(start, checks.Critical, fmt.Sprintf("%s is %g, expected %g", what, v, *c.expect)).WithValue(v)
		}
		return done(start, checks.OK, fmt.Sprintf("%s is %g", what, v)).WithValue(v)
	}
	return done(start, c.th.Eval(v), fmt.Sprintf("%s is %g", what, v)).WithValue(v)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func fmtBytes(b uint64) string { return checks.Bytes(b).String() }

// Folder reads a folder's size on an agent (the folder must be on the
// agent's own allow-list) and compares it with size thresholds.
type Folder struct {
	base
	path       string
	warn, crit uint64 // bytes; 0: not set
}

var _ checks.Checker = (*Folder)(nil)

// FolderPathOK reports whether p is an absolute path on some agent: a
// Unix path or a Windows drive path.
func FolderPathOK(p string) bool {
	if strings.ContainsRune(p, 0) || len(p) > 1024 {
		return false
	}
	if strings.HasPrefix(p, "/") {
		return true
	}
	return len(p) >= 3 && (p[0]|0x20) >= 'a' && (p[0]|0x20) <= 'z' && p[1] == ':' && (p[2] == '\\' || p[2] == '/')
}

func newFolder(s checks.Spec, b *base) (checks.Checker, error) {
	var o struct {
		Path     string `yaml:"path"`
		Warning  string `yaml:"warning"`
		Critical string `yaml:"critical"`
	}
	if err := s.Options.Decode(&o); err != nil {
		return nil, err
	}
	if !FolderPathOK(o.Path) {
		return nil, &checks.FieldError{Field: "options.path", Msg: fmt.Sprintf("%q is not an absolute folder path on the agent (e.g. D:\\Exchange\\Logs or /var/log/app)", o.Path)}
	}
	c := &Folder{base: *b, path: o.Path}
	for _, f := range []struct {
		field, v string
		to       *uint64
	}{{"options.warning", o.Warning, &c.warn}, {"options.critical", o.Critical, &c.crit}} {
		if f.v == "" {
			continue
		}
		n, err := checks.ParseBytes(f.v)
		if err != nil {
			return nil, &checks.FieldError{Field: f.field, Msg: err.Error()}
		}
		*f.to = n
	}
	if c.warn != 0 && c.crit != 0 && c.warn > c.crit {
		return nil, &checks.FieldError{Field: "options.warning", Msg: fmt.Sprintf("%s is above critical %s", o.Warning, o.Critical)}
	}
	return c, nil
}

// Check reads the folder's size; its value is MiB.
func (c *Folder) Check(ctx context.Context) checks.Result {
	start := time.Now()
	a, r := c.ask(ctx, wire.Query{Kind: wire.QueryFolder, Name: c.path})
	if r != nil {
		return *r
	}
	if a.Folder == nil {
		return done(start, checks.Unknown, "agent sent no folder answer")
	}
	f := a.Folder
	detail := fmt.Sprintf("%s: %s in %d files", c.path, fmtBytes(f.Bytes), f.Files)
	if f.Truncated {
		detail += " (at least: the agent stopped counting at its bound)"
	}
	if f.Skipped > 0 {
		detail += fmt.Sprintf(", %d entries unreadable", f.Skipped)
	}
	st := checks.OK
	switch {
	case c.crit != 0 && f.Bytes >= c.crit:
		st = checks.Critical
		detail += ", critical at " + fmtBytes(c.crit)
	case c.warn != 0 && f.Bytes >= c.warn:
		st = checks.Warning
		detail += ", warning at " + fmtBytes(c.warn)
	}
	return done(start, st, detail).WithValue(float64(f.Bytes) / (1 << 20))
}

// BackupTarget checks that a backup target folder on an agent (the
// folder must be on the agent's allow-list) holds a recent, big enough
// file: the newest file is younger than maxAge and at least minSize. It
// reads the same folder query as agent_folder.
type BackupTarget struct {
	base
	path    string
	maxAge  time.Duration
	minSize uint64 // bytes; 0: any size
	now     func() time.Time
}

var _ checks.Checker = (*BackupTarget)(nil)

// DefaultBackupMaxAge is agent_backup_target's max_age when unset: a
// daily backup with two hours of slack.
const DefaultBackupMaxAge = 26 * time.Hour

func newBackupTarget(s checks.Spec, b *base) (checks.Checker, error) {
	var o struct {
		Path    string        `yaml:"path"`
		MaxAge  time.Duration `yaml:"max_age"`
		MinSize string        `yaml:"min_size"`
	}
	if err := s.Options.Decode(&o); err != nil {
		return nil, err
	}
	if !FolderPathOK(o.Path) {
		return nil, &checks.FieldError{Field: "options.path", Msg: fmt.Sprintf("%q is not an absolute folder path on the agent (e.g. E:\\Backups or /srv/backup)", o.Path)}
	}
	if o.MaxAge < 0 || (o.MaxAge > 0 && o.MaxAge < time.Minute) {
		return nil, &checks.FieldError{Field: "options.max_age", Msg: fmt.Sprintf("%s is not an age to allow (at least 1m, e.g. 26h)", o.MaxAge)}
	}
	if o.MaxAge == 0 {
		o.MaxAge = DefaultBackupMaxAge
	}
	c := &BackupTarget{base: *b, path: o.Path, maxAge: o.MaxAge, now: time.Now}
	if o.MinSize != "" {
		n, err := checks.ParseBytes(o.MinSize)
		if err != nil {
			return nil, &checks.FieldError{Field: "options.min_size", Msg: err.Error()}
		}
		c.minSize = n
	}
	return c, nil
}

// fmtAge prints an age to the minute (3d4h5m, 26h0m, 12m).
func fmtAge(d time.Duration) string {
	d = d.Round(time.Minute)
	if d < time.Minute {
		return "under a minute"
	}
	days := d / (24 * time.Hour)
	d -= days * 24 * time.Hour
	h, m := d/time.Hour, (d%time.Hour)/time.Minute
	switch {
	case days > 0:
		return fmt.Sprintf("%dd%dh%dm", days, h, m)
	case h > 0:
		return fmt.Sprintf("%dh%dm", h, m)
	}
	return fmt.Sprintf("%dm", m)
}

// Check reads the folder's newest file; its value is that file's age in
// hours.
func (c *BackupTarget) Check(ctx context.Context) checks.Result {
	start := time.Now()
	a, r := c.ask(ctx, wire.Query{Kind: wire.QueryFolder, Name: c.path})
	if r != nil {
		return *r
	}
	f := a.Folder
	switch {
	case f == nil:
		return done(start, checks.Unknown, "agent sent no folder answer")
	case f.Files == 0 && f.Truncated:
		return done(start, checks.Unknown, fmt.Sprintf("%s: the agent stopped at its bound before finding a file", c.path))
	case f.Files == 0:
		return done(start, checks.Critical, fmt.Sprintf("%s holds no files: no backup has been written there", c.path))
	case f.Newest == nil:
		return done(start, checks.Unknown, fmt.Sprintf("agent %s does not report the newest file's time (update the agent)", c.agent))
	}
	n := f.Newest
	age := c.now().Sub(n.Modified)
	if age < 0 {
		age = 0 // the server's clock is ahead of the box's
	}
	files := fmt.Sprintf("%d files", f.Files)
	if f.Files == 1 {
		files = "1 file"
	}
	detail := fmt.Sprintf("%s: newest file written %s ago (%s), %s", c.path, fmtAge(age), fmtBytes(n.Bytes), files)
	if f.Truncated {
		detail += " (newest of those the agent read before its bound)"
	}
	if f.Skipped > 0 {
		detail += fmt.Sprintf(", %d entries unreadable", f.Skipped)
	}
	var bad []string
	if age > c.maxAge {
		bad = append(bad, fmt.Sprintf("older than max_age %s", fmtAge(c.maxAge)))
	}
	if n.Bytes < c.minSize {
		bad = append(bad, fmt.Sprintf("smaller than min_size %s", fmtBytes(c.minSize)))
	}
	st := checks.OK
	if len(bad) > 0 {
		st = checks.Critical
		detail += ": " + strings.Join(bad, " and ")
	}
	return done(start, st, detail).WithValue(age.Hours())
}
