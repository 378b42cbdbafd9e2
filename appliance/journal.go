package appliance

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"time"

	"outpost/checks"
	"outpost/checks/syslog"
)

// The box's own journal as an event source (syslog.journal,
// docs/logs.md): a follower runs while the config asks for one and is
// made anew when its settings change; it goes on from the cursor of the
// newest entry the store keeps, so a restart neither loses nor repeats
// entries.

type journalWiring struct {
	mu sync.Mutex
	j  *syslog.Journal
}

func (a *Appliance) journalFollower() *syslog.Journal {
	a.journal.mu.Lock()
	defer a.journal.mu.Unlock()
	return a.journal.j
}

// storedJournalCursor is the cursor of the newest journal entry the
// store keeps ("": none).
func (a *Appliance) storedJournalCursor() string {
	cursor := ""
	err := a.store.ScanEvents(checks.EventQuery{Source: checks.SourceJournal, Devices: []string{checks.BoxDevice}, Newest: true}, func(e checks.Event) bool {
		cursor = e.Fields[checks.FieldCursor]
		return cursor == ""
	})
	if err != nil {
		a.log.Error("journal: reading the stored cursor", "err", err)
	}
	return cursor
}

// runJournal follows the journal while the config in force has a
// syslog.journal section.
func (a *Appliance) runJournal(ctx context.Context) error {
	var (
		cur    *syslog.JournalConfig
		stop   context.CancelFunc
		done   chan struct{}
		cursor = a.storedJournalCursor()
		// With no stored cursor the box begins with the entries written
		// since it started.
		since = time.Now()
	)
	halt := func() {
		if stop == nil {
			return
		}
		stop()
		<-done
		if j := a.journalFollower(); j != nil {
			cursor = j.Stats().Cursor
		}
		stop = nil
	}
	defer halt()
	t := time.NewTicker(syslogFollowEvery)
	defer t.Stop()
	for {
		jc := syslog.ConfigOf(a.Config()).Journal
		if !reflect.DeepEqual(jc, cur) {
			halt()
			cur = jc
			a.journal.mu.Lock()
			a.journal.j = nil
			if jc != nil {
				j := syslog.NewJournal(*jc, checks.BoxDevice, cursor, since, a.store.AppendEvent, a.o.Clock, func(format string, args ...any) { a.log.Warn(fmt.Sprintf(format, args...)) })
				a.journal.j = j
				jctx, cancel := context.WithCancel(ctx)
				stop, done = cancel, make(chan struct{})
				go func() { defer close(done); _ = j.Run(jctx) }()
				a.log.Info("following the box's journal", "units", jc.Units, "priority", jc.Priority, "directory", jc.Directory, "file", jc.File, "after_cursor", cursor != "")
			}
			a.journal.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
