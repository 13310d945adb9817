package logging

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultQueueSize is how many records the queue holds before it drops: far more than
// the daemon logs in a burst (one record per process stopped, a few per scan), so that
// only a sink stalled for long loses records.
const DefaultQueueSize = 4096

// Queue is an slog.Handler that hands each record to one writer goroutine through a
// bounded channel, so that a slow or stalled sink (a log file on a hung NFS mount, a
// journald that stopped reading, a stderr pipe whose reader stalled) never delays a scan
// or a stop. When the channel is full the record is dropped and counted; the writer
// reports the count ("N log records dropped") as soon as it gets going again.
type Queue struct {
	q *queue
	h slog.Handler
}

type queue struct {
	root    slog.Handler // the drop reports go here, without the callers' attributes
	ch      chan queued
	dropped atomic.Uint64
	done    chan struct{}

	mu     sync.RWMutex // excludes sends from Close
	closed bool
}

type queued struct {
	h     slog.Handler
	r     slog.Record
	flush chan struct{} // not nil: a marker that Flush waits for
}

// NewQueue starts the writer goroutine in front of h, holding at most size records
// (DefaultQueueSize when size <= 0). Close stops it.
func NewQueue(h slog.Handler, size int) *Queue {
	if size <= 0 {
		size = DefaultQueueSize
	}
	q := &queue{root: h, ch: make(chan queued, size), done: make(chan struct{})}
	go q.run()
	return &Queue{q: q, h: h}
}

func (q *queue) run() {
	defer close(q.done)
	for it := range q.ch {
		q.reportDropped()
		if it.flush != nil {
			close(it.flush)
			continue
		}
		it.h.Handle(context.Background(), it.r)
	}
	q.reportDropped()
}

func (q *queue) reportDropped() {
	if n := q.dropped.Swap(0); n > 0 {
		r := slog.NewRecord(time.Now(), slog.LevelWarn,
			fmt.Sprintf("%d log records dropped: the log sinks did not keep up", n), 0)
		r.AddAttrs(slog.Uint64("dropped", n))
		q.root.Handle(context.Background(), r)
	}
}

// Enabled implements slog.Handler.
func (q *Queue) Enabled(ctx context.Context, l slog.Level) bool { return q.h.Enabled(ctx, l) }

// Handle implements slog.Handler: it queues a copy of r and returns at once; a full queue
// or a closed one drops it and counts it.
func (q *Queue) Handle(_ context.Context, r slog.Record) error {
	q.q.mu.RLock()
	defer q.q.mu.RUnlock()
	if q.q.closed {
		q.q.dropped.Add(1)
		return nil
	}
	select {
	case q.q.ch <- queued{h: q.h, r: r.Clone()}:
	default:
		q.q.dropped.Add(1)
	}
	return nil
}

// WithAttrs implements slog.Handler; the result shares the queue.
func (q *Queue) WithAttrs(as []slog.Attr) slog.Handler {
	return &Queue{q: q.q, h: q.h.WithAttrs(as)}
}

// WithGroup implements slog.Handler; the result shares the queue.
func (q *Queue) WithGroup(name string) slog.Handler {
	return &Queue{q: q.q, h: q.h.WithGroup(name)}
}

// Dropped is how many records were dropped and not yet reported.
func (q *Queue) Dropped() uint64 { return q.q.dropped.Load() }

// Flush waits until every record queued before it has been written, or timeout has
// passed; it reports which.
func (q *Queue) Flush(timeout time.Duration) error {
	m := make(chan struct{})
	t := time.NewTimer(timeout)
	defer t.Stop()
	q.q.mu.RLock()
	if q.q.closed {
		q.q.mu.RUnlock()
		return nil
	}
	select {
	case q.q.ch <- queued{flush: m}:
	case <-t.C:
		q.q.mu.RUnlock()
		return fmt.Errorf("log records not written within %v", timeout)
	}
	q.q.mu.RUnlock()
	select {
	case <-m:
		return nil
	case <-t.C:
		return fmt.Errorf("log records not written within %v", timeout)
	}
}

// Close stops taking records and waits until the queued ones are written or timeout has
// passed, so that shutdown is bounded even with a stalled sink; the records still queued
// then are lost, and the error says how many.
func (q *Queue) Close(timeout time.Duration) error {
	q.q.mu.Lock()
	if !q.q.closed {
		q.q.closed = true
		close(q.q.ch)
	}
	q.q.mu.Unlock()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-q.q.done:
		return nil
	case <-t.C:
		return fmt.Errorf("%d log records not written within %v", len(q.q.ch), timeout)
	}
}
