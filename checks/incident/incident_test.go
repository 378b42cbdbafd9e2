package incident_test

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"outpost/checks"
	"outpost/checks/incident"
)

// full is an incident with every field set, to the nested ones.
func full() incident.Incident {
	t0 := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	acked, resolved, ok := t0.Add(5*time.Minute), t0.Add(time.Hour), true
	return incident.Incident{ID: 42, Check: "db", Kind: "tcp", Device: "db01", Group: "servers", Severity: checks.SeverityCritical,
		Status: checks.Critical, State: incident.Resolved, Summary: "connection refused", Flapping: true, InMaintenance: true,
		Children: []string{"app"}, HealingSuspended: true, Escalated: true, Opened: t0, Acked: &acked, AckedBy: "ann",
		Resolved: &resolved, Resolution: incident.SelfHealed,
		Timeline: []incident.Event{{Time: t0, Kind: incident.Healing, By: "outpost", Text: "restart service db", Output: "done", OK: &ok}}}
}

// stored is full() as the incident store holds it: the format of every
// incident already on a box, which must not change.
const stored = `{"id":42,"check":"db","kind":"tcp","device":"db01","group":"servers","severity":"critical","status":"critical","state":"resolved","summary":"connection refused","flapping":true,"in_maintenance":true,"children":["app"],"healing_suspended":true,"escalated":true,"opened":"2026-11-24T03:00:00Z","acked":"2026-11-24T03:05:00Z","acked_by":"ann","resolved":"2026-11-24T04:00:00Z","resolution":"self-healed","timeline":[{"time":"2026-11-24T03:00:00Z","kind":"healing","by":"outpost","text":"restart service db","output":"done","ok":true}]}`

// nonZero fails for any field of v (recursively through structs,
// pointers and the first element of slices) left at its zero value, so
// that a field added to the model must be added here too.
func nonZero(t *testing.T, path string, v reflect.Value) {
	t.Helper()
	if v.IsZero() {
		t.Errorf("%s is not set in the test incident", path)
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		nonZero(t, path, v.Elem())
	case reflect.Slice:
		nonZero(t, path+"[0]", v.Index(0))
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(time.Time{}) {
			return
		}
		for i := 0; i < v.NumField(); i++ {
			nonZero(t, path+"."+v.Type().Field(i).Name, v.Field(i))
		}
	}
}

// TestStoredJSONRoundTrip: the model goes through the stored JSON and
// back with every field kept, and the JSON is the stored format.
func TestStoredJSONRoundTrip(t *testing.T) {
	inc := full()
	nonZero(t, "Incident", reflect.ValueOf(inc))
	doc, err := json.Marshal(inc)
	if err != nil {
		t.Fatal(err)
	}
	if string(doc) != stored {
		t.Errorf("stored JSON changed:\n got %s\nwant %s", doc, stored)
	}
	var back incident.Incident
	if err := json.Unmarshal(doc, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, inc) {
		t.Errorf("round trip lost something:\n got %+v\nwant %+v", back, inc)
	}
	// An incident stored without a severity (or with one config no
	// longer accepts) still loads as it was.
	var odd incident.Incident
	if err := json.Unmarshal([]byte(`{"id":1,"severity":"","status":"warning","state":"open"}`), &odd); err != nil || odd.Severity != "" {
		t.Errorf("empty severity: %v %q", err, odd.Severity)
	}
}

// TestCloneSharesNothing: what the engine changes after handing out a
// clone does not reach the clone.
func TestCloneSharesNothing(t *testing.T) {
	inc := full()
	c := inc.Clone()
	if !reflect.DeepEqual(c, inc) {
		t.Fatalf("clone differs: %+v", c)
	}
	inc.Timeline[0].Text, *inc.Timeline[0].OK, inc.Children[0] = "changed", false, "changed"
	*inc.Acked, *inc.Resolved = inc.Acked.Add(time.Hour), inc.Resolved.Add(time.Hour)
	if !reflect.DeepEqual(c, full()) {
		t.Errorf("clone changed with the original: %+v", c)
	}
}

func TestDerived(t *testing.T) {
	inc := full()
	if !inc.SelfHealed() || inc.IsOpen() {
		t.Error("self-healed and resolved")
	}
	inc.Timeline = append(inc.Timeline, incident.Event{Kind: incident.Note, Text: "a note"}, incident.Event{Kind: incident.Healing, Text: "reboot"})
	if got := inc.HealingTried(); !reflect.DeepEqual(got, []string{"restart service db", "reboot"}) {
		t.Errorf("healing tried %q", got)
	}
}
