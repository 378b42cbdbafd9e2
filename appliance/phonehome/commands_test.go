package phonehome_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"outpost/appliance/hq"
	"outpost/appliance/phonehome/wire"
)

// dropFirstCommandReply lets hq store the summary and answer, then cuts
// the connection instead of passing on the first answer that carries a
// command: the reply is lost after hq has done its part.
func dropFirstCommandReply(dropped *atomic.Bool) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			if strings.Contains(rec.Body.String(), `"commands"`) && dropped.CompareAndSwap(false, true) {
				c, _, err := w.(http.Hijacker).Hijack()
				if err == nil {
					c.Close()
				}
				return
			}
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			w.Write(rec.Body.Bytes())
		})
	}
}

// TestCommandSurvivesLostReply: hq's reply carrying an inventory request
// is lost after hq stored the summary; the box's retry is a duplicate,
// and its reply carries the request again, which the box handles once;
// hq keeps it pending until a summary says it was done. Before the fix
// the request went with the first reply only and was lost with it.
func TestCommandSurvivesLostReply(t *testing.T) {
	var dropped atomic.Bool
	r := newRigWith(t, 1<<20, dropFirstCommandReply(&dropped))
	r.run(t)
	waitUntil(t, "the start summary", func() bool { return r.phone.Status().LastAck >= 1 })
	c, err := r.hq.Queue(r.id.ID(), hq.QueueRequest{Inventory: true, What: "full inventory"})
	if err != nil {
		t.Fatal(err)
	}
	r.phone.Kick("interval")
	var got hq.Command
	waitUntil(t, "hq to hear the inventory request was done", func() bool {
		b, _, _ := r.hq.Box(r.id.ID())
		got = b.Commands[0]
		return !got.Pending()
	})
	if !dropped.Load() || r.phone.Status().Duplicates < 1 {
		t.Fatalf("the reply was not lost on the way (dropped %v, status %+v)", dropped.Load(), r.phone.Status())
	}
	if got.ID != c.ID || got.Result != wire.CommandDone || got.Sent < 2 {
		t.Fatalf("command at hq: %+v", got)
	}
	waitUntil(t, "the full inventory at hq", func() bool {
		sums, _ := r.hq.Summaries(r.id.ID(), 1)
		return len(sums) == 1 && len(sums[0].Inventory.Full) == 1
	})
	// Handled once, however many replies carried it; forgotten once a
	// reply no longer carries it.
	r.phone.Kick("interval")
	waitUntil(t, "the box to let the command go", func() bool { return len(r.phone.Status().Commands) == 0 })
	r.mu.Lock()
	fulls := r.fulls
	r.mu.Unlock()
	if fulls != 1 {
		t.Fatalf("the inventory request was handled %d times", fulls)
	}
}

// TestRenumberAfterConflict: hq holds summaries 1 to 4 from this
// box's key with other content (the box was restored from a backup made
// before them); the box's summary 1 is refused with 409 naming 4, and
// the box numbers its queue on from 5, so it is taken; hq keeps what it
// had and counts the conflict. Before the fix the box retried summary 1
// forever and hq refused it forever.
func TestRenumberAfterConflict(t *testing.T) {
	r := newRig(t, 1<<20)
	client := r.srv.Client()
	for seq := uint64(1); seq <= 4; seq++ {
		body, _ := wire.Encode(wire.Summary{Schema: wire.Schema, Box: wire.Box{ID: r.id.ID(), Site: "Before the backup was restored"}, Seq: seq, Time: time.Now(), Reason: "interval"})
		req, _ := http.NewRequest("POST", r.srv.URL+"/v1/summaries", bytes.NewReader(body))
		wire.Sign(req.Header, r.id.ID(), seq, time.Now().UTC().Format(time.RFC3339Nano), body, r.id.Sign)
		resp, err := client.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("old summary %d: %v %v", seq, resp, err)
		}
		resp.Body.Close()
	}
	r.run(t)
	waitUntil(t, "the box to renumber and deliver", func() bool { st := r.phone.Status(); return st.LastAck >= 5 && st.Depth == 0 })
	st := r.phone.Status()
	if st.Renumbered != 1 || !strings.Contains(st.LastRenumber, "up to seq 4") || !strings.Contains(st.LastError, "409 Conflict") || st.NextSeq != 6 {
		t.Fatalf("status: %+v", st)
	}
	seqs, _ := r.hq.Seqs(r.id.ID())
	b, _, _ := r.hq.Box(r.id.ID())
	sums, _ := r.hq.Summaries(r.id.ID(), 1)
	if fmt.Sprint(seqs) != "[1 2 3 4 5]" || b.Conflicts != 1 || b.LastConflict.Seq != 1 || sums[0].Seq != 5 || sums[0].Reason != "start" {
		t.Fatalf("hq: seqs %v, conflicts %d, newest %+v", seqs, b.Conflicts, sums[0])
	}
	old, _ := r.hq.Summaries(r.id.ID(), 5)
	if old[4].Box.Site != "Before the backup was restored" {
		t.Fatalf("hq replaced what it held under seq 1: %+v", old[4].Box)
	}
}

// TestConflictAnswerBounded: a 409 that does not name the refused
// summary, names a newest below it, or one absurdly far ahead moves
// nothing: the box keeps its numbers and says why.
func TestConflictAnswerBounded(t *testing.T) {
	for _, c := range []struct {
		body, want string
	}{
		{`{"error":"x","seq":9,"last_seq":20}`, `receiver answered 409 Conflict: {"error":"x","seq":9`},
		{`{"error":"x","seq":1,"last_seq":0}`, "naming 0 as its newest, below it: not renumbered"},
		{fmt.Sprintf(`{"error":"x","seq":1,"last_seq":%d}`, uint64(1)<<50), "more than 1099511627776 past it: not renumbered"},
		{`not JSON`, "receiver answered 409 Conflict: not JSON"},
	} {
		t.Run(c.want, func(t *testing.T) {
			r := newRigWith(t, 1<<20, func(http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
					w.WriteHeader(http.StatusConflict)
					w.Write([]byte(c.body))
				})
			})
			r.run(t)
			waitUntil(t, "the 409", func() bool { return r.phone.Status().LastError != "" })
			st := r.phone.Status()
			e, _, _ := r.st.PhoneOldest()
			if !strings.Contains(st.LastError, c.want) || st.Renumbered != 0 || st.NextSeq != 2 || e.Seq != 1 {
				t.Fatalf("status %+v, oldest queued %d", st, e.Seq)
			}
		})
	}
}
