package notify_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"outpost/checks/incident"
	"outpost/notify"
)

// smsGateway is a Twilio-compatible Messages API that answers each
// number as told: fail[number] is the statuses of its next requests
// (then 201), and it counts the texts each number was sent.
type smsGateway struct {
	srv  *httptest.Server
	mu   sync.Mutex
	fail map[string][]int
	got  map[string]int // requests per number
	keys map[string][]string
}

func newSMSGateway(t *testing.T, fail map[string][]int) *smsGateway {
	g := &smsGateway{fail: fail, got: map[string]int{}, keys: map[string][]string{}}
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		to := r.PostForm.Get("To")
		g.mu.Lock()
		defer g.mu.Unlock()
		g.got[to]++
		g.keys[to] = append(g.keys[to], r.Header.Get("X-Outpost-Idempotency-Key"))
		if q := g.fail[to]; len(q) > 0 {
			g.fail[to] = q[1:]
			if q[0] == http.StatusTooManyRequests {
				w.Header().Set("Retry-After", "120")
			}
			w.WriteHeader(q[0])
			w.Write([]byte(`{"message":"gateway says no"}`))
			return
		}
		w.WriteHeader(http.StatusCreated)
		w.Write([]byte(`{"sid":"SM1","status":"queued"}`))
	}))
	t.Cleanup(g.srv.Close)
	return g
}

func (g *smsGateway) counts() map[string]int {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := map[string]int{}
	for k, v := range g.got {
		out[k] = v
	}
	return out
}

const (
	num1, num2, num3 = "+2010000001", "+2020000002", "+2030000003"
)

func smsChannel(t *testing.T, g *smsGateway) map[string]notify.Channel {
	t.Helper()
	return channels(t, "  channels:\n    - {name: sms, kind: sms, options: {url: '"+g.srv.URL+"/sms', account: AC1, token: secret, from: '+1000000000', to: ['"+num1+"', '"+num2+"', '"+num3+"']}}\n")
}

func sameCounts(got, want map[string]int) bool {
	if len(got) != len(want) {
		return false
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

// TestSMSRetryGoesOnlyToFailedNumbers: an SMS to three numbers whose
// gateway fails one of them (503, twice) is retried through the outbox
// to that number alone: the other two get one text each, not one per
// attempt, and the log says which number is retried.
func TestSMSRetryGoesOnlyToFailedNumbers(t *testing.T) {
	g := newSMSGateway(t, map[string][]int{num2: {http.StatusServiceUnavailable, http.StatusServiceUnavailable}})
	h := newHarness(t, smsChannel(t, g), notify.Options{
		Policies: []notify.Policy{{Name: "p", Steps: []notify.Step{{Channels: []string{"sms"}}}}},
	})
	h.e.Opened(notify.Incident{Site: "Acme", Incident: incident.Incident{ID: 1, Check: "db", Device: "db01", Severity: "critical", Opened: t0, Summary: "down"}})
	h.step(0)
	if got := g.counts(); !sameCounts(got, map[string]int{num1: 1, num2: 1, num3: 1}) {
		t.Fatalf("first attempt: texts per number %v, want one each", got)
	}
	// Backoff is jittered; an hour covers every retry's wait.
	for i := 0; i < 10; i++ {
		if left, _ := notify.NewOutbox(h.st).Pending(); len(left) == 0 {
			break
		}
		h.step(time.Hour)
	}
	if left, _ := notify.NewOutbox(h.st).Pending(); len(left) != 0 {
		t.Fatalf("still queued: %+v", left)
	}
	if got := g.counts(); !sameCounts(got, map[string]int{num1: 1, num2: 3, num3: 1}) {
		t.Fatalf("texts per number %v: the numbers that got the text must not get it again", got)
	}
	if k := g.keys[num2]; len(k) != 3 || k[0] != k[2] || !strings.HasSuffix(k[0], ":"+num2) {
		t.Fatalf("idempotency keys for the retried number %v: one, stable across retries", k)
	}
	var entries []notify.LogEntry
	h.st.NotifyLogList(func(doc []byte) bool {
		var e notify.LogEntry
		json.Unmarshal(doc, &e)
		entries = append(entries, e)
		return true
	})
	var first, last notify.LogEntry
	for _, e := range entries {
		switch e.Attempt {
		case 1:
			first = e
		case 3:
			last = e
		}
	}
	if first.OK || !strings.Contains(first.Answer, "to "+num2+": answered 503") || !strings.Contains(first.Answer, "sent to "+num1+", "+num3) ||
		!strings.HasSuffix(first.Answer, "retrying only "+num2) {
		t.Fatalf("first attempt logged as %+v", first)
	}
	if !last.OK || !last.Final || !strings.Contains(last.Answer, num1+": 201 Created") || !strings.Contains(last.Answer, "(earlier attempt)") {
		t.Fatalf("last attempt logged as %+v (all: %+v)", last, entries)
	}
}

// TestSMSRefusedNumber: a number the gateway refuses for good (400) does
// not stop the others being texted, nor make them texted again: with a
// transient failure beside it the message is retried (to that number
// only), and it ends failed for good, naming the refused number.
func TestSMSRefusedNumber(t *testing.T) {
	ctx := context.Background()
	m := notify.Message{ID: "m1", Kind: "opened", Site: "Acme", Device: "db01", Check: "db", Severity: "critical", Status: "critical", Summary: "down", Since: t0, Time: t0}

	g := newSMSGateway(t, map[string][]int{num1: {http.StatusBadRequest}})
	ch := smsChannel(t, g)["sms"]
	_, err := ch.Send(ctx, m)
	if !notify.IsPermanent(err) || !strings.Contains(err.Error(), "to "+num1+": answered 400") || !strings.Contains(err.Error(), "sent to "+num2+", "+num3) {
		t.Fatalf("one number refused: %v", err)
	}
	if got := g.counts(); !sameCounts(got, map[string]int{num1: 1, num2: 1, num3: 1}) {
		t.Fatalf("texts per number %v: every number is tried once", got)
	}

	g = newSMSGateway(t, map[string][]int{num1: {http.StatusBadRequest}, num3: {http.StatusTooManyRequests}})
	ch = smsChannel(t, g)["sms"]
	_, err = ch.Send(ctx, m)
	var ra *notify.RetryAfterError
	if notify.IsPermanent(err) || !errors.As(err, &ra) || ra.After != 2*time.Minute || !strings.HasSuffix(err.Error(), "retrying only "+num3) {
		t.Fatalf("refused and rate-limited: %v (want a retry after the gateway's 2m, for %s only)", err, num3)
	}
	_, err = ch.Send(ctx, m)
	if !notify.IsPermanent(err) || !strings.Contains(err.Error(), "to "+num1+": answered 400") {
		t.Fatalf("the retry: %v, want failed for good naming %s", err, num1)
	}
	if got := g.counts(); !sameCounts(got, map[string]int{num1: 1, num2: 1, num3: 2}) {
		t.Fatalf("texts per number %v", got)
	}
	// Another message starts afresh.
	m.ID = "m2"
	if _, err := ch.Send(ctx, m); err != nil {
		t.Fatal(err)
	}
	if got := g.counts(); !sameCounts(got, map[string]int{num1: 2, num2: 2, num3: 3}) {
		t.Fatalf("texts per number after a second message %v", got)
	}
}
