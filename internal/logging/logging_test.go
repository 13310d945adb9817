package logging

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-systemd/v22/journal"
)

type entry struct {
	msg  string
	pri  journal.Priority
	vars map[string]string
}

type recorder struct {
	mu      sync.Mutex
	entries []entry
}

func (r *recorder) send(msg string, pri journal.Priority, vars map[string]string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.entries = append(r.entries, entry{msg, pri, vars})
	return nil
}

func TestJournalFields(t *testing.T) {
	var rec recorder
	log := slog.New(NewJournalHandler(rec.send, slog.LevelInfo))
	log.With("scan", 3).Warn("terminating process over the threshold",
		"pid", 1234, "comm", "x\nlevel=ERROR", "uid", 1000, "rss_bytes", uint64(123),
		"threshold_bytes", uint64(100), "signal", "SIGTERM", "dry_run", false,
		"message_id", "0dd4266e9e43475fa2c798fff57e3afa", slog.Group("g", "k", "v"))
	log.Debug("not enabled")
	log.Error("bad")
	if len(rec.entries) != 2 {
		t.Fatalf("got %d entries, want 2 (debug is below the level)", len(rec.entries))
	}
	e := rec.entries[0]
	if e.msg != "terminating process over the threshold" || e.pri != journal.PriWarning {
		t.Errorf("message %q priority %d", e.msg, e.pri)
	}
	want := map[string]string{
		"TARGET_PID": "1234", "TARGET_COMM": "x\nlevel=ERROR", "TARGET_UID": "1000",
		"RSS_BYTES": "123", "THRESHOLD_BYTES": "100", "SIGNAL": "SIGTERM", "DRY_RUN": "false",
		"MESSAGE_ID": "0dd4266e9e43475fa2c798fff57e3afa", "SCAN": "3", "G_K": "v",
		"SYSLOG_IDENTIFIER": "memory-monitor",
	}
	for k, v := range want {
		if e.vars[k] != v {
			t.Errorf("%s = %q, want %q", k, e.vars[k], v)
		}
	}
	if rec.entries[1].pri != journal.PriErr {
		t.Errorf("error priority %d", rec.entries[1].pri)
	}
}

func TestFieldName(t *testing.T) {
	for in, want := range map[string]string{
		"pid": "TARGET_PID", "rss_bytes": "RSS_BYTES", "took": "TOOK", "a-b.c": "A_B_C",
		"_x": "X", "9lives": "LIVES", "": "FIELD",
	} {
		if got := FieldName(in); got != want {
			t.Errorf("FieldName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFileReopenAfterRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "mm.log")
	var fails []error
	// A fixed clock: the rename must go unnoticed until Reopen, however slow the machine.
	fixed := time.Unix(1000, 0)
	f := openFile(path, func(err error) { fails = append(fails, err) }, nil, func() time.Time { return fixed })
	defer f.Close()
	log := slog.New(slog.NewTextHandler(f, nil))
	log.Info("before")
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	log.Info("still old")
	f.Reopen()
	log.Info("after")
	old, _ := os.ReadFile(path + ".1")
	cur, _ := os.ReadFile(path)
	if !bytes.Contains(old, []byte("before")) || !bytes.Contains(old, []byte("still old")) || bytes.Contains(old, []byte("after")) {
		t.Errorf("rotated file: %s", old)
	}
	if !bytes.Contains(cur, []byte("after")) || bytes.Contains(cur, []byte("before")) {
		t.Errorf("new file: %s", cur)
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640", fi.Mode().Perm())
	}
	if len(fails) != 0 {
		t.Errorf("unexpected failures %v", fails)
	}
}

func TestFileFailureReportedOnceAndRecovers(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "mm.log")
	var fails []error
	recovered := 0
	f := OpenFile(path, func(err error) { fails = append(fails, err) }, func() { recovered++ })
	defer f.Close()
	for range 3 {
		if n, err := f.Write([]byte("x\n")); err != nil || n != 2 {
			t.Fatalf("write on a broken file must not fail its caller: %d %v", n, err)
		}
	}
	f.Reopen()
	if len(fails) != 1 || !errors.Is(fails[0], os.ErrNotExist) {
		t.Fatalf("want one report of the outage, got %v", fails)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	f.Reopen()
	f.Write([]byte("back\n"))
	if recovered != 1 {
		t.Errorf("recovery reported %d times", recovered)
	}
	if b, _ := os.ReadFile(path); string(b) != "back\n" {
		t.Errorf("file holds %q", b)
	}
}

func TestNewWithoutJournalWritesStderrAndFile(t *testing.T) {
	var stderr bytes.Buffer
	path := filepath.Join(t.TempDir(), "mm.log")
	log, f := New(Options{Level: slog.LevelInfo, Stderr: &stderr, FilePath: path})
	defer f.Close()
	log.Warn("hello", "pid", 5, "comm", "a\nb")
	b, _ := os.ReadFile(path)
	for name, out := range map[string]string{"stderr": stderr.String(), "file": string(b)} {
		if strings.Count(out, "\n") != 1 || !strings.Contains(out, `pid=5 comm="a\nb"`) {
			t.Errorf("%s: %q", name, out)
		}
	}
	if !log.Handler().Enabled(context.Background(), slog.LevelInfo) || log.Handler().Enabled(context.Background(), slog.LevelDebug) {
		t.Error("level not applied")
	}
}
