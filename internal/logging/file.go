package logging

import (
	"fmt"
	"os"
	"sync"
	"time"
)

// retryEvery is how often a write to a file that could not be opened tries again, so a
// log file fixed by the administrator comes back without a SIGHUP.
const retryEvery = 30 * time.Second

// File is an append-only log file that is reopened on request (SIGHUP after logrotate)
// and never fails its caller: problems are reported through onFail once per outage.
type File struct {
	path      string
	onFail    func(error)
	onRecover func()

	mu        sync.Mutex
	f         *os.File
	failing   bool
	lastTried time.Time
}

// OpenFile opens path for appending, creating it 0640 if missing.
func OpenFile(path string, onFail func(error), onRecover func()) *File {
	f := &File{path: path, onFail: onFail, onRecover: onRecover}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.openLocked()
	return f
}

// Path is the file's name.
func (f *File) Path() string { return f.path }

// Reopen closes the file and opens the path again, picking up a new file after rotation.
func (f *File) Reopen() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.f != nil {
		f.f.Close()
		f.f = nil
	}
	f.openLocked()
}

// Close closes the file.
func (f *File) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.f == nil {
		return nil
	}
	err := f.f.Close()
	f.f = nil
	return err
}

// Write appends p. It reports success even when the file is unavailable, since a log
// problem must never stop the daemon; the outage itself has been reported.
func (f *File) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.f == nil && time.Since(f.lastTried) >= retryEvery {
		f.openLocked()
	}
	if f.f == nil {
		return len(p), nil
	}
	if _, err := f.f.Write(p); err != nil {
		f.fail(fmt.Errorf("write %s: %w", f.path, err))
		return len(p), nil
	}
	return len(p), nil
}

func (f *File) openLocked() {
	f.lastTried = time.Now()
	file, err := os.OpenFile(f.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		f.fail(err)
		return
	}
	f.f = file
	if f.failing {
		f.failing = false
		if f.onRecover != nil {
			f.onRecover()
		}
	}
}

func (f *File) fail(err error) {
	if !f.failing && f.onFail != nil {
		f.onFail(err)
	}
	f.failing = true
}
