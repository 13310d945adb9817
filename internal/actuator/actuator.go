// Package actuator runs the stops the tracker asks for: SIGTERM through the verified
// handle, SIGKILL when the grace period ends, process_mrelease, and the outcome. Every
// stop in flight is a small record owned by the daemon's loop; their exits arrive on one
// kill.Waiter, their deadlines are the loop's, so a thousand stops cost a thousand small
// records, not a thousand blocked threads.
package actuator

import (
	"errors"
	"time"

	"golang.org/x/sys/unix"

	"github.com/memory-monitor/memory-monitor/internal/event"
	"github.com/memory-monitor/memory-monitor/internal/kill"
	"github.com/memory-monitor/memory-monitor/internal/policy"
)

// Request is one stop to run.
type Request struct {
	Key    policy.Key
	Handle kill.Handle // verified; the actuator owns it from now on
	Grace  time.Duration
	// Event is the template of the events about this stop: the process, its memory,
	// the threshold and the scan context.
	Event event.Event
}

// Done is a stop that ended.
type Done struct {
	Key     policy.Key
	Outcome kill.Outcome
}

type phase uint8

const (
	phaseTerm phase = iota + 1 // SIGTERM sent, waiting for the exit or the end of the grace period
	phaseKill                  // SIGKILL sent, waiting for the exit
)

// pollEvery is how often a stop whose handle the waiter could not take is polled.
const pollEvery = 100 * time.Millisecond

type stop struct {
	key       policy.Key
	h         kill.Handle
	ev        event.Event
	phase     phase
	started   time.Time // first signal
	termAt    time.Time
	deadline  time.Time // end of the grace period, or of KillWait
	polled    bool      // not watched: poll Exited at pollAt
	pollAt    time.Time
	releasing bool // process_mrelease under way: the handle stays open
	ended     bool // reported; close the handle when the release returns
}

// Actuator is owned by the daemon's loop; it is not safe for concurrent use, except
// for its releaser goroutine, which only touches the handles passed to it.
type Actuator struct {
	waiter kill.Waiter
	sink   event.Sink
	stops  map[uint64]*stop
	nextID uint64
	done   []Done

	release  chan releaseReq
	released chan uint64
}

type releaseReq struct {
	id uint64
	h  kill.Handle
}

// releaseQueue bounds the process_mrelease calls waiting; beyond it a killed process is
// simply freed by the kernel at its own pace.
const releaseQueue = 64

// New returns an Actuator reporting to sink. Close stops its releaser.
func New(w kill.Waiter, sink event.Sink) *Actuator {
	a := &Actuator{
		waiter:   w,
		sink:     sink,
		stops:    map[uint64]*stop{},
		release:  make(chan releaseReq, releaseQueue),
		released: make(chan uint64, releaseQueue),
	}
	go a.releaser()
	return a
}

// releaser runs process_mrelease off the loop: it walks the victim's page tables and can
// take a while for a large process.
func (a *Actuator) releaser() {
	for r := range a.release {
		r.h.Release() // fails harmlessly when the process died first
		a.released <- r.id
	}
	close(a.released)
}

// Released delivers the id of each stop whose process_mrelease returned; pass it to
// ReleaseDone.
func (a *Actuator) Released() <-chan uint64 { return a.released }

// Exits delivers the exits of processes being stopped; pass each to Exited.
func (a *Actuator) Exits() <-chan uint64 { return a.waiter.Exits() }

// InFlight is the number of stops under way.
func (a *Actuator) InFlight() int {
	n := 0
	for _, s := range a.stops {
		if !s.ended {
			n++
		}
	}
	return n
}

// Start sends the first signal of a stop. It returns the stops that ended (this one,
// when the signal could not be delivered).
func (a *Actuator) Start(now time.Time, r Request) []Done {
	a.done = a.done[:0]
	a.nextID++
	s := &stop{key: r.Key, h: r.Handle, ev: r.Event, started: now}
	s.ev.Grace = r.Grace
	s.ev.Handle = r.Handle // borrowed by the sinks while the stop is live
	id := a.nextID
	a.stops[id] = s
	a.stopping(now, s)
	if r.Grace <= 0 {
		a.kill(now, id, s)
		return a.done
	}
	switch err := s.h.Signal(unix.SIGTERM); {
	case errors.Is(err, kill.ErrGone):
		a.end(now, id, s, kill.Gone, nil)
		return a.done
	case err != nil:
		a.end(now, id, s, kill.Failed, err)
		return a.done
	}
	a.signalled(now, s, "SIGTERM")
	s.phase, s.termAt, s.deadline = phaseTerm, now, now.Add(r.Grace)
	a.watch(id, s)
	return a.done
}

// stopping tells the sinks, just before the first signal, that it is coming: the owner's
// message takes the process's standard error while the process still has one.
func (a *Actuator) stopping(now time.Time, s *stop) {
	e := s.ev
	e.Kind, e.Time, e.Signal = event.Stopping, now, "SIGTERM"
	if s.ev.Grace <= 0 {
		e.Signal = "SIGKILL"
	}
	a.sink.Handle(e)
}

func (a *Actuator) watch(id uint64, s *stop) {
	if err := a.waiter.Watch(id, s.h); err != nil {
		s.polled = true
		s.pollAt = s.started.Add(pollEvery)
	}
}

func (a *Actuator) signalled(now time.Time, s *stop, sig string) {
	e := s.ev
	e.Kind, e.Time, e.Signal = event.Signal, now, sig
	if sig == "SIGKILL" && s.phase == phaseTerm {
		e.After = now.Sub(s.termAt)
	}
	a.sink.Handle(e)
}

// kill sends SIGKILL.
func (a *Actuator) kill(now time.Time, id uint64, s *stop) {
	switch err := s.h.Signal(unix.SIGKILL); {
	case errors.Is(err, kill.ErrGone) && s.phase == phaseTerm:
		a.end(now, id, s, kill.Exited, nil)
		return
	case errors.Is(err, kill.ErrGone):
		a.end(now, id, s, kill.Gone, nil)
		return
	case err != nil:
		a.end(now, id, s, kill.Failed, err)
		return
	}
	a.signalled(now, s, "SIGKILL")
	wasWatched := s.phase == phaseTerm && !s.polled
	s.phase, s.deadline = phaseKill, now.Add(kill.KillWait)
	select {
	case a.release <- releaseReq{id, s.h}:
		s.releasing = true
	default:
	}
	if !wasWatched {
		a.watch(id, s)
	}
}

// end reports the outcome of a stop and forgets it (the handle is closed once no
// release holds it).
func (a *Actuator) end(now time.Time, id uint64, s *stop, o kill.Outcome, err error) {
	e := s.ev
	e.Kind, e.Time, e.Outcome, e.Err = event.Outcome, now, string(o), err
	if o == kill.Exited || o == kill.Killed || o == kill.Abandoned || (o == kill.Failed && s.phase != 0) {
		e.Took = now.Sub(s.started)
	}
	a.sink.Handle(e)
	a.done = append(a.done, Done{Key: s.key, Outcome: o})
	if s.phase != 0 && !s.polled {
		a.waiter.Unwatch(id, s.h)
	}
	s.ended = true
	if !s.releasing {
		s.h.Close()
		delete(a.stops, id)
	}
}

// Exited handles the exit of the process of stop id, as the waiter reported it.
func (a *Actuator) Exited(now time.Time, id uint64) []Done {
	a.done = a.done[:0]
	s := a.stops[id]
	if s == nil || s.ended {
		return a.done
	}
	if s.phase == phaseKill {
		a.end(now, id, s, kill.Killed, nil)
	} else {
		a.end(now, id, s, kill.Exited, nil)
	}
	return a.done
}

// ReleaseDone handles the return of process_mrelease for stop id.
func (a *Actuator) ReleaseDone(id uint64) {
	s := a.stops[id]
	if s == nil {
		return
	}
	s.releasing = false
	if s.ended {
		s.h.Close()
		delete(a.stops, id)
	}
}

// NextDeadline is the earliest grace period or kill wait to end; zero when none.
func (a *Actuator) NextDeadline() time.Time {
	var first time.Time
	for _, s := range a.stops {
		if s.ended {
			continue
		}
		d := s.deadline
		if s.polled && s.pollAt.Before(d) {
			d = s.pollAt
		}
		if first.IsZero() || d.Before(first) {
			first = d
		}
	}
	return first
}

// Tick handles the deadlines due at now: SIGKILL when a grace period ends, failure when
// a killed process outlives KillWait.
func (a *Actuator) Tick(now time.Time) []Done {
	a.done = a.done[:0]
	for id, s := range a.stops {
		if s.ended {
			continue
		}
		if s.polled && !now.Before(s.pollAt) {
			s.pollAt = now.Add(pollEvery)
			if s.h.Exited() {
				if s.phase == phaseKill {
					a.end(now, id, s, kill.Killed, nil)
				} else {
					a.end(now, id, s, kill.Exited, nil)
				}
				continue
			}
		}
		if now.Before(s.deadline) {
			continue
		}
		switch s.phase {
		case phaseTerm:
			a.kill(now, id, s)
		case phaseKill:
			a.end(now, id, s, kill.Failed, errors.New("still alive after SIGKILL (uninterruptible sleep?)"))
		}
	}
	return a.done
}

// Hasten brings every grace period that would end after by forward to by: the daemon
// is exiting, and a stop must end in SIGKILL rather than be left half done.
func (a *Actuator) Hasten(by time.Time) {
	for _, s := range a.stops {
		if !s.ended && s.phase == phaseTerm && s.deadline.After(by) {
			s.deadline = by
		}
	}
}

// Abandon ends every stop still in flight (the daemon is exiting).
func (a *Actuator) Abandon(now time.Time) []Done {
	a.done = a.done[:0]
	for id, s := range a.stops {
		if !s.ended {
			a.end(now, id, s, kill.Abandoned, nil)
		}
	}
	return a.done
}

// Close stops the releaser and closes the handles still held.
func (a *Actuator) Close() {
	close(a.release)
	for range a.released {
	}
	for id, s := range a.stops {
		s.h.Close()
		delete(a.stops, id)
	}
}
