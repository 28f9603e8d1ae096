package transport

import (
	"sync"
	"time"
)

// deleteDelay is how long the queue database may keep a finished message
// before its removal is committed. Every removal of that span shares one
// commit: at hundreds of messages a second the removals cost a few
// commits (two fsyncs each) a second instead of one for every few
// messages, about a third of the queue database's fsyncs on the relay
// path. A removal lost in a crash means the message is sent again after
// the restart; the next hop recognises the copy by its Network-Message-Id
// (seen.go, and the mailbox store's DeliverOnce) and answers 250 without
// storing it twice. A clean Close commits what is pending.
const deleteDelay = 50 * time.Millisecond

// deletes gathers the removals of finished messages for one commit.
type deletes struct {
	mu     sync.Mutex
	ids    []int64
	closed bool
	timer  *time.Timer
	flying sync.WaitGroup // commits started by the timer
}

// deleteLater removes message id from the queue database within
// deleteDelay. It never waits for the disk.
func (t *Transport) deleteLater(id int64) {
	d := &t.dels
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return // resumed, and recognised by the next hop, after the restart
	}
	d.ids = append(d.ids, id)
	if len(d.ids) == 1 {
		d.flying.Add(1)
		d.timer = time.AfterFunc(deleteDelay, func() {
			defer d.flying.Done()
			d.mu.Lock()
			ids := d.ids
			d.ids = nil
			d.mu.Unlock()
			t.deleteNow(ids)
		})
	}
}

// deleteNow commits the removal of ids.
func (t *Transport) deleteNow(ids []int64) {
	if len(ids) == 0 {
		return
	}
	if err := t.spool.Delete(ids...); err != nil {
		t.log.Error("queue database", "err", err)
	}
}

// flushDeletes commits every pending removal and takes no more; Close
// calls it before it closes the queue database.
func (t *Transport) flushDeletes() {
	d := &t.dels
	d.mu.Lock()
	d.closed = true
	ids := d.ids
	d.ids = nil
	if d.timer != nil && d.timer.Stop() {
		d.flying.Done() // its commit will not run: ids has its removals
	}
	d.mu.Unlock()
	d.flying.Wait()
	t.deleteNow(ids)
}
