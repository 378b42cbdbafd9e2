package phonehome_test

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"outpost/appliance/hq"
	"outpost/appliance/phonehome"
	"outpost/appliance/phonehome/wire"
)

// TestAckRelayedFromReceiver: the receiver's replies name its
// acknowledge pages, which the box keeps (across a restart too); an
// acknowledgement queued at the receiver is handed to the box's Acks
// once, and what the box said (done, or refused with why) reaches the
// receiver in the next summary.
func TestAckRelayedFromReceiver(t *testing.T) {
	r := newRig(t, 1<<20)
	r.run(t)
	waitUntil(t, "the start summary", func() bool { return r.phone.Status().LastAck >= 1 })
	if got := r.phone.AckBase(); got != rigAckBase || r.phone.Status().AckBase != rigAckBase {
		t.Fatalf("ack base %q, want %q", got, rigAckBase)
	}
	later, err := phonehome.New(phonehome.Options{URL: r.srv.URL + "/v1/summaries", Outbox: storeOutbox{r.st}, Commands: blobCommands{r.st}, Signer: r.id})
	if err != nil || later.AckBase() != rigAckBase {
		t.Fatalf("after a restart the ack base is %q (%v)", later.AckBase(), err)
	}

	tok := make([]byte, 48)
	binary.BigEndian.PutUint64(tok, 4)
	binary.BigEndian.PutUint64(tok[8:], uint64(time.Now().Add(time.Hour).Unix()))
	link := base64.RawURLEncoding.EncodeToString(tok)
	good, err := r.hq.QueueAck(r.id.ID(), wire.Ack{Via: wire.AckViaLink, Token: link, By: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	bad, err := r.hq.QueueAck(r.id.ID(), wire.Ack{Via: wire.AckViaLink, Token: link[:60] + "BBBB", By: "refuse"})
	if err != nil {
		t.Fatal(err)
	}
	r.phone.Kick("interval")
	byID := map[uint64]hq.Command{}
	waitUntil(t, "hq to hear what the box did with both", func() bool {
		b, _, _ := r.hq.Box(r.id.ID())
		for _, c := range b.Commands {
			byID[c.ID] = c
		}
		return !byID[good.ID].Pending() && !byID[bad.ID].Pending()
	})
	if c := byID[good.ID]; c.Result != wire.CommandDone || c.Detail != "incident 4 acknowledged by bob via hq (link)" {
		t.Fatalf("good link at hq: %+v", c)
	}
	if c := byID[bad.ID]; c.Result != wire.CommandRefused || c.Detail != "acknowledge link refused: this acknowledge link is not valid" {
		t.Fatalf("bad link at hq: %+v", c)
	}
	r.phone.Kick("interval")
	waitUntil(t, "the box to let the commands go", func() bool { return len(r.phone.Status().Commands) == 0 })
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.acks) != 2 || r.acks[0].Token != link || r.acks[0].Incident != 4 {
		t.Fatalf("the box's Acks were handed %+v", r.acks)
	}
}

// TestBadAckBaseIgnored: a reply naming acknowledge pages that are not
// an https address (a receiver that would send technicians to a script
// or a plain page) is ignored: the box's links stay its own.
func TestBadAckBaseIgnored(t *testing.T) {
	rewrite := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(rec.Code)
			w.Write(bytes.Replace(rec.Body.Bytes(), []byte(`"ack_base":"`+rigAckBase+`"`), []byte(`"ack_base":"javascript:alert(1)//"`), 1))
		})
	}
	r := newRigWith(t, 1<<20, rewrite)
	r.run(t)
	waitUntil(t, "the start summary", func() bool { return r.phone.Status().LastAck >= 1 })
	if got := r.phone.AckBase(); got != "" {
		t.Fatalf("ack base %q taken from the reply", got)
	}
}
