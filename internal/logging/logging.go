// Package logging builds the daemon's slog.Logger: native journald entries with
// structured fields when running under systemd, text on stderr otherwise (never both),
// plus a logfmt file sink that survives rotation and write failures.
package logging

import (
	"io"
	"log/slog"

	"github.com/coreos/go-systemd/v22/journal"
)

// Options configure New.
type Options struct {
	Level    slog.Leveler
	Journal  bool      // send to journald natively instead of writing to Stderr
	Stderr   io.Writer // the fallback sink
	FilePath string    // "" disables the file sink
}

// New returns the logger and the file sink (nil when disabled), which the caller reopens
// on SIGHUP. Opening the file may fail: the failure is logged and the daemon goes on.
func New(o Options) (*slog.Logger, *File) {
	var primary slog.Handler
	if o.Journal {
		primary = NewJournalHandler(journal.Send, o.Level)
	} else {
		primary = slog.NewTextHandler(o.Stderr, &slog.HandlerOptions{Level: o.Level})
	}
	if o.FilePath == "" {
		return slog.New(primary), nil
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
	return slog.New(slog.NewMultiHandler(primary, fileHandler)), f
}

// UseJournal reports whether stderr is connected to journald (systemd sets
// JOURNAL_STREAM for a service) and its native socket is reachable.
func UseJournal() bool {
	ok, err := journal.StderrIsJournalStream()
	return err == nil && ok && journal.Enabled()
}
