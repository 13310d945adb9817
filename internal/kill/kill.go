// Package kill holds the side effects of stopping a process: a Handle is a pidfd, which
// refers to one process for its whole life, so a PID reused by an innocent process can
// never be signalled; a Waiter tells when watched processes exit, all from one place.
//
// Handle, Opener and Waiter are the one side-effect interface of the daemon; Fake stands
// in for all three in tests.
package kill

import (
	"errors"
	"time"

	"golang.org/x/sys/unix"
)

// ErrGone means the process exited before it could be opened or signalled: normal, not a
// failure.
var ErrGone = errors.New("process is gone")

// Handle is an open reference to one process.
type Handle interface {
	// Signal sends sig; ErrGone if the process has already exited.
	Signal(sig unix.Signal) error
	// Exited reports, without blocking, whether the process has exited (a zombie whose
	// threads have all exited counts as exited). While it has not, its PID cannot be
	// reused, so whatever was read from /proc/PID meanwhile was read from this process.
	Exited() bool
	// Dup returns a second, independent reference to the same process.
	Dup() (Handle, error)
	// Release asks the kernel to free the memory of a process that was sent SIGKILL
	// without waiting for it to finish dying (process_mrelease).
	Release() error
	// Close releases the handle.
	Close() error
}

// Opener opens a handle on the process that has this PID now; ErrGone when there is none.
// The caller confirms that it is the process it meant by reading /proc/PID afterwards and
// checking Exited.
type Opener interface {
	Open(pid int) (Handle, error)
}

// Waiter reports the exit of watched processes on one channel, so that any number of
// stops in flight are waited for by one goroutine, not one thread each.
type Waiter interface {
	// Watch starts watching h under id. A process that has already exited is reported
	// at once.
	Watch(id uint64, h Handle) error
	// Unwatch stops watching id (before its handle is closed).
	Unwatch(id uint64, h Handle)
	// Exits delivers the id of each watched process that exited, once.
	Exits() <-chan uint64
	// Close stops the waiter.
	Close() error
}

// Outcome is how an attempt to stop a process ended.
type Outcome string

// Outcomes, as logged in the OUTCOME field.
const (
	Exited    Outcome = "exited"    // exited within the grace period after SIGTERM
	Killed    Outcome = "killed"    // was sent SIGKILL and died
	Gone      Outcome = "gone"      // had already exited; nothing was sent
	Failed    Outcome = "failed"    // a signal could not be sent, or SIGKILL did not end it
	Abandoned Outcome = "abandoned" // the daemon stopped before the stop could finish
)

// KillWait bounds the wait for a process to die after SIGKILL. A process stuck in
// uninterruptible sleep can outlive it; that is reported as Failed.
const KillWait = 10 * time.Second
