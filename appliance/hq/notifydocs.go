package hq

// notifyDocs keeps the notify engine's states, outbox and delivery log
// in the receiver's store (notify.DocStore), so whichever instance runs
// the watcher next carries on with them.
type notifyDocs struct{ db Store }

const (
	docAlert        = "alert"
	docNotifyState  = "notify-state"
	docNotifyOutbox = "notify-outbox"
	docNotifyLog    = "notify-log"
	// keepNotifyLog bounds the delivery log: the newest attempts stay.
	keepNotifyLog = 10_000
)

func (n notifyDocs) NotifyCommit(states map[uint64][]byte, count int, encode func(i int, seq uint64) []byte) error {
	return n.db.Update(func(tx Tx) error {
		for id, doc := range states {
			var err error
			if doc == nil {
				err = tx.DeleteDoc(docNotifyState, id)
			} else {
				err = tx.PutDoc(docNotifyState, id, doc)
			}
			if err != nil {
				return err
			}
		}
		for i := range count {
			seq, err := tx.NextDoc(docNotifyOutbox)
			if err != nil {
				return err
			}
			if err := tx.PutDoc(docNotifyOutbox, seq, encode(i, seq)); err != nil {
				return err
			}
		}
		return nil
	})
}

func (n notifyDocs) OutboxList(fn func(seq uint64, doc []byte)) error {
	return n.db.View(func(tx Tx) error {
		return tx.Docs(docNotifyOutbox, func(id uint64, doc []byte) error { fn(id, doc); return nil })
	})
}

func (n notifyDocs) NotifyAttempt(seq uint64, doc, logDoc []byte) error {
	return n.db.Update(func(tx Tx) error {
		id, err := tx.NextDoc(docNotifyLog)
		if err != nil {
			return err
		}
		if err := tx.PutDoc(docNotifyLog, id, logDoc); err != nil {
			return err
		}
		if id > keepNotifyLog && id%100 == 0 {
			if err := tx.DeleteDocsBelow(docNotifyLog, id-keepNotifyLog); err != nil {
				return err
			}
		}
		switch {
		case seq == 0:
			return nil
		case doc == nil:
			return tx.DeleteDoc(docNotifyOutbox, seq)
		}
		return tx.PutDoc(docNotifyOutbox, seq, doc)
	})
}

func (n notifyDocs) NotifyStates() (map[uint64][]byte, error) {
	out := map[uint64][]byte{}
	err := n.db.View(func(tx Tx) error {
		return tx.Docs(docNotifyState, func(id uint64, doc []byte) error { out[id] = doc; return nil })
	})
	return out, err
}

func (n notifyDocs) OutboxRewrite(fn func(doc []byte) []byte) error {
	return n.db.Update(func(tx Tx) error {
		return tx.Docs(docNotifyOutbox, func(id uint64, doc []byte) error { return tx.PutDoc(docNotifyOutbox, id, fn(doc)) })
	})
}
