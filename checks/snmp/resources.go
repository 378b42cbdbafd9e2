package snmp

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"outpost/checks"
)

// Storage watches volume usage in %.
type Storage struct {
	base
	o  storageOptions
	th checks.Thresholds
}

type storageOptions struct {
	// Volumes selects by description: "C:" matches "C:\ Label: ...", "/"
	// matches exactly "/". Empty means every volume of Types.
	Volumes []string `yaml:"volumes"`
	// Types are the storage types watched when Volumes is empty (default
	// fixed_disk, network_disk, flash_memory; UCD disks when the agent
	// has no such HOST-RESOURCES rows).
	Types []string `yaml:"types"`
	checks.Thresholds
}

// Default used-% thresholds for storage.
var defaultStorageTypes = []string{"fixed_disk", "network_disk", "flash_memory"}

func newStorage(s checks.Spec, d checks.Deps) (checks.Checker, error) {
	var o storageOptions
	if err := s.Options.Decode(&o); err != nil {
		return nil, err
	}
	for _, t := range o.Types {
		if !slices.Contains(StorageTypes, t) {
			return nil, &checks.FieldError{Field: "options.types", Msg: fmt.Sprintf("%q is not a storage type (one of %s)", t, strings.Join(StorageTypes, ", "))}
		}
	}
	b, err := newBase(s, d)
	if err != nil {
		return nil, err
	}
	return &Storage{base: b, o: o, th: threshold(o.Thresholds, 85, 95, false)}, nil
}

// MatchVolume says whether a volume description is what the user named.
func MatchVolume(descr, want string) bool {
	if descr == want {
		return true
	}
	// Windows: "C:\ Label:  Serial Number 1234" for "C:" or "C:\".
	w := strings.TrimSuffix(want, `\`)
	rest, ok := strings.CutPrefix(descr, w)
	return ok && w != "" && (strings.HasPrefix(rest, `\`) || (strings.HasSuffix(w, ":") && strings.HasPrefix(rest, " ")))
}

func (c *Storage) pick(vols []Volume) []Volume {
	var out []Volume
	if len(c.o.Volumes) > 0 {
		for _, v := range vols {
			for _, w := range c.o.Volumes {
				if MatchVolume(v.Descr, w) {
					out = append(out, v)
					break
				}
			}
		}
		return out
	}
	types := c.o.Types
	if len(types) == 0 {
		types = defaultStorageTypes
	}
	for _, v := range vols {
		if slices.Contains(types, v.Type) {
			out = append(out, v)
		}
	}
	if len(out) == 0 && len(c.o.Types) == 0 {
		for _, v := range vols {
			if v.Type == "ucd_disk" {
				out = append(out, v)
			}
		}
	}
	return out
}

// Check reads the storage tables.
func (c *Storage) Check(ctx context.Context) checks.Result {
	start := time.Now()
	vols, err := ReadStorage(ctx, c.src())
	if err != nil {
		return down(start, err)
	}
	r := checks.Result{Time: start, Status: checks.OK, Latency: checks.Since(start)}
	sel := c.pick(vols)
	var missing []string
	for _, w := range c.o.Volumes {
		if !slices.ContainsFunc(sel, func(v Volume) bool { return MatchVolume(v.Descr, w) }) {
			missing = append(missing, w)
		}
	}
	if len(sel) == 0 && len(missing) == 0 {
		r.Status, r.Detail = checks.Unknown, fmt.Sprintf("no volumes to watch (the device lists %d storage areas, none of the watched types)", len(vols))
		return r
	}
	worst := -1.0
	var parts []string
	for _, v := range sel {
		st := c.th.Eval(v.UsedPercent)
		r.Status = checks.Worst(r.Status, st)
		worst = max(worst, v.UsedPercent)
		p := fmt.Sprintf("%s %.1f %% used", shortDescr(v.Descr), v.UsedPercent)
		if v.SizeBytes > 0 {
			p += fmt.Sprintf(" of %s", checks.Bytes(v.SizeBytes).String())
		}
		if st != checks.OK {
			p += " (" + st.String() + ")"
		}
		parts = append(parts, p)
	}
	if len(missing) > 0 {
		r.Status = checks.Worst(r.Status, checks.Critical)
		parts = append(parts, "not found: "+strings.Join(missing, ", "))
	}
	if worst >= 0 {
		r = r.WithValue(worst)
	}
	r.Detail = strings.Join(parts, "; ")
	return r
}

// shortDescr drops Windows' label and serial number.
func shortDescr(s string) string {
	if len(s) >= 3 && s[1] == ':' && s[2] == '\\' {
		return s[:2]
	}
	if i := strings.Index(s, " Label:"); i > 0 {
		return strings.TrimSpace(s[:i])
	}
	return s
}

// CPU watches processor load.
type CPUCheck struct {
	base
	o  cpuOptions
	th checks.Thresholds
}

type cpuOptions struct {
	// PerCore judges the busiest core instead of the average.
	PerCore bool `yaml:"per_core"`
	// Load judges UCD's 1-minute load average.
	Load checks.Thresholds `yaml:"load"`
	checks.Thresholds
}

func newCPU(s checks.Spec, d checks.Deps) (checks.Checker, error) {
	var o cpuOptions
	if err := s.Options.Decode(&o); err != nil {
		return nil, err
	}
	b, err := newBase(s, d)
	if err != nil {
		return nil, err
	}
	return &CPUCheck{base: b, o: o, th: threshold(o.Thresholds, 85, 95, false)}, nil
}

// Check reads hrProcessorLoad and UCD load averages.
func (c *CPUCheck) Check(ctx context.Context) checks.Result {
	start := time.Now()
	cpu, err := ReadCPU(ctx, c.src())
	if err != nil {
		return down(start, err)
	}
	r := checks.Result{Time: start, Status: checks.OK, Latency: checks.Since(start)}
	if cpu.Average == nil && len(cpu.Load) == 0 {
		r.Status, r.Detail = checks.Unknown, "the device reports no CPU load (no hrProcessorLoad, no UCD-SNMP-MIB)"
		return r
	}
	var parts []string
	if cpu.Average != nil {
		judged := *cpu.Average
		if c.o.PerCore && len(cpu.Cores) > 0 {
			judged = float64(slices.Max(cpu.Cores))
		}
		r.Status = c.th.Eval(judged)
		r = r.WithValue(*cpu.Average)
		p := fmt.Sprintf("CPU %.1f %% average", *cpu.Average)
		if len(cpu.Cores) > 0 {
			cs := make([]string, len(cpu.Cores))
			for i, v := range cpu.Cores {
				cs[i] = fmt.Sprint(v)
			}
			p += fmt.Sprintf(" over %d cores (%s)", len(cpu.Cores), strings.Join(cs, ", "))
		}
		parts = append(parts, p)
	}
	if len(cpu.Load) > 0 {
		r.Status = checks.Worst(r.Status, c.o.Load.Eval(cpu.Load[0]))
		ls := make([]string, len(cpu.Load))
		for i, v := range cpu.Load {
			ls[i] = fmt.Sprintf("%.2f", v)
		}
		parts = append(parts, "load "+strings.Join(ls, " "))
	}
	r.Detail = strings.Join(parts, "; ")
	return r
}

// Uptime reports sysUpTime and warns for a while after the device
// restarted (sysUpTime went backwards).
type Uptime struct {
	base
	o        uptimeOptions
	rebootSt checks.Status

	mu       sync.Mutex
	prev     uint32
	prevAt   time.Time
	have     bool
	rebootAt time.Time
}

type uptimeOptions struct {
	// Reboot is the status after a restart: warning (default), critical
	// or ignore.
	Reboot string `yaml:"reboot"`
	// Hold keeps that status this long after the restart was seen, so a
	// reboot is noticed even with short intervals (default 1h).
	Hold time.Duration `yaml:"hold"`
}

func newUptime(s checks.Spec, d checks.Deps) (checks.Checker, error) {
	var o uptimeOptions
	if err := s.Options.Decode(&o); err != nil {
		return nil, err
	}
	st, err := statusOption("reboot", o.Reboot, "warning")
	if err != nil {
		return nil, err
	}
	if o.Hold < 0 {
		return nil, &checks.FieldError{Field: "options.hold", Msg: "must not be negative"}
	}
	if o.Hold == 0 {
		o.Hold = time.Hour
	}
	b, err := newBase(s, d)
	if err != nil {
		return nil, err
	}
	return &Uptime{base: b, o: o, rebootSt: st}, nil
}

// Check reads sysUpTime.
func (c *Uptime) Check(ctx context.Context) checks.Result {
	start := time.Now()
	pdus, err := c.src().Get(ctx, oidSysUpTime)
	if err != nil {
		return down(start, err)
	}
	r := checks.Result{Time: start, Status: checks.OK, Latency: checks.Since(start)}
	t, ok := uint64(0), false
	if len(pdus) == 1 {
		t, ok = unsigned(pdus[0])
	}
	if !ok {
		r.Status, r.Detail = checks.Unknown, "the device has no sysUpTime"
		return r
	}
	now := c.clock.Now()
	cur := uint32(t)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.have && Rebooted(c.prev, cur, now.Sub(c.prevAt)) {
		c.rebootAt = now
	}
	c.prev, c.prevAt, c.have = cur, now, true
	up := ticks(cur)
	r = r.WithValue(round1(up.Hours() / 24))
	r.Detail = "up " + humanDuration(up)
	if !c.rebootAt.IsZero() && now.Sub(c.rebootAt) < c.o.Hold {
		r.Status = c.rebootSt
		r.Detail += fmt.Sprintf("; restarted (uptime went backwards), seen %s ago", humanDuration(now.Sub(c.rebootAt)))
	}
	return r
}

func humanDuration(d time.Duration) string {
	days := int(d.Hours()) / 24
	h := int(d.Hours()) % 24
	m := int(d.Minutes()) % 60
	switch {
	case days > 0:
		return fmt.Sprintf("%dd %dh %dm", days, h, m)
	case h > 0:
		return fmt.Sprintf("%dh %dm", h, m)
	}
	return fmt.Sprintf("%dm %ds", m, int(d.Seconds())%60)
}
