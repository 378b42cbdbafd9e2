package notify

import "encoding/json"

// DocStore is the persistence notify needs: queued messages, the delivery
// log and per-incident state, as JSON documents (the daemon's bbolt store
// implements it).
type DocStore interface {
	OutboxAdd(n int, encode func(i int, seq uint64) []byte) error
	OutboxList(fn func(seq uint64, doc []byte)) error
	OutboxPut(seq uint64, doc []byte) error
	OutboxDelete(seq uint64) error
	NotifyLogAdd(doc []byte) error
	NotifyStatePut(id uint64, doc []byte) error
	NotifyStates() (map[uint64][]byte, error)
}

// NewOutbox makes an Outbox over a DocStore.
func NewOutbox(s DocStore) Outbox { return docOutbox{s} }

type docOutbox struct{ s DocStore }

func (o docOutbox) Enqueue(items []Item) error {
	return o.s.OutboxAdd(len(items), func(i int, seq uint64) []byte {
		items[i].Seq = seq
		doc, _ := json.Marshal(items[i])
		return doc
	})
}

func (o docOutbox) Pending() ([]Item, error) {
	var out []Item
	err := o.s.OutboxList(func(seq uint64, doc []byte) {
		var it Item
		if json.Unmarshal(doc, &it) == nil {
			it.Seq = seq
			out = append(out, it)
		}
	})
	return out, err
}

func (o docOutbox) Update(it Item) error {
	doc, err := json.Marshal(it)
	if err != nil {
		return err
	}
	return o.s.OutboxPut(it.Seq, doc)
}

func (o docOutbox) Remove(seq uint64) error { return o.s.OutboxDelete(seq) }

func (o docOutbox) Log(e LogEntry) error {
	doc, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return o.s.NotifyLogAdd(doc)
}

func (o docOutbox) SaveState(id uint64, doc []byte) error  { return o.s.NotifyStatePut(id, doc) }
func (o docOutbox) LoadStates() (map[uint64][]byte, error) { return o.s.NotifyStates() }
