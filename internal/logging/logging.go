// Package logging builds the daemon's slog.Logger: native journald entries with
// structured fields when running under systemd, text on stderr otherwise (never both),
// plus a logfmt file sink that survives rotation, deletion and write failures. Start puts
// every sink behind one bounded queue, so that no sink can delay a scan or a stop.
package logging

import (
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/journal"
)

// Options configure New and Start.
type Options struct {
	Level    slog.Leveler
	Journal  bool      // send to journald natively instead of writing to Stderr
	Stderr   io.Writer // the fallback sink
	FilePath string    // "" disables the file sink

	// QueueSize bounds Start's queue (DefaultQueueSize when 0); New ignores it.
	QueueSize int
	// Send replaces journal.Send (for tests); nil is journal.Send.
	Send SendFunc
}

// New returns a synchronous logger and the file sink (nil when disabled), which the caller
// reopens on SIGHUP. Opening the file may fail: the failure is logged and the daemon goes
// on. The daemon uses Start; New is for commands that log a line or two and exit.
func New(o Options) (*slog.Logger, *File) {
	h, f := handlers(o)
	return slog.New(h), f
}

// Sinks is the daemon's logging: the logger, whose records go through Queue, and the
// file sink (nil when disabled).
type Sinks struct {
	Logger *slog.Logger
	File   *File
	Queue  *Queue
}

// Start is New with every sink behind a bounded queue (see Queue): logging never blocks
// the caller, and records that do not fit are counted and reported. Close it at exit.
func Start(o Options) *Sinks {
	h, f := handlers(o)
	q := NewQueue(h, o.QueueSize)
	return &Sinks{Logger: slog.New(q), File: f, Queue: q}
}

// Reopen reopens the log file (after logrotate's SIGHUP); nothing without one.
func (s *Sinks) Reopen() {
	if s.File != nil {
		s.File.Reopen()
	}
}

// Close writes what is queued, waiting at most timeout, then closes the file.
func (s *Sinks) Close(timeout time.Duration) error {
	err := s.Queue.Close(timeout)
	if s.File != nil {
		err = errors.Join(err, s.File.Close())
	}
	return err
}

// handlers builds the primary sink (journal or stderr) and, with a file path, the file
// sink beside it.
func handlers(o Options) (slog.Handler, *File) {
	var primary slog.Handler
	if o.Journal {
		send := o.Send
		if send == nil {
			send = journal.Send
		}
		primary = NewJournalHandler(send, o.Level)
	} else {
		primary = slog.NewTextHandler(&tolerantWriter{w: o.Stderr}, &slog.HandlerOptions{Level: o.Level})
	}
	if o.FilePath == "" {
		return primary, nil
	}
	// File problems are reported through the primary sink only, so a broken file can
	// never recurse into itself.
	report := slog.New(primary)
	f := OpenFile(o.FilePath, func(err error) {
		report.Warn("log file unavailable; logging to the journal/stderr only",
			"path", o.FilePath, "error", err)
	}, func() {
		report.Info("log file writable again", "path", o.FilePath)
	})
	fileHandler := slog.NewTextHandler(f, &slog.HandlerOptions{Level: o.Level})
	return slog.NewMultiHandler(primary, fileHandler), f
}

// tolerantWriter is stderr as a sink that cannot fail the daemon: an error is swallowed
// (the file and the journal still get the record), and once the other end of a pipe has
// gone (EPIPE: a log collector that exited) nothing more is written there. With SIGPIPE
// ignored, as the daemon does, that is all a broken stderr costs.
type tolerantWriter struct {
	w      io.Writer
	broken atomic.Bool
}

func (t *tolerantWriter) Write(p []byte) (int, error) {
	if t.w == nil || t.broken.Load() {
		return len(p), nil
	}
	if _, err := t.w.Write(p); errors.Is(err, syscall.EPIPE) {
		t.broken.Store(true)
	}
	return len(p), nil
}

// UseJournal reports whether stderr is connected to journald (systemd sets
// JOURNAL_STREAM for a service) and its native socket is reachable.
func UseJournal() bool {
	ok, err := journal.StderrIsJournalStream()
	return err == nil && ok && journal.Enabled()
}
