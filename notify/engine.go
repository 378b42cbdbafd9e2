package notify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"outpost/appliance/clock"
)

// Policy decides who hears about which incidents, and when.
type Policy struct {
	Name string
	// Severities, Groups and Devices match incidents (each empty: any).
	Severities []string
	Groups     []string
	Devices    []string
	// Steps notify channels in order, each After the incident opened
	// while it is still unacknowledged.
	Steps []Step
	// Repeat re-notifies every channel notified so far this often until
	// the incident is acknowledged or resolved (0: no reminders).
	Repeat time.Duration
	// SelfHealedInfo sends an info message for incidents that healed
	// before anybody was notified (default: say nothing).
	SelfHealedInfo bool
	// GroupWindow holds the first message this long so that incidents
	// opening together (a site losing power, everything behind a dead
	// link) go out as one message per channel (0: no grouping).
	GroupWindow time.Duration
}

// Step is one escalation step.
type Step struct {
	After    time.Duration
	Channels []string
}

// Matches reports whether the policy applies to an incident.
func (p Policy) Matches(inc Incident) bool {
	return (len(p.Severities) == 0 || slices.Contains(p.Severities, inc.Severity)) &&
		(len(p.Groups) == 0 || slices.Contains(p.Groups, inc.Group)) &&
		(len(p.Devices) == 0 || slices.Contains(p.Devices, inc.Device))
}

// Item is one message for one channel in the outbox.
type Item struct {
	Seq      uint64    `json:"seq"`
	Channel  string    `json:"channel"`
	Message  Message   `json:"message"`
	Attempts int       `json:"attempts"`
	Next     time.Time `json:"next"`
}

// LogEntry records one delivery attempt.
type LogEntry struct {
	Time     time.Time `json:"time"`
	Channel  string    `json:"channel"`
	Message  string    `json:"message"`
	Incident uint64    `json:"incident"`
	Kind     string    `json:"kind"`
	OK       bool      `json:"ok"`
	Final    bool      `json:"final"` // delivered, or given up (permanent)
	Answer   string    `json:"answer"`
}

// Outbox persists queued messages, the delivery log and each incident's
// notification state (bbolt in the daemon). Enqueue is durable before it
// returns; an item stays until Remove, so a crash between sending and
// recording sends it again (at least once; receivers drop duplicates by
// message id).
type Outbox interface {
	Enqueue(items []Item) error
	Pending() ([]Item, error)
	Update(it Item) error
	Remove(seq uint64) error
	Log(e LogEntry) error
	SaveState(incident uint64, doc []byte) error
	LoadStates() (map[uint64][]byte, error)
}

// state is what the engine remembers of an incident between events.
type state struct {
	Inc      Incident  `json:"inc"`
	Policy   string    `json:"policy"`
	Fired    int       `json:"fired"` // steps done
	Notified []string  `json:"notified"`
	LastSent time.Time `json:"last_sent"`
	Done     bool      `json:"done"`
	Thread   string    `json:"thread"`
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
}

// Engine runs the policies and the outbox.
type Engine struct {
	o      Options
	mu     sync.Mutex
	states map[uint64]*state
	wake   chan struct{}
	// failing counts consecutive failed attempts per channel; alerted
	// is when the channel's own alert last went out.
	failing map[string]int
	alerted map[string]time.Time
}

// New loads the notification state of open incidents and returns an
// Engine; call Run.
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
	e := &Engine{o: o, states: map[uint64]*state{}, wake: make(chan struct{}, 1), failing: map[string]int{}, alerted: map[string]time.Time{}}
	docs, err := o.Outbox.LoadStates()
	if err != nil {
		return nil, err
	}
	for id, doc := range docs {
		var st state
		if json.Unmarshal(doc, &st) == nil && !st.Done {
			e.states[id] = &st
		}
	}
	return e, nil
}

func newID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (e *Engine) policy(name string) (Policy, bool) {
	for _, p := range e.o.Policies {
		if p.Name == name {
			return p, true
		}
	}
	return Policy{}, false
}

// Opened starts notifying for a new incident, if a policy matches and it
// is not in a maintenance window.
func (e *Engine) Opened(inc Incident) {
	if inc.InMaintenance {
		return
	}
	for _, p := range e.o.Policies {
		if p.Matches(inc) {
			e.mu.Lock()
			if _, dup := e.states[inc.ID]; !dup {
				e.states[inc.ID] = &state{Inc: inc, Policy: p.Name, Thread: newID()}
				e.saveLocked(inc.ID)
			}
			e.mu.Unlock()
			e.poke()
			return
		}
	}
}

// Updated refreshes what messages say about the incident.
func (e *Engine) Updated(inc Incident) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if st := e.states[inc.ID]; st != nil {
		st.Inc = inc
		e.saveLocked(inc.ID)
	}
}

// Acknowledged stops escalation and reminders.
func (e *Engine) Acknowledged(id uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if st := e.states[id]; st != nil {
		st.Done = true
		e.saveLocked(id)
		delete(e.states, id)
	}
}

// Resolved stops everything and tells whoever was notified, with how long
// it lasted.
func (e *Engine) Resolved(inc Incident, took time.Duration) {
	e.mu.Lock()
	st := e.states[inc.ID]
	var items []Item
	if st != nil {
		st.Inc = inc
		summary := fmt.Sprintf("resolved after %s: %s", took.Round(time.Second), inc.Summary)
		if len(st.Notified) == 0 {
			if p, _ := e.policy(st.Policy); inc.SelfHealed && p.SelfHealedInfo && len(p.Steps) > 0 {
				items = e.itemsLocked(st, "resolved", e.expand(p.Steps[0].Channels, e.o.Clock.Now()), "self-healed after "+took.Round(time.Second).String()+": "+inc.Summary)
			}
		} else {
			items = e.itemsLocked(st, "resolved", st.Notified, summary)
		}
		st.Done = true
		e.saveLocked(inc.ID)
		delete(e.states, inc.ID)
	}
	e.mu.Unlock()
	e.enqueue(items)
}

func (e *Engine) itemsLocked(st *state, kind string, channels []string, summary string) []Item {
	now := e.o.Clock.Now()
	var out []Item
	for _, ch := range channels {
		m := Message{ID: newID(), Kind: kind, Incident: st.Inc.ID, Site: st.Inc.Site, Device: st.Inc.Device, Check: st.Inc.Check,
			Severity: st.Inc.Severity, Status: st.Inc.Status, Summary: summary, Since: st.Inc.Opened, Healing: st.Inc.Healing, Time: now, Thread: st.Thread}
		if kind != "resolved" {
			m.AckURL = e.o.AckURL(st.Inc.ID)
		}
		out = append(out, Item{Channel: ch, Message: m, Next: now})
	}
	return out
}

func (e *Engine) saveLocked(id uint64) {
	if st := e.states[id]; st != nil {
		doc, _ := json.Marshal(st)
		if err := e.o.Outbox.SaveState(id, doc); err != nil {
			e.o.Log.Error("saving notification state", "incident", id, "err", err)
		}
	}
}

func (e *Engine) enqueue(items []Item) {
	if len(items) == 0 {
		return
	}
	if err := e.o.Outbox.Enqueue(items); err != nil {
		e.o.Log.Error("queueing notifications", "err", err)
	}
	e.poke()
}

func (e *Engine) poke() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// Tick runs due escalation steps and reminders. Run calls it; tests call
// it after moving a fake clock.
func (e *Engine) Tick() {
	now := e.o.Clock.Now()
	var items []Item
	e.mu.Lock()
	ids := make([]uint64, 0, len(e.states))
	for id := range e.states {
		ids = append(ids, id)
	}
	slices.Sort(ids) // oldest incident first, in messages and groups
	for _, id := range ids {
		st := e.states[id]
		p, ok := e.policy(st.Policy)
		if !ok {
			continue
		}
		changed := false
		for st.Fired < len(p.Steps) && !now.Before(st.Inc.Opened.Add(max(p.Steps[st.Fired].After, p.GroupWindow))) {
			kind := "opened"
			if st.Fired > 0 {
				kind = "escalated"
			}
			chs := e.expand(p.Steps[st.Fired].Channels, now)
			items = append(items, e.itemsLocked(st, kind, chs, st.Inc.Summary)...)
			for _, c := range chs {
				if !slices.Contains(st.Notified, c) {
					st.Notified = append(st.Notified, c)
				}
			}
			st.Fired++
			st.LastSent = now
			changed = true
		}
		if !changed && p.Repeat > 0 && len(st.Notified) > 0 && !now.Before(st.LastSent.Add(p.Repeat)) {
			items = append(items, e.itemsLocked(st, "reminder", st.Notified, st.Inc.Summary)...)
			st.LastSent = now
			changed = true
		}
		if changed {
			e.saveLocked(id)
		}
	}
	e.mu.Unlock()
	e.enqueue(group(items))
}

// group merges the first messages of several incidents bound for the same
// channel in one tick into one message.
func group(items []Item) []Item {
	var out []Item
	first := map[string]int{}
	for _, it := range items {
		if it.Message.Kind != "opened" {
			out = append(out, it)
			continue
		}
		i, seen := first[it.Channel]
		if !seen {
			first[it.Channel] = len(out)
			out = append(out, it)
			continue
		}
		m := &out[i].Message
		if !strings.HasPrefix(m.Summary, "several incidents") {
			m.Summary = fmt.Sprintf("several incidents at once: %s on %s (%s)", m.Check, m.Device, m.Summary)
			m.Check = "several checks"
		}
		m.Summary += fmt.Sprintf("; %s on %s (%s)", it.Message.Check, it.Message.Device, it.Message.Summary)
	}
	return out
}

// Deliver tries every due item in the outbox once.
func (e *Engine) Deliver(ctx context.Context) {
	e.mu.Lock()
	channels := e.o.Channels
	e.mu.Unlock()
	items, err := e.o.Outbox.Pending()
	if err != nil {
		e.o.Log.Error("reading the outbox", "err", err)
		return
	}
	now := e.o.Clock.Now()
	for _, it := range items {
		if it.Next.After(now) {
			continue
		}
		ch, ok := channels[it.Channel]
		if !ok {
			e.o.Outbox.Log(LogEntry{Time: now, Channel: it.Channel, Message: it.Message.ID, Incident: it.Message.Incident, Kind: it.Message.Kind, Final: true, Answer: "channel no longer configured"})
			e.o.Outbox.Remove(it.Seq)
			continue
		}
		sctx, cancel := context.WithTimeout(ctx, time.Minute)
		answer, err := ch.Send(sctx, it.Message)
		cancel()
		entry := LogEntry{Time: now, Channel: it.Channel, Message: it.Message.ID, Incident: it.Message.Incident, Kind: it.Message.Kind, OK: err == nil, Answer: answer}
		switch {
		case err == nil:
			e.mu.Lock()
			delete(e.failing, it.Channel)
			e.mu.Unlock()
			entry.Final = true
			e.o.Outbox.Log(entry)
			e.o.Outbox.Remove(it.Seq)
			if it.Message.Incident != 0 {
				e.o.Sent(it.Message.Incident, fmt.Sprintf("%s message sent to %s", it.Message.Kind, it.Channel))
			}
		case IsPermanent(err):
			e.channelFailed(it.Channel, err)
			entry.Final, entry.Answer = true, err.Error()
			e.o.Outbox.Log(entry)
			e.o.Outbox.Remove(it.Seq)
			e.o.Log.Error("notification failed for good", "channel", it.Channel, "err", err)
		default:
			e.channelFailed(it.Channel, err)
			entry.Answer = err.Error()
			e.o.Outbox.Log(entry)
			it.Attempts++
			it.Next = now.Add(Backoff(it.Attempts))
			e.o.Outbox.Update(it)
		}
	}
}

// channelFailed counts a failure; at the third in a row it tells the
// other channels (at most once an hour per channel) that this one is
// broken, since nobody hears about a broken channel through itself.
func (e *Engine) channelFailed(name string, err error) {
	now := e.o.Clock.Now()
	e.mu.Lock()
	e.failing[name]++
	n := e.failing[name]
	if n < 3 || now.Sub(e.alerted[name]) < time.Hour {
		e.mu.Unlock()
		return
	}
	e.alerted[name] = now
	var items []Item
	for other := range e.o.Channels {
		if other == name {
			continue
		}
		m := Message{ID: newID(), Kind: "channel-failing", Device: "outpost", Check: "notification channel " + name, Severity: "warning", Status: "warning",
			Summary: fmt.Sprintf("%s is broken on this box: %d failures in a row, last: %v", name, n, err), Time: now}
		m.Thread = m.ID
		for _, st := range e.states {
			m.Site = st.Inc.Site
			break
		}
		items = append(items, Item{Channel: other, Message: m, Next: now})
	}
	e.mu.Unlock()
	e.o.Log.Error("notification channel failing", "channel", name, "failures", n, "err", err)
	e.enqueue(items)
}

// Backoff is the wait before retry n: exponential from 10 s, capped at
// 30 min, with full jitter.
func Backoff(n int) time.Duration {
	ceil := time.Duration(math.Min(float64(10*time.Second)*math.Pow(2, float64(n-1)), float64(30*time.Minute)))
	return time.Duration(mrand.Int64N(int64(ceil))) + time.Second
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

// Test sends a test message straight through a channel.
func Test(ctx context.Context, ch Channel, site string, now time.Time) (string, error) {
	m := Message{ID: newID(), Kind: "test", Site: site, Device: "outpost", Check: "notify test", Severity: "info", Status: "ok", Summary: "this is a test message from Outpost", Time: now}
	m.Thread = m.ID
	return ch.Send(ctx, m)
}

// Configure swaps in new channels, policies, people and rotations (a
// config reload).
func (e *Engine) Configure(channels map[string]Channel, policies []Policy, people map[string][]string, oncalls []OnCall) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.o.Channels, e.o.Policies, e.o.People, e.o.OnCalls = channels, policies, people, oncalls
}
