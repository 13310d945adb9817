package kill

import (
	"errors"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// FakeProcess describes how a pretend process behaves when signalled.
type FakeProcess struct {
	IgnoresTerm bool          // survives SIGTERM; only SIGKILL ends it
	TermTakes   time.Duration // exits this long after SIGTERM (0: at once)
	Unkillable  bool          // survives SIGKILL too (uninterruptible sleep)
	SignalErr   error         // every signal fails with this (e.g. EPERM)
	OpenErr     error         // Open fails with this (e.g. EMFILE)
	Exited      bool          // already gone
	// PidFD is a real pidfd (of some other process) that the handles report through
	// FD, for tests of what uses the descriptor; 0: none, FD returns -1.
	PidFD int

	Signals  []unix.Signal // what was delivered, in order
	Released int           // process_mrelease calls
}

// Fake is an Opener and a Waiter over pretend processes, for tests of everything above
// the system calls. Its timers are ordinary time.AfterFunc timers, so it runs in virtual
// time inside a testing/synctest bubble.
type Fake struct {
	mu      sync.Mutex
	procs   map[int]*FakeProcess
	watched map[uint64]*fakeHandle
	exits   chan uint64
	opened  int // handles open now
}

// NewFake returns an empty Fake.
func NewFake() *Fake {
	return &Fake{procs: map[int]*FakeProcess{}, watched: map[uint64]*fakeHandle{}, exits: make(chan uint64, 1024)}
}

// Add registers a pretend process.
func (f *Fake) Add(pid int, p *FakeProcess) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.procs[pid] = p
}

// Exit makes a pretend process exit by itself.
func (f *Fake) Exit(pid int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p := f.procs[pid]; p != nil {
		f.exitLocked(p)
	}
}

// Sent returns the signals delivered to pid.
func (f *Fake) Sent(pid int) []unix.Signal {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p := f.procs[pid]; p != nil {
		return append([]unix.Signal(nil), p.Signals...)
	}
	return nil
}

// Proc returns a copy of the pretend process's state.
func (f *Fake) Proc(pid int) FakeProcess {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p := f.procs[pid]; p != nil {
		return *p
	}
	return FakeProcess{}
}

// Open implements Opener.
func (f *Fake) Open(pid int) (Handle, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.procs[pid]
	if p == nil || p.Exited {
		return nil, ErrGone
	}
	if p.OpenErr != nil {
		return nil, p.OpenErr
	}
	f.opened++
	return &fakeHandle{f: f, p: p}, nil
}

// OpenHandles returns how many handles are open now: a test checks that none leaks.
func (f *Fake) OpenHandles() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.opened
}

func (f *Fake) exitLocked(p *FakeProcess) {
	if p.Exited {
		return
	}
	p.Exited = true
	for id, h := range f.watched {
		if h.p == p {
			delete(f.watched, id)
			f.exits <- id
		}
	}
}

// Watch implements Waiter.
func (f *Fake) Watch(id uint64, h Handle) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	fh := h.(*fakeHandle)
	if fh.p.Exited {
		f.exits <- id
		return nil
	}
	f.watched[id] = fh
	return nil
}

// Unwatch implements Waiter.
func (f *Fake) Unwatch(id uint64, _ Handle) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.watched, id)
}

// Exits implements Waiter.
func (f *Fake) Exits() <-chan uint64 { return f.exits }

// Close implements Waiter.
func (f *Fake) Close() error { return nil }

type fakeHandle struct {
	f      *Fake
	p      *FakeProcess
	closed bool
}

func (h *fakeHandle) Signal(sig unix.Signal) error {
	h.f.mu.Lock()
	defer h.f.mu.Unlock()
	if h.p.Exited {
		return ErrGone
	}
	if h.p.SignalErr != nil {
		return h.p.SignalErr
	}
	h.p.Signals = append(h.p.Signals, sig)
	switch {
	case sig == unix.SIGKILL && !h.p.Unkillable:
		h.f.exitLocked(h.p)
	case sig == unix.SIGTERM && !h.p.IgnoresTerm && h.p.TermTakes == 0:
		h.f.exitLocked(h.p)
	case sig == unix.SIGTERM && !h.p.IgnoresTerm:
		p := h.p
		time.AfterFunc(p.TermTakes, func() {
			h.f.mu.Lock()
			defer h.f.mu.Unlock()
			h.f.exitLocked(p)
		})
	}
	return nil
}

// FD implements Descriptor: -1 unless the pretend process was given a PidFD.
func (h *fakeHandle) FD() int {
	h.f.mu.Lock()
	defer h.f.mu.Unlock()
	if h.p.PidFD > 0 {
		return h.p.PidFD
	}
	return -1
}

func (h *fakeHandle) Exited() bool {
	h.f.mu.Lock()
	defer h.f.mu.Unlock()
	return h.p.Exited
}

func (h *fakeHandle) Dup() (Handle, error) {
	h.f.mu.Lock()
	defer h.f.mu.Unlock()
	h.f.opened++
	return &fakeHandle{f: h.f, p: h.p}, nil
}

func (h *fakeHandle) Release() error {
	h.f.mu.Lock()
	defer h.f.mu.Unlock()
	h.p.Released++
	return nil
}

func (h *fakeHandle) Close() error {
	h.f.mu.Lock()
	defer h.f.mu.Unlock()
	if !h.closed {
		h.closed = true
		h.f.opened--
	}
	return nil
}

// Inert opens handles that can never signal anything: for trees other than the real
// /proc (fixtures), whose PIDs name no real process. Signal fails; Exited is false.
type Inert struct{}

// Open implements Opener.
func (Inert) Open(int) (Handle, error) { return inert{}, nil }

type inert struct{}

func (inert) Signal(unix.Signal) error { return errInert }
func (inert) Exited() bool             { return false }
func (inert) Dup() (Handle, error)     { return inert{}, nil }
func (inert) Release() error           { return nil }
func (inert) Close() error             { return nil }
func (inert) FD() int                  { return -1 }

var errInert = errors.New("signals are disabled for a test tree (--proc-root)")
