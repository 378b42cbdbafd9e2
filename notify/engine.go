package notify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"outpost/checks"
	"outpost/checks/clock"
	"outpost/checks/incident"
)

// state is what the engine remembers of an incident between events. It
// is saved in the same transaction as the messages it causes.
type state struct {
	Inc    Incident `json:"incident"`
	Policy string   `json:"policy"`
	Fired  int      `json:"fired"` // steps done
	// Targets are the step entries fired so far, "oncall:x" unresolved,
	// so a reminder after a handover reaches the new on-call person.
	Targets []string `json:"targets"`
	// Notified are the channels actually sent to: they hear "resolved".
	Notified []string  `json:"notified"`
	LastSent time.Time `json:"last_sent"`
	Thread   string    `json:"thread"`
	// Done and Legacy are only read from states saved by older
	// versions (Legacy: the incident, before notify took the shared
	// incident model; New converts it).
	Done   bool            `json:"done,omitempty"`
	Legacy *legacyIncident `json:"inc,omitempty"`
}

// remembered is inc as the engine keeps it in its saved state: of the
// timeline only the healing entries, which are all that messages say of
// it, so that a long incident's growing timeline is not rewritten with
// every save.
func remembered(inc Incident) Incident {
	tl := inc.Timeline
	inc.Timeline = nil
	for _, ev := range tl {
		if ev.Kind == incident.Healing {
			inc.Timeline = append(inc.Timeline, ev)
		}
	}
	return inc
}

// legacyIncident is an incident in a state saved before notify took the
// shared incident model (Go field names, times by value, healing as
// lines). It is only read.
type legacyIncident struct {
	ID                                                    uint64
	Site, Device, Check, Group, Severity, Status, Summary string
	Labels                                                map[string]string
	Parent                                                string
	Opened, Acked, Resolved                               time.Time
	AckedBy, Resolution                                   string
	Healing                                               []string
	HealingPending, InMaintenance, Flapping, SelfHealed   bool
}

// incident is l in today's terms: zero times are unset, healing lines
// are healing entries of the timeline.
func (l *legacyIncident) incident() Incident {
	inc := Incident{Site: l.Site, Labels: l.Labels, Parent: l.Parent, HealingPending: l.HealingPending}
	m := &inc.Incident
	m.ID, m.Device, m.Check, m.Group, m.Summary = l.ID, l.Device, l.Check, l.Group, l.Summary
	m.Severity, m.State, m.Opened, m.AckedBy, m.Resolution = checks.Severity(l.Severity), incident.Open, l.Opened, l.AckedBy, l.Resolution
	m.InMaintenance, m.Flapping = l.InMaintenance, l.Flapping
	m.Status, _ = checks.ParseStatus(l.Status)
	if !l.Acked.IsZero() {
		m.Acked, m.State = &l.Acked, incident.Acknowledged
	}
	if !l.Resolved.IsZero() {
		m.Resolved = &l.Resolved
	}
	if l.SelfHealed {
		m.Resolution = incident.SelfHealed
	}
	for _, h := range l.Healing {
		m.Timeline = append(m.Timeline, incident.Event{Kind: incident.Healing, Text: h})
	}
	return inc
}

// Options configure an Engine.
type Options struct {
	Outbox   Outbox
	Clock    clock.Clock
	Log      *slog.Logger
	Channels map[string]Channel
	Policies []Policy
	// AckURL makes the signed acknowledge link of an incident ("" for none).
	AckURL func(incident uint64) string
	// Sent is told about each delivered message (the incident timeline).
	Sent func(incident uint64, text string)
	// People maps a person to their channels; OnCalls are rotations
	// that steps name as "oncall:<name>".
	People  map[string][]string
	OnCalls []OnCall
	// MaxAge is how long a message keeps being retried (default 24h):
	// older news is worse than none, and the failure is logged.
	MaxAge time.Duration
	// SendTimeout bounds one delivery attempt (default 1 min).
	SendTimeout time.Duration
}

// Engine runs the policies and the outbox.
type Engine struct {
	o Options
	// box is o.Outbox with what it could not write held in memory; the
	// engine reaches the outbox only through it (o.Outbox is box).
	box    *held
	mu     sync.Mutex
	states map[uint64]*state
	wake   chan struct{}
	// failing tracks channels whose last attempts failed.
	failing map[string]*ChannelHealth
	// steps watches the wall clock: the saved times that reminders and
	// escalation steps count from move with it (shiftLocked).
	steps *clock.Steps
}

// ChannelHealth describes a channel whose recent attempts failed.
type ChannelHealth struct {
	Failures  int       // in a row
	Since     time.Time // first failure of the run
	LastError string
	Alerted   time.Time // when the other channels were last told
}

// New loads the notification state of open incidents and returns an
// Engine; call Run. It fails only if the outbox cannot be read.
func New(o Options) (*Engine, error) {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.AckURL == nil {
		o.AckURL = func(uint64) string { return "" }
	}
	if o.Sent == nil {
		o.Sent = func(uint64, string) {}
	}
	if o.MaxAge <= 0 {
		o.MaxAge = 24 * time.Hour
	}
	if o.SendTimeout <= 0 {
		o.SendTimeout = time.Minute
	}
	e := &Engine{o: o, states: map[uint64]*state{}, wake: make(chan struct{}, 1), failing: map[string]*ChannelHealth{}, steps: clock.NewSteps(o.Clock)}
	e.box = newHeld(o.Outbox, o.Log)
	e.o.Outbox = e.box
	docs, err := o.Outbox.LoadStates()
	if err != nil {
		return nil, fmt.Errorf("loading notification state: %w", err)
	}
	for id, doc := range docs {
		var st state
		if json.Unmarshal(doc, &st) == nil && !st.Done {
			if st.Legacy != nil {
				st.Inc, st.Legacy = st.Legacy.incident(), nil
			}
			e.states[id] = &st
		}
	}
	return e, nil
}

// Configure swaps in new channels, policies, people and rotations (a
// config reload). Incidents under a policy that no longer exists stop
// escalating but still get their resolved message.
func (e *Engine) Configure(channels map[string]Channel, policies []Policy, people map[string][]string, oncalls []OnCall) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.o.Channels, e.o.Policies, e.o.People, e.o.OnCalls = channels, policies, people, oncalls
}

func newID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (e *Engine) policyLocked(name string) (Policy, bool) {
	for _, p := range e.o.Policies {
		if p.Name == name {
			return p, true
		}
	}
	return Policy{}, false
}

// Opened starts notifying for a new incident, if a policy matches (the
// first in order) and it is not in a maintenance window.
func (e *Engine) Opened(inc Incident) {
	if inc.InMaintenance {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, dup := e.states[inc.ID]; dup {
		return
	}
	if e.openLocked(inc) {
		e.commitLocked(nil, []uint64{inc.ID}, nil)
		e.poke()
	}
}

// openLocked starts the state of a new incident under the first policy
// that matches it, and reports whether one did.
func (e *Engine) openLocked(inc Incident) bool {
	for _, p := range e.o.Policies {
		if p.Matches(inc) {
			e.states[inc.ID] = &state{Inc: remembered(inc), Policy: p.Name, Thread: newID()}
			return true
		}
	}
	return false
}

// Reconcile brings the saved notification state in line with the
// incidents as their engine stored them, once at start, after both were
// loaded and the policies configured. The two are committed apart, so a
// crash between an incident's commit and notify's can leave them out of
// step; this settles it, in one commit:
//
//   - an incident open now (open) that is neither in maintenance nor
//     acknowledged and has no state is Opened: its first message was
//     never queued;
//   - an open one with a state is Updated (acknowledged meanwhile: its
//     reminders stop);
//   - a state whose incident is not open is Resolved when lookup finds
//     the incident resolved (whoever was told hears it, and reminders
//     stop), and dropped when there is no such incident (found false).
//
// An incident acknowledged before anyone was told has no state, by
// design, and stays so. lookup errors leave that state as it is; the
// first is returned.
func (e *Engine) Reconcile(open []Incident, lookup func(id uint64) (inc Incident, found bool, err error)) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	var items []Item
	var save, del []uint64
	isOpen := map[uint64]bool{}
	for _, inc := range open {
		isOpen[inc.ID] = true
		st := e.states[inc.ID]
		switch {
		case st != nil:
			if e.updateLocked(st, inc) {
				save = append(save, inc.ID)
			} else {
				del = append(del, inc.ID)
			}
		case inc.InMaintenance || inc.Acked != nil || inc.State == incident.Acknowledged:
		case e.openLocked(inc):
			e.o.Log.Warn("incident was never notified (the daemon stopped before its notification was queued): notifying now", "incident", inc.ID, "check", inc.Check)
			save = append(save, inc.ID)
		}
	}
	ids := make([]uint64, 0, len(e.states))
	for id := range e.states {
		if !isOpen[id] {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	var first error
	for _, id := range ids {
		inc, found, err := lookup(id)
		switch {
		case err != nil:
			e.o.Log.Error("reconciling notifications: reading incident", "incident", id, "err", err)
			if first == nil {
				first = fmt.Errorf("reconciling notifications: reading incident %d: %w", id, err)
			}
		case !found:
			e.o.Log.Warn("notification state of an incident that does not exist: dropped", "incident", id)
			del = append(del, id)
		case inc.IsOpen():
			// Open after all (it opened since open was read): its own
			// events keep it current.
		default:
			e.o.Log.Warn("incident was resolved but its notifications were not told (the daemon stopped in between): sending its resolution now", "incident", id)
			items = append(items, e.resolvedLocked(e.states[id], inc, 0)...)
			del = append(del, id)
		}
	}
	e.commitLocked(items, save, del)
	e.poke()
	return first
}

// Updated refreshes what messages say about the incident. An incident
// now acknowledged (Acked set) stops its reminders; one now in
// maintenance goes quiet.
func (e *Engine) Updated(inc Incident) {
	e.mu.Lock()
	defer e.mu.Unlock()
	st := e.states[inc.ID]
	if st == nil {
		return
	}
	if e.updateLocked(st, inc) {
		e.commitLocked(nil, []uint64{inc.ID}, nil)
		e.poke() // HealingPending may have ended
		return
	}
	e.commitLocked(nil, nil, []uint64{inc.ID}) // nobody told: nothing to resolve later
}

// updateLocked refreshes st from inc and reports whether st is still
// needed: an incident acknowledged before anybody was told has nothing
// left to notify, not even its resolution.
func (e *Engine) updateLocked(st *state, inc Incident) bool {
	if inc.Acked == nil {
		inc.Acked = st.Inc.Acked // an update does not un-acknowledge
	}
	// Delays count from the engine's own opening time, which it moves
	// when the clock steps (shiftLocked): an update does not reset it.
	inc.Opened = st.Inc.Opened
	st.Inc = remembered(inc)
	return inc.Acked == nil || st.Fired > 0
}

// Acknowledged stops escalation and reminders. The incident's state is
// kept so that its resolved message still reaches everybody notified.
//
// Everybody notified so far hears who took it, once, as on-call tools
// do ("acknowledged by alice: on my way"), so the others stand down.
// text is the acknowledgement as the timeline has it ("acknowledged",
// "acknowledged: on my way").
func (e *Engine) Acknowledged(id uint64, by, text string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	st := e.states[id]
	if st == nil {
		return
	}
	now := e.o.Clock.Now()
	if st.Inc.Acked == nil {
		st.Inc.Acked = &now
	}
	if st.Fired == 0 {
		e.commitLocked(nil, nil, []uint64{id})
		return
	}
	summary := "acknowledged"
	if by != "" {
		summary += " by " + by
	}
	if note, ok := strings.CutPrefix(text, "acknowledged: "); ok && note != "" {
		summary += ": " + note
	}
	e.commitLocked(e.itemsLocked(st, "acknowledged", st.Notified, summary, now), []uint64{id}, nil)
}

// Resolved stops everything and tells whoever was notified, with how long
// the incident lasted (took; 0 computes it from inc.Resolved). A
// self-healed incident nobody heard of gets an info message only if the
// policy asks for it.
func (e *Engine) Resolved(inc Incident, took time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	st := e.states[inc.ID]
	if st == nil {
		return
	}
	e.commitLocked(e.resolvedLocked(st, inc, took), nil, []uint64{inc.ID})
}

// resolvedLocked is Resolved's messages about st's incident; the caller
// deletes st with them.
func (e *Engine) resolvedLocked(st *state, inc Incident, took time.Duration) []Item {
	if took <= 0 && inc.Resolved != nil {
		took = inc.Resolved.Sub(inc.Opened)
	}
	st.Inc = inc
	now := e.o.Clock.Now()
	dur := took.Round(time.Second).String()
	var items []Item
	switch {
	case len(st.Notified) > 0 && inc.SelfHealed():
		items = e.itemsLocked(st, "self-healed", st.Notified, "self-healed after "+dur+": "+inc.Summary, now)
	case len(st.Notified) > 0:
		why := "resolved after " + dur
		if inc.Resolution != "" {
			why += " (" + inc.Resolution + ")"
		}
		items = e.itemsLocked(st, "resolved", st.Notified, why+": "+inc.Summary, now)
	case inc.SelfHealed():
		if p, ok := e.policyLocked(st.Policy); ok && p.SelfHealedInfo && len(p.Steps) > 0 {
			items = e.itemsLocked(st, "self-healed", e.expandLocked(p.Steps[0].Channels, now), "self-healed after "+dur+", nobody needs to act: "+inc.Summary, now)
		}
	}
	return items
}

// itemsLocked makes one message per channel about st's incident.
func (e *Engine) itemsLocked(st *state, kind string, channels []string, summary string, now time.Time) []Item {
	var out []Item
	for _, ch := range channels {
		m := Message{ID: newID(), Kind: kind, Incident: st.Inc.ID, Site: st.Inc.Site, Device: st.Inc.Device, Check: st.Inc.Check,
			Severity: string(st.Inc.Severity), Status: st.Inc.Status.String(), Summary: summary, Since: st.Inc.Opened, Healing: st.Inc.HealingTried(), Time: now, Thread: st.Thread}
		switch kind {
		case "opened", "reminder", "escalated":
			m.AckURL = e.o.AckURL(st.Inc.ID)
		}
		if m.Thread == "" {
			m.Thread = m.ID
		}
		out = append(out, Item{Channel: ch, Message: m, Created: now, Next: now})
	}
	return out
}

// commitLocked queues items and saves (or deletes) states in one
// transaction (or holds them in memory while the store cannot write),
// then wakes the delivery loop.
func (e *Engine) commitLocked(items []Item, save, del []uint64) {
	docs := map[uint64][]byte{}
	for _, id := range save {
		if st := e.states[id]; st != nil {
			docs[id], _ = json.Marshal(st)
		}
	}
	for _, id := range del {
		docs[id] = nil
		delete(e.states, id)
	}
	if len(items) == 0 && len(docs) == 0 {
		return
	}
	// When the store cannot write, e.box holds items and states in
	// memory (items are delivered from there) and logs why: neither is
	// lost while the daemon runs.
	e.box.Commit(items, docs)
	if len(items) > 0 {
		e.poke()
	}
}

func (e *Engine) poke() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// firstDue is when the first step of st goes out: its delay, the group
// window, and while healing is still trying, the healing grace.
func firstDue(st *state, p Policy) time.Time {
	d := max(p.Steps[0].After, p.GroupWindow)
	if st.Inc.HealingPending {
		d = max(d, p.healingGrace())
	}
	return st.Inc.Opened.Add(d)
}

// Tick runs due escalation steps and reminders. Run calls it; tests call
// it after moving a fake clock.
func (e *Engine) Tick() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.box.flush() // what the outbox could not write before (it logs why)
	step, now := e.steps.Check()
	if step != 0 {
		e.shiftLocked(step)
	}
	ids := make([]uint64, 0, len(e.states))
	for id := range e.states {
		ids = append(ids, id)
	}
	slices.Sort(ids) // oldest incident first, in messages and groups
	var items []Item
	var save []uint64
	for _, id := range ids {
		st := e.states[id]
		p, ok := e.policyLocked(st.Policy)
		if !ok || len(p.Steps) == 0 || st.Inc.Acked != nil || st.Inc.InMaintenance {
			continue
		}
		if st.Fired == 0 {
			if now.Before(firstDue(st, p)) {
				continue
			}
			// Incidents that opened within the window with the same
			// site and cause go out now, together.
			batch := []*state{st}
			if p.GroupWindow > 0 {
				for _, oid := range ids {
					o := e.states[oid]
					if oid != id && o.Policy == st.Policy && o.Fired == 0 && o.Inc.Acked == nil && !o.Inc.InMaintenance &&
						o.Inc.Site == st.Inc.Site && o.Inc.Parent == st.Inc.Parent && o.Inc.Opened.Before(st.Inc.Opened.Add(p.GroupWindow)) {
						batch = append(batch, o)
					}
				}
			}
			for _, b := range batch {
				items = append(items, e.fireLocked(b, p, 0, now)...)
				save = append(save, b.Inc.ID)
			}
		}
		// A reminder due now goes to everyone reached so far, even on
		// the tick a later step escalates: an escalation tells new
		// people and must not silence the earlier ones.
		r := p.RepeatFor(st.Inc.Severity)
		remind := r > 0 && len(st.Targets) > 0 && !now.Before(st.LastSent.Add(r))
		earlier := st.Targets
		changed := false
		for st.Fired < len(p.Steps) && !now.Before(st.Inc.Opened.Add(p.Steps[st.Fired].After)) {
			items = append(items, e.fireLocked(st, p, st.Fired, now)...)
			changed = true
		}
		if remind {
			chs := e.expandLocked(earlier, now)
			items = append(items, e.tagged(st, p, e.itemsLocked(st, "reminder", chs, st.Inc.Summary, now))...)
			st.Notified = union(st.Notified, chs)
			st.LastSent = now
			changed = true
		}
		if changed {
			save = append(save, id)
		}
	}
	e.commitLocked(group(items), save, nil)
}

// shiftLocked moves every time the engine counts delays from by step, the
// amount the wall clock was just stepped: a reminder due in ten minutes
// stays ten minutes away whether NTP moved the clock by an hour or by
// fifty years, forward or back. Channel health is in memory and moves too.
func (e *Engine) shiftLocked(step time.Duration) {
	e.o.Log.Warn("wall clock stepped: moving notification deadlines with it", "step", step.String())
	var save []uint64
	for id, st := range e.states {
		st.Inc.Opened = st.Inc.Opened.Add(step)
		if st.Inc.Acked != nil {
			acked := st.Inc.Acked.Add(step)
			st.Inc.Acked = &acked
		}
		if !st.LastSent.IsZero() {
			st.LastSent = st.LastSent.Add(step)
		}
		save = append(save, id)
	}
	for _, h := range e.failing {
		h.Since = h.Since.Add(step)
		if !h.Alerted.IsZero() {
			h.Alerted = h.Alerted.Add(step)
		}
	}
	e.box.Shift(step) // held in memory, and logged, when it cannot be written
	e.commitLocked(nil, save, nil)
}

// fireLocked runs step i of st's policy.
//
// A later step is an escalation only for the people it reaches anew:
// channels already told get their reminders on the usual cadence
// instead, and a step that reaches nobody new sends nothing. Only the
// first step sets when the next reminder is due; an escalation leaves the
// earlier recipients' reminders where they were.
func (e *Engine) fireLocked(st *state, p Policy, i int, now time.Time) []Item {
	chs := e.expandLocked(p.Steps[i].Channels, now)
	if len(chs) == 0 {
		e.o.Log.Error("escalation step reaches nobody", "policy", p.Name, "step", i, "incident", st.Inc.ID)
	}
	st.Targets = union(st.Targets, p.Steps[i].Channels)
	st.Fired = i + 1
	kind := "opened"
	if i > 0 {
		kind = "escalated"
		var fresh []string
		for _, c := range chs {
			if !slices.Contains(st.Notified, c) {
				fresh = append(fresh, c)
			}
		}
		chs = fresh
	} else {
		st.LastSent = now
	}
	st.Notified = union(st.Notified, chs)
	if len(chs) == 0 {
		return nil
	}
	return e.tagged(st, p, e.itemsLocked(st, kind, chs, st.Inc.Summary, now))
}

// tagged sets the grouping key: messages of one kind for one channel
// about incidents of the same policy, site and parent merge.
func (e *Engine) tagged(st *state, p Policy, items []Item) []Item {
	if p.GroupWindow <= 0 {
		return items
	}
	for i := range items {
		items[i].group = p.Name + "\x00" + st.Inc.Site + "\x00" + st.Inc.Parent
	}
	return items
}

func union(a, b []string) []string {
	for _, s := range b {
		if !slices.Contains(a, s) {
			a = append(a, s)
		}
	}
	return a
}

// Run ticks and delivers every second (or when woken) until ctx ends.
func (e *Engine) Run(ctx context.Context) {
	for {
		e.Tick()
		e.Deliver(ctx)
		t := e.o.Clock.NewTimer(time.Second)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-e.wake:
			t.Stop()
		case <-t.C():
		}
	}
}

// Test sends a test message straight through a channel and returns the
// server's answer.
func Test(ctx context.Context, ch Channel, site string, now time.Time) (string, error) {
	m := Message{ID: newID(), Kind: "test", Site: site, Device: "outpost", Check: "notify test", Severity: "info", Status: "ok",
		Summary: "this is a test message from Outpost; nothing is wrong", Time: now}
	m.Thread = m.ID
	return ch.Send(ctx, m)
}
