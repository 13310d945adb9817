package logging

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// retryEvery is how often a write to a file that could not be opened tries again, so a
// log file fixed by the administrator comes back without a SIGHUP.
const retryEvery = 30 * time.Second

// checkEvery is how often a write compares the open file with what the path names now,
// so that a log file deleted or replaced behind the daemon's back is noticed (one stat
// per second at most) rather than silently taking records until the next SIGHUP.
const checkEvery = time.Second

// File is an append-only log file that is reopened on request (SIGHUP after logrotate),
// when the path is found to name another file or none, and never fails its caller:
// problems are reported through onFail once per outage, and the end of each outage
// through onRecover.
//
// It opens only a regular file, never through a symbolic link and never blocking (a
// FIFO without a reader would stall open(2)); each record is written whole or not at all,
// so a full file system never leaves half a record glued to the next one.
type File struct {
	path      string
	onFail    func(error)
	onRecover func()
	now       func() time.Time

	mu          sync.Mutex
	f           *os.File
	dev, ino    uint64 // of f, to notice a replaced path
	failing     bool
	lastTried   time.Time
	lastChecked time.Time
	cut         bool // a cut record could not be removed: start the next one on a new line
}

// OpenFile opens path for appending, creating it 0640 if missing.
func OpenFile(path string, onFail func(error), onRecover func()) *File {
	return openFile(path, onFail, onRecover, time.Now)
}

func openFile(path string, onFail func(error), onRecover func(), now func() time.Time) *File {
	f := &File{path: path, onFail: onFail, onRecover: onRecover, now: now}
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
	f.closeLocked()
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

func (f *File) closeLocked() {
	if f.f != nil {
		f.f.Close()
		f.f = nil
	}
}

// Write appends p, which is one whole record (slog's handlers write each record with one
// call). It reports success even when the file is unavailable, since a log problem must
// never stop the daemon; the outage itself has been reported.
func (f *File) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	if f.f != nil && now.Sub(f.lastChecked) >= checkEvery {
		f.lastChecked = now
		f.checkPathLocked()
	}
	if f.f == nil && now.Sub(f.lastTried) >= retryEvery {
		f.openLocked()
	}
	if f.f == nil {
		return len(p), nil
	}
	rec := p
	if f.cut {
		rec = append([]byte{'\n'}, p...)
	}
	n, err := f.f.Write(rec)
	if err != nil {
		if n > 0 {
			f.uncutLocked(n)
		}
		f.fail(fmt.Errorf("write %s: %w", f.path, err))
		return len(p), nil
	}
	f.cut = false
	f.recoverLocked()
	return len(p), nil
}

// uncutLocked removes the n bytes of a record that was only partly written (the file
// system filled up), so that no reader sees half a record; if that fails, the next record
// starts on a line of its own.
func (f *File) uncutLocked(n int) {
	fi, err := f.f.Stat()
	if err != nil || fi.Size() < int64(n) {
		f.cut = true
		return
	}
	if err := f.f.Truncate(fi.Size() - int64(n)); err != nil {
		f.cut = true
	}
}

// checkPathLocked reopens the file when the path no longer names it: deleted, or
// replaced by another file (a rotation without a SIGHUP).
func (f *File) checkPathLocked() {
	var st unix.Stat_t
	err := unix.Stat(f.path, &st)
	if err == nil && uint64(st.Dev) == f.dev && st.Ino == f.ino {
		return
	}
	f.closeLocked()
	f.openLocked()
}

func (f *File) openLocked() {
	f.lastTried = f.now()
	f.lastChecked = f.lastTried
	file, err := openRegular(f.path)
	if err != nil {
		f.fail(err)
		return
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(file.Fd()), &st); err == nil {
		f.dev, f.ino = uint64(st.Dev), st.Ino
	}
	f.f = file
	f.cut = false
	f.recoverLocked()
}

func (f *File) recoverLocked() {
	if f.failing {
		f.failing = false
		if f.onRecover != nil {
			f.onRecover()
		}
	}
}

// ErrNotRegular is the error for a log file path that names something other than a
// regular file (a FIFO, a device, a socket, a directory or a symbolic link).
var ErrNotRegular = errors.New("not a regular file")

// openRegular opens path for appending, creating it 0640, only if it is (or becomes) a
// regular file: O_NOFOLLOW refuses a symbolic link (a link to /etc/passwd must not get
// log lines; a dangling one must not create its target), and O_NONBLOCK keeps a FIFO
// without a reader from blocking the daemon in open(2).
func openRegular(path string) (*os.File, error) {
	// Look before opening, so that no device is even opened (opening some has effects).
	if fi, err := os.Lstat(path); err == nil && !fi.Mode().IsRegular() {
		return nil, notRegular(path, fi.Mode())
	}
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_APPEND|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0o640)
	switch {
	case errors.Is(err, unix.ELOOP):
		return nil, notRegular(path, fs.ModeSymlink)
	case errors.Is(err, unix.ENXIO):
		return nil, notRegular(path, fs.ModeNamedPipe)
	case err != nil:
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	file := os.NewFile(uintptr(fd), path)
	fi, err := file.Stat()
	if err != nil {
		file.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		file.Close()
		return nil, notRegular(path, fi.Mode())
	}
	return file, nil
}

func notRegular(path string, m fs.FileMode) error {
	what := "not a regular file"
	switch {
	case m&fs.ModeSymlink != 0:
		what = "a symbolic link (not followed)"
	case m&fs.ModeNamedPipe != 0:
		what = "a FIFO"
	case m&fs.ModeDevice != 0:
		what = "a device"
	case m&fs.ModeSocket != 0:
		what = "a socket"
	case m.IsDir():
		what = "a directory"
	}
	return fmt.Errorf("open %s: %w: it is %s; the log file must be a plain file", path, ErrNotRegular, what)
}

func (f *File) fail(err error) {
	if !f.failing && f.onFail != nil {
		f.onFail(err)
	}
	f.failing = true
}
