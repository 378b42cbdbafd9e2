package notify

import (
	"strings"
	"time"
)

// OnCall is a weekly rotation: the person changes every 7 days at the
// handover moment, and overrides (holidays, swaps) win while they last.
// A step names it as "oncall:<name>"; it is resolved when the step fires.
type OnCall struct {
	Name      string
	Handover  time.Time
	Rotation  []string
	Overrides []Override
}

// Override puts Person on call from Start to End.
type Override struct {
	Start, End time.Time
	Person     string
}

// Who is on call at t: an override covering t, else the rotation.
func (o OnCall) Who(t time.Time) string {
	for _, ov := range o.Overrides {
		if !t.Before(ov.Start) && t.Before(ov.End) {
			return ov.Person
		}
	}
	if len(o.Rotation) == 0 {
		return ""
	}
	const week = 7 * 24 * time.Hour
	d := t.Sub(o.Handover)
	weeks := int(d / week)
	if d < 0 && d%week != 0 {
		weeks-- // round down before the handover too
	}
	n := len(o.Rotation)
	return o.Rotation[((weeks%n)+n)%n]
}

// expandLocked resolves "oncall:<name>" entries to the channels of
// whoever is on call at t, without repeats.
func (e *Engine) expandLocked(channels []string, t time.Time) []string {
	var out []string
	for _, c := range channels {
		name, ok := strings.CutPrefix(c, "oncall:")
		if !ok {
			out = union(out, []string{c})
			continue
		}
		for _, oc := range e.o.OnCalls {
			if oc.Name == name {
				who := oc.Who(t)
				if len(e.o.People[who]) == 0 {
					e.o.Log.Error("on-call person has no channels", "rotation", name, "person", who)
				}
				out = union(out, e.o.People[who])
			}
		}
	}
	return out
}

// OnCallNow says who is on call in each rotation now (for the UI).
func (e *Engine) OnCallNow() map[string]string {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.o.Clock.Now()
	out := map[string]string{}
	for _, oc := range e.o.OnCalls {
		out[oc.Name] = oc.Who(now)
	}
	return out
}
