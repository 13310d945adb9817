// Package alarm is the loop's one timer, made cheap to wake up from: a timerfd that the
// Go netpoller watches, read and armed with raw system calls.
//
// A time.Timer costs more than its own thread's wakeup each time it fires: the runtime's
// sysmon thread sleeps only until the next Go timer is due, so it wakes with it, and once
// more before it sleeps again. A timerfd is not a Go timer: when it expires, the thread
// waiting in the netpoller wakes and nothing else does. System calls made the ordinary
// way (through entersyscall) wake a sleeping sysmon too, which is why the read and the
// arming below are raw: a timerfd never blocks.
package alarm

import (
	"fmt"
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Alarm is a one-shot timer: Reset arms it, and it rings once on C when it expires.
// Reset and C may be used from one goroutine at a time; Close from any.
type Alarm struct {
	f    *os.File
	rc   syscall.RawConn
	c    chan time.Time
	done chan struct{}

	// The callbacks given to rc, made once: a closure made per call would be a heap
	// allocation per wakeup. set* belong to Reset and Stop, read* to run.
	setFn     func(fd uintptr)
	setSpec   unix.ItimerSpec
	setErrno  syscall.Errno
	readFn    func(fd uintptr) bool
	readBuf   [8]byte // the number of expiries
	readErrno syscall.Errno
}

// New creates an alarm, not yet armed.
func New() (*Alarm, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("timerfd_create: %w", err)
	}
	f := os.NewFile(uintptr(fd), "timerfd")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("timerfd: %w", err)
	}
	a := &Alarm{f: f, rc: rc, c: make(chan time.Time, 1), done: make(chan struct{})}
	a.setFn, a.readFn = a.settime, a.read
	go a.run()
	return a, nil
}

// C rings (receives the time it rang) when the alarm expires.
func (a *Alarm) C() <-chan time.Time { return a.c }

// Reset arms the alarm to ring once after d (at once when d <= 0), replacing the
// setting before. A ring of the setting before may still be waiting in C: a ring means
// "look at the time", never "the time has come", so an early one costs one look and
// none is ever lost.
func (a *Alarm) Reset(d time.Duration) {
	if d <= 0 {
		d = 1 // a zero expiry would disarm the timerfd
	}
	a.setSpec = unix.ItimerSpec{Value: unix.NsecToTimespec(int64(d))}
	if err := a.rc.Control(a.setFn); err != nil || a.setErrno != 0 {
		// Only a closed alarm gets here (the arguments are valid): ring so that the
		// loop looks at its deadlines rather than waits for a ring that cannot come.
		a.ring()
	}
}

// Stop disarms the alarm.
func (a *Alarm) Stop() {
	a.setSpec = unix.ItimerSpec{}
	_ = a.rc.Control(a.setFn)
}

func (a *Alarm) settime(fd uintptr) {
	_, _, a.setErrno = unix.RawSyscall6(unix.SYS_TIMERFD_SETTIME, fd, 0, uintptr(unsafe.Pointer(&a.setSpec)), 0, 0, 0)
}

func (a *Alarm) read(fd uintptr) bool {
	_, _, a.readErrno = unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&a.readBuf[0])), uintptr(len(a.readBuf)))
	return a.readErrno != unix.EAGAIN
}

// Close releases the timerfd and ends the goroutine that reads it.
func (a *Alarm) Close() error {
	err := a.f.Close()
	<-a.done
	return err
}

func (a *Alarm) ring() {
	select {
	case a.c <- time.Now():
	default: // one ring waiting is as good as two
	}
}

// run waits for the timerfd in the netpoller and rings at each expiry.
func (a *Alarm) run() {
	defer close(a.done)
	for {
		if err := a.rc.Read(a.readFn); err != nil {
			return // closed
		}
		a.ring()
		if a.readErrno != 0 {
			// Not expected of a timerfd (EAGAIN is handled in read); ring, and do not
			// spin on an error that persists.
			time.Sleep(10 * time.Millisecond)
		}
	}
}
