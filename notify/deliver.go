package notify

import (
	"context"
	"errors"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"sync"
	"time"
)

// Deliver tries the due items of the outbox once. Channels are served in
// parallel (a slow mail server does not hold up the chat webhook); within
// a channel messages go strictly in queue order, so "resolved" never
// overtakes "opened".
func (e *Engine) Deliver(ctx context.Context) {
	items, err := e.o.Outbox.Pending()
	if err != nil {
		e.o.Log.Error("reading the outbox", "err", err)
		return
	}
	e.mu.Lock()
	channels := e.o.Channels
	e.mu.Unlock()
	byChannel := map[string][]Item{}
	for _, it := range items {
		byChannel[it.Channel] = append(byChannel[it.Channel], it)
	}
	var wg sync.WaitGroup
	for name, queue := range byChannel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.deliverChannel(ctx, name, channels[name], queue)
		}()
	}
	wg.Wait()
}

func (e *Engine) deliverChannel(ctx context.Context, name string, ch Channel, queue []Item) {
	recipient := ""
	if r, ok := ch.(Recipienter); ok {
		recipient = r.Recipient()
	}
	for _, it := range queue {
		now := e.o.Clock.Now()
		entry := LogEntry{Time: now, Channel: name, Recipient: recipient, Message: it.Message.ID, Incident: it.Message.Incident, Kind: it.Message.Kind, Attempt: it.Attempts + 1}
		if ch == nil {
			entry.Final, entry.Answer = true, "channel no longer configured"
			e.record(it, true, entry)
			continue
		}
		if it.Next.After(now) || ctx.Err() != nil {
			return // the head waits, so everything behind it waits
		}
		sctx, cancel := context.WithTimeout(ctx, e.o.SendTimeout)
		answer, err := ch.Send(sctx, it.Message)
		cancel()
		entry.OK, entry.Answer = err == nil, answer
		if err != nil {
			entry.Answer = err.Error()
		}
		switch {
		case err == nil:
			e.channelOK(name)
			entry.Final = true
			e.record(it, true, entry)
			for _, id := range it.Message.Incidents() {
				if id != 0 {
					e.o.Sent(id, fmt.Sprintf("%s message sent to %s (%s)", it.Message.Kind, name, recipient))
				}
			}
		case IsPermanent(err) || now.Sub(it.Created) >= e.o.MaxAge:
			if !IsPermanent(err) {
				entry.Answer += fmt.Sprintf(" (gave up after %d attempts over %s)", it.Attempts+1, e.o.MaxAge)
			}
			entry.Final = true
			e.record(it, true, entry)
			e.o.Log.Error("notification failed for good", "channel", name, "incident", it.Message.Incident, "err", err)
			e.channelFailed(name, err)
		default:
			it.Attempts++
			wait := Backoff(it.Attempts)
			var ra *RetryAfterError
			if errors.As(err, &ra) {
				wait = min(max(ra.After, time.Second), time.Hour)
			}
			it.Next = now.Add(wait)
			e.record(it, false, entry)
			e.channelFailed(name, err)
			return
		}
	}
}

func (e *Engine) record(it Item, done bool, entry LogEntry) {
	if err := e.o.Outbox.Attempt(it, done, entry); err != nil {
		e.o.Log.Error("recording a notification attempt", "channel", it.Channel, "err", err)
	}
}

// Backoff is the wait before retry n: exponential from 10 s, capped at
// 30 min, with full jitter (so boxes that lost the same server do not
// retry in lockstep), plus one second.
func Backoff(n int) time.Duration {
	ceil := time.Duration(math.Min(float64(10*time.Second)*math.Pow(2, float64(max(n, 1)-1)), float64(30*time.Minute)))
	return time.Duration(mrand.Int64N(int64(ceil))) + time.Second
}

// FailingAfter is how many failures in a row make a channel "broken": it
// then raises its own alert through the other channels, at most once an
// hour, since nobody hears about a broken channel through itself.
const FailingAfter = 3

func (e *Engine) channelOK(name string) {
	e.mu.Lock()
	delete(e.failing, name)
	e.mu.Unlock()
}

func (e *Engine) channelFailed(name string, err error) {
	now := e.o.Clock.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	h := e.failing[name]
	if h == nil {
		h = &ChannelHealth{Since: now}
		e.failing[name] = h
	}
	h.Failures++
	h.LastError = err.Error()
	if h.Failures < FailingAfter || now.Sub(h.Alerted) < time.Hour {
		return
	}
	h.Alerted = now
	site := ""
	for _, st := range e.states {
		site = st.Inc.Site
		break
	}
	var items []Item
	for other := range e.o.Channels {
		if other == name {
			continue
		}
		m := Message{ID: newID(), Kind: "channel-failing", Site: site, Device: "outpost", Check: "notification channel " + name, Severity: "warning", Status: "warning",
			Summary: fmt.Sprintf("%s is broken on this box: %d failures in a row since %s, last: %v", name, h.Failures, h.Since.Format("15:04"), err), Since: h.Since, Time: now}
		m.Thread = m.ID
		items = append(items, Item{Channel: other, Message: m, Created: now, Next: now})
	}
	e.o.Log.Error("notification channel failing", "channel", name, "failures", h.Failures, "err", err)
	e.commitLocked(items, nil, nil)
}

// Failing reports the channels whose recent attempts failed, by name.
func (e *Engine) Failing() map[string]ChannelHealth {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := map[string]ChannelHealth{}
	for n, h := range e.failing {
		out[n] = *h
	}
	return out
}
