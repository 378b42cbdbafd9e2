package phonehome

import (
	"encoding/json"
	"fmt"

	"outpost/appliance/phonehome/wire"
)

// maxRenumber bounds how far past the refused summary's number a 409
// may move the box's numbering: more than any real history (a summary
// every 200 ms for a century), far short of overflow.
const maxRenumber = 1 << 40

// conflict handles the receiver's 409 for summary e: the receiver holds
// other summaries under this box's numbers up to wire.Conflict.LastSeq,
// which only a box restored from an old backup (or a clone of it) can
// have signed. The box numbers its queue on past them, in order, each
// body made for its new number (and signed anew when sent), so its
// summaries are taken again; the receiver keeps what it had and counts
// the conflict for a person to see. The answer moves the numbering only
// forward and at most maxRenumber, and comes over the verified TLS
// connection; an answer that does not name this summary or a newest at
// or above it changes nothing. The returned error is the attempt's, for
// the status: the next attempt comes after the usual backoff.
func (p *Phone) conflict(e Entry, status string, data []byte) error {
	var c wire.Conflict
	if err := json.Unmarshal(data, &c); err != nil || c.Seq != e.Seq {
		return fmt.Errorf("receiver answered %s: %s", status, snippet(data))
	}
	why := snippet([]byte(c.Error))
	switch {
	case c.LastSeq < e.Seq:
		return fmt.Errorf("receiver answered %s for summary %d, naming %d as its newest, below it: not renumbered: %s", status, e.Seq, c.LastSeq, why)
	case c.LastSeq-e.Seq > maxRenumber:
		return fmt.Errorf("receiver answered %s for summary %d, naming %d as its newest, more than %d past it: not renumbered: %s", status, e.Seq, c.LastSeq, uint64(maxRenumber), why)
	}
	moved, from, err := p.o.Outbox.PhoneRenumber(c.LastSeq, renumberBody)
	if err != nil {
		return fmt.Errorf("receiver holds other summaries up to seq %d (%s); renumbering the queue past them failed: %w", c.LastSeq, status, err)
	}
	if moved == 0 {
		return fmt.Errorf("receiver answered %s for summary %d, which is no longer queued at or below its newest %d: %s", status, e.Seq, c.LastSeq, why)
	}
	what := fmt.Sprintf("the receiver holds other summaries under this box's numbers up to seq %d (a box restored from an old backup?): %d queued summaries renumbered from seq %d as %d on", c.LastSeq, moved, from, c.LastSeq+1)
	p.mu.Lock()
	p.st.Renumbered++
	p.st.LastRenumber = p.o.Clock.Now().UTC().Format("2006-01-02 15:04:05 UTC") + ": " + what
	p.mu.Unlock()
	p.o.Log.Warn("phone home: "+what, "refused_seq", e.Seq, "receiver_last_seq", c.LastSeq, "receiver_said", why)
	return fmt.Errorf("receiver answered %s: %s", status, what)
}

// renumberBody is a queued summary made to carry sequence number seq.
func renumberBody(body []byte, seq uint64) ([]byte, error) {
	s, err := wire.Decode(body)
	if err != nil {
		return nil, err
	}
	s.Seq = seq
	return wire.Encode(s)
}
