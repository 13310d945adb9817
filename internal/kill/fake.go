package kill

import (
	"context"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// FakeProcess describes how a pretend process behaves when signalled.
type FakeProcess struct {
	StartTime   uint64
	IgnoresTerm bool  // survives SIGTERM; only SIGKILL ends it
	Unkillable  bool  // survives SIGKILL too (uninterruptible sleep)
	SignalErr   error // every signal fails with this (e.g. EPERM)
	Exited      bool  // already gone

	Signals []unix.Signal // what was delivered, in order
}

// Fake is an Opener over pretend processes, for tests of everything above the syscalls.
// Waits return at once: a process that does not exit makes Wait report a timeout.
type Fake struct {
	mu    sync.Mutex
	Procs map[int]*FakeProcess
}

// NewFake returns an empty Fake.
func NewFake() *Fake { return &Fake{Procs: map[int]*FakeProcess{}} }

// Add registers a pretend process.
func (f *Fake) Add(pid int, p *FakeProcess) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Procs[pid] = p
}

// Sent returns the signals delivered to pid.
func (f *Fake) Sent(pid int) []unix.Signal {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p := f.Procs[pid]; p != nil {
		return append([]unix.Signal(nil), p.Signals...)
	}
	return nil
}

// Open implements Opener.
func (f *Fake) Open(pid int, startTime uint64) (Handle, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.Procs[pid]
	if p == nil || p.Exited || p.StartTime != startTime {
		return nil, ErrGone
	}
	return &fakeHandle{f: f, p: p}, nil
}

type fakeHandle struct {
	f *Fake
	p *FakeProcess
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
		h.p.Exited = true
	case sig == unix.SIGTERM && !h.p.IgnoresTerm:
		h.p.Exited = true
	}
	return nil
}

func (h *fakeHandle) Wait(ctx context.Context, _ time.Duration) (bool, error) {
	h.f.mu.Lock()
	defer h.f.mu.Unlock()
	return h.p.Exited, nil
}

func (h *fakeHandle) Release() error { return nil }
func (h *fakeHandle) Close() error   { return nil }
