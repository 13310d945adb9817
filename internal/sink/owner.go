package sink

import (
	"errors"
	"github.com/memory-monitor/memory-monitor/internal/budget"
	"log/slog"

	"github.com/memory-monitor/memory-monitor/internal/config"
	"github.com/memory-monitor/memory-monitor/internal/event"
	"github.com/memory-monitor/memory-monitor/internal/kill"
	"github.com/memory-monitor/memory-monitor/internal/notify"
)

// Owner tells the owner of a process what happens to it, through the channels of
// --notify: one line in the process's own standard error when its stop begins and one
// with the outcome, one at a warning crossing, one in dry run where the stop would be;
// with tty, the same lines on the owner's terminals. Every write is non-blocking (see
// package notify), so the loop never waits on a reader; a line that cannot be delivered
// at once is dropped and the reason logged at debug level.
//
// Processes without a real pidfd (the Fake and Inert handles of tests and fixture trees)
// get nothing: their PIDs name no real process.
type Owner struct {
	channels config.Notify
	log      *slog.Logger
	io       ownerIO
	stops    map[ownerKey]*ownerStop
}

// ownerKey identifies a process across the events of its stop.
type ownerKey struct {
	pid   int
	start uint64
}

// ownerStop is what a stop in flight holds: the duplicate of the process's standard
// error, taken before the first signal (afterwards the process may have none), and its
// owner's terminals, read while /proc/PID still exists.
type ownerStop struct {
	stderr ownerStderr // nil: none or refused
	ttys   []string
	said   bool // the stop line was attempted
}

// ownerStderr is a *notify.Stderr; tests substitute a recorder.
type ownerStderr interface {
	Write(line string) error
	TTY() uint64
	Close() error
}

// ownerIO is the side of the sink that touches processes and terminals.
type ownerIO struct {
	open           func(pidfd int) (ownerStderr, error)
	terminals      func(pid int, uid uint32) []string
	writeTerminals func(paths []string, uid uint32, skip uint64, line string) (int, error)
}

// NewOwner returns the sink for the given channels; procRoot is the tree the daemon
// reads (normally /proc), log receives the debug lines about undelivered messages.
func NewOwner(channels config.Notify, procRoot string, log *slog.Logger) *Owner {
	roots := notify.SystemTTYRoots()
	roots.Proc = procRoot
	return &Owner{
		channels: channels,
		log:      log,
		stops:    map[ownerKey]*ownerStop{},
		io: ownerIO{
			open: func(pidfd int) (ownerStderr, error) {
				s, err := notify.OpenStderr(pidfd)
				if err != nil {
					return nil, err
				}
				return s, nil
			},
			terminals: func(pid int, uid uint32) []string {
				return notify.Terminals(roots, pid, uid)
			},
			writeTerminals: notify.WriteTerminals,
		},
	}
}

// Handle implements event.Sink.
func (o *Owner) Handle(e event.Event) {
	k := ownerKey{e.Proc.PID, e.Proc.StartTime}
	if o.channels.Off() && o.stops[k] == nil {
		return
	}
	switch e.Kind {
	case event.Stopping:
		if s := o.stops[k]; s != nil { // a stop the sink never saw end: start afresh
			o.closeStop(k, s)
		}
		if s := o.take(e); s != nil {
			o.stops[k] = s
		}
	case event.Signal:
		s := o.stops[k]
		if s == nil || s.said { // a SIGKILL after the grace period: the first line said so
			return
		}
		s.said = true
		grace := e.Grace
		if e.Signal == "SIGKILL" {
			grace = 0
		}
		o.say(e, s, notify.StopLine(target(e), measureOf(e, e.Threshold), grace))
	case event.Outcome:
		s := o.stops[k]
		if s == nil {
			return
		}
		if s.said {
			o.say(e, s, notify.OutcomeLine(target(e), outcomeOf(e)))
		}
		o.closeStop(k, s)
	case event.Warn:
		if e.Reason != "" {
			return // protected: the line would promise a stop that never comes
		}
		if s := o.take(e); s != nil {
			o.say(e, s, notify.WarnLine(target(e), measureOf(e, e.Warn), e.Threshold))
			o.release(s)
		}
	case event.WouldStop:
		if s := o.take(e); s != nil {
			o.say(e, s, notify.WouldStopLine(target(e), measureOf(e, e.Threshold)))
			o.release(s)
		}
	}
}

// SetChannels changes the channels from the next event on (a reload); stops in flight
// keep what they took.
func (o *Owner) SetChannels(channels config.Notify) { o.channels = channels }

// Close releases what stops still in flight hold.
func (o *Owner) Close() {
	for k, s := range o.stops {
		o.closeStop(k, s)
	}
}

// take opens the channels for the process of e: its standard error (through the
// event's verified pidfd) and its owner's terminals. nil when the process has no real
// pidfd.
func (o *Owner) take(e event.Event) *ownerStop {
	fd := kill.FD(e.Handle)
	if fd < 0 {
		return nil
	}
	s := &ownerStop{}
	if o.channels.Stderr {
		st, err := o.io.open(fd)
		if err != nil {
			o.debug(e, "stderr", err)
		} else {
			s.stderr = st
		}
	}
	if o.channels.TTY {
		s.ttys = o.io.terminals(e.Proc.PID, uint32(e.Proc.UID))
	}
	return s
}

// say writes line once to each open channel of s.
func (o *Owner) say(e event.Event, s *ownerStop, line string) {
	var skip uint64
	if s.stderr != nil {
		if err := s.stderr.Write(line); err != nil {
			o.debug(e, "stderr", err)
		}
		skip = s.stderr.TTY()
	}
	if len(s.ttys) > 0 {
		if _, err := o.io.writeTerminals(s.ttys, uint32(e.Proc.UID), skip, line); err != nil {
			o.debug(e, "tty", err)
		}
	}
}

func (o *Owner) release(s *ownerStop) {
	if s.stderr != nil {
		s.stderr.Close()
		s.stderr = nil
	}
}

func (o *Owner) closeStop(k ownerKey, s *ownerStop) {
	o.release(s)
	delete(o.stops, k)
}

// debug logs, once per message and channel, why the owner was not told: normal on a
// shared machine (no stderr, a full pipe, ptrace refused), never worth more than debug.
func (o *Owner) debug(e event.Event, channel string, err error) {
	if o.log == nil {
		return
	}
	logAt{o.log, e.Time}.Debug("message to the owner not delivered",
		"pid", e.Proc.PID, "channel", channel, "gone", errors.Is(err, notify.ErrGone), "error", err)
}

func target(e event.Event) notify.Target {
	return notify.Target{PID: e.Proc.PID, Name: e.Proc.Comm}
}

func measureOf(e event.Event, limit uint64) notify.Measure {
	m := notify.Measure{What: notify.MetricWords(e.Metric), Bytes: e.Memory, Limit: limit}
	if g := e.Group; g != nil {
		// A group budget: the line names the group, its total and its budget; the
		// process is its largest member.
		name := g.Key.Name
		if g.Key.Kind == budget.User && g.User != "" {
			name = g.User
		}
		m.Group = string(g.Key.Kind) + " " + name
		m.Bytes, m.Limit = g.Total, g.Rule.Limit
	}
	return m
}

// outcomeOf maps the actuator's outcome to the owner's words. An abandoned stop (the
// daemon exited first) could not be completed: the owner reads it as not stopped.
func outcomeOf(e event.Event) notify.Outcome {
	o := notify.Outcome{After: e.Took}
	switch kill.Outcome(e.Outcome) {
	case kill.Exited:
		o.Result = notify.Exited
	case kill.Killed:
		o.Result = notify.Killed
	case kill.Gone:
		o.Result = notify.Gone
	default:
		o.Result = notify.Failed
	}
	return o
}
