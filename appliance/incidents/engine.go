package incidents

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"outpost/appliance/config"
	"outpost/checks"
	"outpost/checks/clock"
	"outpost/checks/incident"
	"outpost/healing"
)

// Store persists incidents as JSON documents (bbolt in the daemon).
type Store interface {
	NextIncidentID() (uint64, error)
	PutIncident(id uint64, open bool, doc []byte) error
	GetIncident(id uint64) ([]byte, bool, error)
	// ListIncidents calls fn newest first until it returns false.
	ListIncidents(openOnly bool, fn func(doc []byte) bool) error
}

// Options configure an Engine.
type Options struct {
	Store   Store
	Clock   clock.Clock
	Runner  *healing.Runner
	Recheck func(ctx context.Context, checkID string) (checks.Result, error)
	Log     *slog.Logger
	// Deps are handed to the remediations built from each config (the
	// SNMP poller snmp_set writes through, the clock, the logger).
	Deps checks.Deps
	// OnChange is told about every timeline event, after it is stored
	// (notifications, phone home). It must not block.
	OnChange func(Incident, Event)
}

// Engine turns results into incidents.
type Engine struct {
	o       Options
	mu      sync.Mutex
	cfg     *config.Config
	healCfg *healing.Config // cfg's healing section
	checks  map[string]*checkState
	open    map[uint64]*Incident
	healWG  sync.WaitGroup
	heals   atomic.Int32
	ctx     context.Context
	cancel  context.CancelFunc
	// steps watches the wall clock for steps (nowLocked).
	steps *clock.Steps
	// unsaved are incidents whose last write failed (the store cannot
	// write: a full or failing disk). They live on in memory, are listed
	// and notified like any, and are written again every saveRetry until
	// the store takes them. maxID is the highest incident number given
	// out, so numbers made while the store cannot count are never reused.
	unsaved map[uint64]*Incident
	maxID   uint64
	retryAt time.Duration // monotonic
}

// saveRetry is how often incidents the store refused are written again.
const saveRetry = 5 * time.Second

type checkState struct {
	spec       checks.Spec
	confirm    int
	recover    int
	dependsOn  string
	parentDev  string
	actions    []healing.Action
	fails, oks int
	history    []checks.Status // last 21
	flapping   bool
	open       *Incident
	behind     uint64 // parent incident this check is unreachable behind
	healing    bool
	retrying   bool
}

// New returns an Engine; call Configure before Observe.
func New(o Options) *Engine {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.OnChange == nil {
		o.OnChange = func(Incident, Event) {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Engine{o: o, checks: map[string]*checkState{}, open: map[uint64]*Incident{}, ctx: ctx, cancel: cancel, steps: clock.NewSteps(o.Clock), unsaved: map[uint64]*Incident{}}
}

// Configure applies a config: per-check rules and remediations. Open
// incidents are loaded from the store on the first call, so a restart
// continues them.
func (e *Engine) Configure(cfg *config.Config) error {
	hc := healing.ConfigOf(cfg)
	states := map[string]*checkState{}
	specs := cfg.Specs()
	for i := range cfg.Checks {
		ch, sp := &cfg.Checks[i], specs[i]
		acts, err := hc.Actions(sp, e.o.Deps)
		if err != nil {
			return err
		}
		st := &checkState{spec: sp, confirm: ch.Confirm, recover: ch.Recover, dependsOn: ch.DependsOn, actions: acts}
		if d := cfg.Device(ch.Labels.Device); d != nil {
			st.parentDev = d.Parent
		}
		states[ch.ID] = st
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	first := e.cfg == nil
	// Keep the state object of checks that stay, so counters, history
	// and a healing or retry in progress carry over a reload.
	for id, st := range states {
		if old, ok := e.checks[id]; ok {
			old.spec, old.confirm, old.recover, old.dependsOn, old.parentDev, old.actions = st.spec, st.confirm, st.recover, st.dependsOn, st.parentDev, st.actions
			states[id] = old
		}
	}
	e.checks, e.cfg, e.healCfg = states, cfg, hc
	if first {
		err := e.o.Store.ListIncidents(true, func(doc []byte) bool {
			var inc Incident
			if json.Unmarshal(doc, &inc) == nil && inc.IsOpen() {
				e.open[inc.ID] = &inc
				if st := e.checks[inc.Check]; st != nil && st.open == nil {
					st.open = &inc
				}
			}
			return true
		})
		if err == nil {
			// Newest first: the first is the highest number.
			err = e.o.Store.ListIncidents(false, func(doc []byte) bool {
				var inc Incident
				if json.Unmarshal(doc, &inc) == nil {
					e.maxID = max(e.maxID, inc.ID)
				}
				return false
			})
		}
		if err != nil {
			return fmt.Errorf("loading open incidents: %w", err)
		}
		if err := e.restoreAttemptsLocked(); err != nil {
			return fmt.Errorf("reading the healing audit: %w", err)
		}
	}
	return nil
}

// AuditLister is implemented by stores that keep healing's audit trail
// (*store.Store); the engine reads it at start so that attempts made
// before a restart still count against healing.max_attempts.
type AuditLister interface {
	// ListAudit calls fn with audit documents, newest first, until fn
	// returns false.
	ListAudit(fn func(doc []byte) bool) error
}

func (e *Engine) restoreAttemptsLocked() error {
	al, ok := e.o.Store.(AuditLister)
	if !ok || e.o.Runner == nil {
		return nil
	}
	since := e.o.Clock.Now().Add(-e.healCfg.Window)
	return al.ListAudit(func(doc []byte) bool {
		var a healing.AuditEntry
		if json.Unmarshal(doc, &a) != nil {
			return true
		}
		if a.Time.Before(since) {
			return false // newest first: the rest is older still
		}
		e.o.Runner.Restore(a)
		return true
	})
}

// HealingInProgress is how many checks are being healed right now.
func (e *Engine) HealingInProgress() int { return int(e.heals.Load()) }

// Close stops healing in progress and waits for it.
func (e *Engine) Close() {
	e.cancel()
	e.healWG.Wait()
}

func isFailure(s checks.Status) bool { return s != checks.OK }

// flapPercent is the weighted share of state changes among the last 21
// results, newer changes weighing more (0.8 to 1.2), as Nagios does.
func flapPercent(h []checks.Status) float64 {
	if len(h) < 2 {
		return 0
	}
	var changed, total float64
	n := len(h) - 1
	for i := 1; i < len(h); i++ {
		w := 0.8 + 0.4*float64(i-1)/float64(max(n-1, 1))
		total += w
		if h[i] != h[i-1] {
			changed += w
		}
	}
	return 100 * changed / total
}

// pending is an OnChange call to make once the lock is released.
type pending struct {
	inc Incident
	ev  Event
}

// pendingOf is the OnChange call for ev on inc, with a copy of inc that
// shares nothing with the engine's (see incident.Incident.Clone).
func pendingOf(inc *Incident, ev Event) pending { return pending{inc.Clone(), ev} }

// Observe takes one result of a check. It is cheap: healing runs in its
// own goroutine.
func (e *Engine) Observe(spec checks.Spec, r checks.Result) {
	var notes []pending
	e.mu.Lock()
	st := e.checks[spec.ID]
	if st == nil {
		e.mu.Unlock()
		return
	}
	now := e.nowLocked(&notes)
	e.retrySavesLocked()
	st.history = append(st.history, r.Status)
	if len(st.history) > 21 {
		st.history = st.history[len(st.history)-21:]
	}
	if isFailure(r.Status) {
		st.fails++
		st.oks = 0
	} else {
		st.oks++
		st.fails = 0
	}
	pct := flapPercent(st.history)
	wasFlapping := st.flapping
	// Judge flapping only on enough history: a short series of changes
	// is an outage and its recovery, not flapping.
	if !st.flapping && len(st.history) >= 10 && pct > e.cfg.Incidents.FlapHigh {
		st.flapping = true
	} else if st.flapping && pct < e.cfg.Incidents.FlapLow {
		st.flapping = false
	}
	inc := st.open
	if st.flapping && !wasFlapping {
		text := fmt.Sprintf("flapping: %.0f%% state changes over the last %d results", pct, len(st.history))
		if inc != nil {
			// One incident for the whole episode: the open one turns into
			// the flapping incident.
			inc.Flapping = true
			ev := e.addLocked(inc, Event{Time: now, Kind: Updated, Text: text})
			notes = append(notes, pendingOf(inc, ev))
		} else {
			inc = e.openLocked(st, r, now, text, &notes)
		}
	}
	switch {
	case st.flapping:
		// While flapping, individual changes neither open nor resolve.
	case inc == nil && st.fails >= st.confirm:
		if parent := e.parentIncidentLocked(st); parent != nil {
			if st.behind != parent.ID {
				st.behind = parent.ID
				parent.Children = appendUnique(parent.Children, spec.ID)
				ev := e.addLocked(parent, Event{Time: now, Kind: Unreachable, Text: fmt.Sprintf("%s unreachable behind %s: %s", spec.ID, parent.Check, r.Detail)})
				notes = append(notes, pendingOf(parent, ev))
			}
			break
		}
		if e.parentSuspectLocked(st) {
			// The parent is failing but not confirmed yet: wait for its
			// verdict (seconds, with its quick re-check) rather than open
			// an incident that would duplicate the parent's.
			break
		}
		st.behind = 0
		inc = e.openLocked(st, r, now, r.Detail, &notes)
		if !inc.InMaintenance && len(st.actions) > 0 && !st.healing {
			st.healing = true
			e.healWG.Add(1)
			e.heals.Add(1)
			go e.heal(st, inc.ID)
		} else if !inc.InMaintenance && len(st.actions) == 0 {
			e.escalateLocked(inc, now, "no remediation configured: a technician is needed", &notes)
		}
	case inc != nil && isFailure(r.Status) && r.Status != inc.Status && !inc.Flapping:
		inc.Status = r.Status
		inc.Summary = r.Detail
		ev := e.addLocked(inc, Event{Time: now, Kind: Updated, Text: fmt.Sprintf("now %s: %s", r.Status, r.Detail)})
		notes = append(notes, pendingOf(inc, ev))
	case inc != nil && !st.healing && ((inc.Flapping && !st.flapping && !isFailure(r.Status)) || (!inc.Flapping && st.oks >= st.recover)):
		e.resolveLocked(inc, now, incident.ResolvedByItself, "", fmt.Sprintf("recovered: %s", r.Detail), &notes)
	}
	if !isFailure(r.Status) {
		st.behind = 0
	}
	// A first failure is confirmed by a quick re-check rather than by
	// waiting a whole interval: detection is then one interval plus the
	// retry delay, not N intervals.
	if isFailure(r.Status) && st.open == nil && st.fails < st.confirm && !st.retrying && e.o.Recheck != nil && st.behind == 0 {
		st.retrying = true
		e.healWG.Add(1)
		go e.retry(st, retryDelay(st.spec.Interval))
	}
	e.mu.Unlock()
	for _, p := range notes {
		e.o.OnChange(p.inc, p.ev)
	}
}

// parentIncidentLocked finds an open incident of the check's parent: its
// depends_on check, or any check of its device's parent device.
func (e *Engine) parentIncidentLocked(st *checkState) *Incident {
	if st.dependsOn != "" {
		if p := e.checks[st.dependsOn]; p != nil {
			if p.open != nil && !p.open.Flapping {
				return p.open
			}
			// The parent is itself unreachable behind its own parent.
			if p.behind != 0 && e.open[p.behind] != nil {
				return e.open[p.behind]
			}
		}
	}
	if st.parentDev != "" {
		for _, p := range e.checks {
			if p.spec.Labels.Device == st.parentDev && p.open != nil && !p.open.Flapping {
				return p.open
			}
		}
	}
	return nil
}

// parentSuspectLocked reports whether the check's depends_on parent has
// failed without (yet) opening an incident.
func (e *Engine) parentSuspectLocked(st *checkState) bool {
	p := e.checks[st.dependsOn]
	return p != nil && p.open == nil && p.behind == 0 && p.fails > 0 && p.fails < p.confirm
}

func (e *Engine) inMaintenanceLocked(sp checks.Spec, now time.Time) string {
	for i := range e.cfg.Maintenance {
		m := &e.cfg.Maintenance[i]
		if m.Covers(sp.ID, sp.Labels.Device, sp.Labels.Group) && m.Active(now) {
			if m.Name != "" {
				return m.Name
			}
			return fmt.Sprintf("maintenance window %d", i+1)
		}
	}
	return ""
}

func (e *Engine) openLocked(st *checkState, r checks.Result, now time.Time, summary string, notes *[]pending) *Incident {
	id := e.nextIDLocked(st.spec.ID)
	sp := st.spec
	inc := &Incident{ID: id, Check: sp.ID, Kind: sp.Kind, Device: sp.Labels.Device, Group: sp.Labels.Group, Severity: sp.Labels.Severity, Status: r.Status, State: Open, Summary: summary, Opened: now, Flapping: st.flapping}
	text := fmt.Sprintf("%s %s after %d failed runs: %s", sp.ID, r.Status, st.fails, r.Detail)
	if st.flapping {
		text = fmt.Sprintf("%s is %s", sp.ID, summary)
	}
	if w := e.inMaintenanceLocked(sp, now); w != "" {
		inc.InMaintenance = true
		text += fmt.Sprintf(" (in %s: no notification, no healing)", w)
	}
	st.open = inc
	e.open[id] = inc
	ev := e.addLocked(inc, Event{Time: now, Kind: Detected, Text: text})
	*notes = append(*notes, pendingOf(inc, ev))
	return inc
}

// nextIDLocked gives a new incident its number: the store's, or while
// the store cannot write, the next after the highest given out (the
// store's count then lags, and numbers it gives again are skipped).
func (e *Engine) nextIDLocked(check string) uint64 {
	id, err := e.o.Store.NextIncidentID()
	if err != nil {
		id = e.maxID + 1
		e.o.Log.Error("numbering incident: the store cannot write; numbered in memory", "check", check, "id", id, "err", err)
	}
	id = max(id, e.maxID+1)
	e.maxID = id
	return id
}

// addLocked appends an event and stores the incident.
func (e *Engine) addLocked(inc *Incident, ev Event) Event {
	inc.Timeline = append(inc.Timeline, ev)
	e.saveLocked(inc)
	return ev
}

// saveLocked writes inc. When the store refuses, inc is kept in unsaved
// (and logged once) until a later write succeeds.
func (e *Engine) saveLocked(inc *Incident) error {
	doc, _ := json.Marshal(inc)
	if err := e.o.Store.PutIncident(inc.ID, inc.IsOpen(), doc); err != nil {
		if e.unsaved[inc.ID] == nil {
			e.o.Log.Error("storing incident: the store cannot write; kept in memory and written when it can", "id", inc.ID, "check", inc.Check, "err", err)
		}
		e.unsaved[inc.ID] = inc
		return err
	}
	if e.unsaved[inc.ID] != nil {
		delete(e.unsaved, inc.ID)
		e.o.Log.Info("incident stored again after the store could not write", "id", inc.ID, "check", inc.Check)
	}
	return nil
}

// retrySavesLocked writes the incidents the store refused, at most every
// saveRetry, oldest first, stopping at the first refusal.
func (e *Engine) retrySavesLocked() {
	if len(e.unsaved) == 0 || e.o.Clock.Mono() < e.retryAt {
		return
	}
	e.retryAt = e.o.Clock.Mono() + saveRetry
	ids := make([]uint64, 0, len(e.unsaved))
	for id := range e.unsaved {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		if e.saveLocked(e.unsaved[id]) != nil {
			return
		}
	}
}

func (e *Engine) resolveLocked(inc *Incident, now time.Time, how, by, text string, notes *[]pending) {
	if !inc.IsOpen() {
		return
	}
	inc.State, inc.Resolution = Resolved, how
	t := now
	inc.Resolved = &t
	ev := e.addLocked(inc, Event{Time: now, Kind: Resolve, By: by, Text: fmt.Sprintf("%s (%s, after %s)", text, how, now.Sub(inc.Opened).Round(time.Second))})
	delete(e.open, inc.ID)
	if st := e.checks[inc.Check]; st != nil && st.open == inc {
		st.open = nil
	}
	for _, st := range e.checks {
		if st.behind == inc.ID {
			st.behind = 0
		}
	}
	*notes = append(*notes, pendingOf(inc, ev))
}

func (e *Engine) escalateLocked(inc *Incident, now time.Time, why string, notes *[]pending) {
	if inc.Escalated || !inc.IsOpen() {
		return
	}
	inc.Escalated = true
	ev := e.addLocked(inc, Event{Time: now, Kind: Escalation, Text: why})
	*notes = append(*notes, pendingOf(inc, ev))
}

func appendUnique(xs []string, x string) []string {
	for _, y := range xs {
		if y == x {
			return xs
		}
	}
	return append(xs, x)
}

// heal runs the check's remediations in order: act, wait to settle,
// re-check; stop when healed, escalate when none worked or the attempts
// limit is reached.
func (e *Engine) heal(st *checkState, id uint64) {
	defer e.healWG.Done()
	defer func() {
		e.mu.Lock()
		st.healing = false
		e.mu.Unlock()
		e.heals.Add(-1)
	}()
	e.mu.Lock()
	acts, limits, settle, timeout := st.actions, e.healCfg.Limits(), e.healCfg.Settle, e.healCfg.ActionTimeout
	check := st.spec.ID
	e.mu.Unlock()
	var last checks.Result
	for _, a := range acts {
		var notes []pending
		allowed, n := e.o.Runner.Allow(check, limits)
		if !allowed {
			e.mu.Lock()
			if inc := e.open[id]; inc != nil {
				inc.HealingSuspended = true
				now := e.nowLocked(&notes)
				ev := e.addLocked(inc, Event{Time: now, Kind: Healing, Text: fmt.Sprintf("healing suspended: %d attempts in the last %s (limit %d)", n, limits.Window, limits.MaxAttempts)})
				notes = append(notes, pendingOf(inc, ev))
				e.escalateLocked(inc, now, "self-healing suspended after repeated attempts: a technician is needed", &notes)
			}
			e.mu.Unlock()
			e.flush(notes)
			return
		}
		entry := e.o.Runner.Run(e.ctx, a, check, id, "auto", timeout)
		ok := entry.OK
		e.mu.Lock()
		inc := e.open[id]
		if inc != nil {
			text := fmt.Sprintf("tried %s: done", entry.Action)
			if !ok {
				text = fmt.Sprintf("tried %s: failed: %s", entry.Action, entry.Error)
			}
			ev := e.addLocked(inc, Event{Time: e.nowLocked(&notes), Kind: Healing, By: "auto", Text: text, Output: entry.Output, OK: &ok})
			notes = append(notes, pendingOf(inc, ev))
		}
		e.mu.Unlock()
		e.flush(notes)
		if inc == nil {
			return // resolved meanwhile
		}
		if !e.sleep(settle) {
			return
		}
		res, err := e.o.Recheck(e.ctx, check)
		if err != nil {
			return
		}
		last = res
		if res.Status == checks.OK {
			// Self-healed means ours did it: the action succeeded and the
			// re-check after it passed. After a failed action the check
			// came back by itself, and the incident says so.
			how, by, text := incident.SelfHealed, "auto", "healed by "+entry.Action+", re-check ok: "+res.Detail
			if !ok {
				how, by, text = incident.ResolvedByItself, "", "recovered by itself ("+entry.Action+" failed), re-check ok: "+res.Detail
			}
			notes = nil
			e.mu.Lock()
			if inc := e.open[id]; inc != nil {
				e.resolveLocked(inc, e.nowLocked(&notes), how, by, text, &notes)
			}
			e.mu.Unlock()
			e.flush(notes)
			return
		}
	}
	var notes []pending
	e.mu.Lock()
	if inc := e.open[id]; inc != nil {
		e.escalateLocked(inc, e.nowLocked(&notes), fmt.Sprintf("healing exhausted: %d action(s) tried, still %s: %s", len(acts), last.Status, last.Detail), &notes)
	}
	e.mu.Unlock()
	e.flush(notes)
}

// nowLocked reads the wall clock. When it was stepped since the last
// reading (NTP setting a box that booted at 1970, or correcting a wrong
// server), the times of open incidents move by the same step, so that
// time to acknowledge and time to resolve stay true; the timeline says so.
// Resolved incidents keep their times: they were true or not when made.
func (e *Engine) nowLocked(notes *[]pending) time.Time {
	step, now := e.steps.Check()
	if step == 0 {
		return now
	}
	e.o.Log.Warn("wall clock stepped: moving open incidents' times with it", "step", clock.FormatStep(step), "open", len(e.open))
	ids := make([]uint64, 0, len(e.open))
	for id := range e.open {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		inc := e.open[id]
		inc.Opened = inc.Opened.Add(step)
		if inc.Acked != nil {
			t := inc.Acked.Add(step)
			inc.Acked = &t
		}
		for i := range inc.Timeline {
			inc.Timeline[i].Time = inc.Timeline[i].Time.Add(step)
		}
		ev := e.addLocked(inc, Event{Time: now, Kind: Note, By: "outpost", Text: fmt.Sprintf("the box's clock was stepped by %s: the times above moved with it, so durations stay true", clock.FormatStep(step))})
		*notes = append(*notes, pendingOf(inc, ev))
	}
	return now
}

func (e *Engine) flush(notes []pending) {
	for _, p := range notes {
		e.o.OnChange(p.inc, p.ev)
	}
}

func (e *Engine) sleep(d time.Duration) bool {
	t := e.o.Clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return true
	case <-e.ctx.Done():
		return false
	}
}

// retryDelay is how soon a first failure is checked again: a fifth of
// the interval, between 1 s and 30 s.
func retryDelay(interval time.Duration) time.Duration {
	return min(max(interval/5, time.Second), 30*time.Second)
}

func (e *Engine) retry(st *checkState, d time.Duration) {
	defer e.healWG.Done()
	defer func() {
		e.mu.Lock()
		st.retrying = false
		e.mu.Unlock()
	}()
	if !e.sleep(d) {
		return
	}
	e.o.Recheck(e.ctx, st.spec.ID)
}

// ErrNotFound is returned for an unknown incident id.
var ErrNotFound = errors.New("no such incident")

// ErrNoCheck is returned by Heal for a check that is not configured.
var ErrNoCheck = errors.New("no such check")

func (e *Engine) get(id uint64) (*Incident, error) {
	if inc := e.open[id]; inc != nil {
		return inc, nil
	}
	if inc := e.unsaved[id]; inc != nil {
		return inc, nil
	}
	doc, ok, err := e.o.Store.GetIncident(id)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: %d", ErrNotFound, id)
	}
	var inc Incident
	if err := json.Unmarshal(doc, &inc); err != nil {
		return nil, err
	}
	return &inc, nil
}

// Get returns one incident.
func (e *Engine) Get(id uint64) (Incident, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	inc, err := e.get(id)
	if err != nil {
		return Incident{}, err
	}
	return inc.Clone(), nil
}

// List returns incidents newest first (open ones only if openOnly), at
// most limit. The engine's own copies win over the store's: open
// incidents, and those the store could not take, are listed as they are
// now, stored or not.
func (e *Engine) List(openOnly bool, limit int) ([]Incident, error) {
	e.mu.Lock()
	mem := make(map[uint64]Incident, len(e.open)+len(e.unsaved))
	for id, inc := range e.unsaved {
		mem[id] = inc.Clone()
	}
	for id, inc := range e.open {
		mem[id] = inc.Clone()
	}
	e.mu.Unlock()
	want := limit
	if want > 0 {
		want += len(mem) // the store may list some that memory drops
	}
	var out []Incident
	err := e.o.Store.ListIncidents(openOnly, func(doc []byte) bool {
		var inc Incident
		if json.Unmarshal(doc, &inc) == nil {
			if m, ok := mem[inc.ID]; ok {
				inc = m
				delete(mem, inc.ID)
			}
			if !openOnly || inc.IsOpen() {
				out = append(out, inc)
			}
		}
		return want <= 0 || len(out) < want
	})
	for _, inc := range mem {
		if !openOnly || inc.IsOpen() {
			out = append(out, inc)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].ID > out[j].ID })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, err
}

// Acknowledge records that a technician owns the incident.
func (e *Engine) Acknowledge(id uint64, by, note string) (Incident, error) {
	return e.act(id, func(inc *Incident, now time.Time, notes *[]pending) error {
		if !inc.IsOpen() {
			return fmt.Errorf("incident %d is already resolved", id)
		}
		if inc.State == Acknowledged {
			return fmt.Errorf("incident %d was already acknowledged by %s", id, inc.AckedBy)
		}
		inc.State, inc.AckedBy = Acknowledged, by
		t := now
		inc.Acked = &t
		text := "acknowledged"
		if note != "" {
			text += ": " + note
		}
		ev := e.addLocked(inc, Event{Time: now, Kind: Ack, By: by, Text: text})
		*notes = append(*notes, pendingOf(inc, ev))
		return nil
	})
}

// AddNote adds a technician's note to the timeline.
func (e *Engine) AddNote(id uint64, by, note string) (Incident, error) {
	return e.act(id, func(inc *Incident, now time.Time, notes *[]pending) error {
		if note == "" {
			return fmt.Errorf("the note is empty")
		}
		ev := e.addLocked(inc, Event{Time: now, Kind: Note, By: by, Text: note})
		*notes = append(*notes, pendingOf(inc, ev))
		return nil
	})
}

// Resolve closes the incident by hand.
func (e *Engine) Resolve(id uint64, by, note string) (Incident, error) {
	return e.act(id, func(inc *Incident, now time.Time, notes *[]pending) error {
		if !inc.IsOpen() {
			return fmt.Errorf("incident %d is already resolved", id)
		}
		text := "resolved by " + by
		if note != "" {
			text += ": " + note
		}
		e.resolveLocked(inc, now, incident.ByTechnician, by, text, notes)
		return nil
	})
}

// Notified records in the timeline that a notification went out.
func (e *Engine) Notified(id uint64, text string) {
	e.act(id, func(inc *Incident, now time.Time, notes *[]pending) error {
		e.addLocked(inc, Event{Time: now, Kind: Notified, Text: text})
		return nil
	})
}

func (e *Engine) act(id uint64, f func(*Incident, time.Time, *[]pending) error) (Incident, error) {
	var notes []pending
	e.mu.Lock()
	inc, err := e.get(id)
	if err == nil {
		err = f(inc, e.nowLocked(&notes), &notes)
	}
	var out Incident
	if inc != nil {
		out = inc.Clone()
	}
	e.mu.Unlock()
	e.flush(notes)
	return out, err
}

// Heal runs one configured remediation of a check on a technician's
// request (all of them in order when index < 0), audited like automatic
// ones; manual runs do not count against the automatic attempts limit.
func (e *Engine) Heal(ctx context.Context, check string, index int, who string) ([]healing.AuditEntry, error) {
	e.mu.Lock()
	st := e.checks[check]
	if st == nil {
		e.mu.Unlock()
		return nil, fmt.Errorf("%w: %q", ErrNoCheck, check)
	}
	acts, timeout := st.actions, e.healCfg.ActionTimeout
	var incID uint64
	if st.open != nil {
		incID = st.open.ID
	}
	e.mu.Unlock()
	if len(acts) == 0 {
		return nil, badRequestf("check %q has no remediation configured", check)
	}
	if index >= len(acts) {
		return nil, badRequestf("check %q has %d remediation(s); there is no number %d", check, len(acts), index+1)
	}
	if index >= 0 {
		acts = acts[index : index+1]
	}
	var out []healing.AuditEntry
	for _, a := range acts {
		entry := e.o.Runner.Run(ctx, a, check, incID, who, timeout)
		out = append(out, entry)
		if incID != 0 {
			ok := entry.OK
			text := fmt.Sprintf("%s ran %s: done", who, entry.Action)
			if !ok {
				text = fmt.Sprintf("%s ran %s: failed: %s", who, entry.Action, entry.Error)
			}
			e.act(incID, func(inc *Incident, now time.Time, notes *[]pending) error {
				ev := e.addLocked(inc, Event{Time: now, Kind: Healing, By: who, Text: text, Output: entry.Output, OK: &ok})
				*notes = append(*notes, pendingOf(inc, ev))
				return nil
			})
		}
	}
	return out, nil
}
