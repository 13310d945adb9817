package logging

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// stalled is a sink that blocks every write until released, like a FIFO whose reader
// stopped or a hung NFS mount.
type stalled struct {
	release chan struct{}
	lockedBuffer
}

func (s *stalled) Write(p []byte) (int, error) {
	<-s.release
	return s.lockedBuffer.Write(p)
}

// A stalled sink never delays the caller: records beyond the queue are dropped, counted,
// and reported once the sink moves again; Close is bounded by its deadline.
func TestQueueNeverBlocksAndReportsDrops(t *testing.T) {
	sink := &stalled{release: make(chan struct{})}
	q := NewQueue(slog.NewTextHandler(sink, nil), 4)
	log := slog.New(q).With("scan", 7)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 20 {
			log.Info("record", "i", i)
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("logging blocked behind a stalled sink")
	}
	if err := q.Flush(50 * time.Millisecond); err == nil {
		t.Error("Flush reported success while the sink is stalled")
	}
	close(sink.release)
	if err := q.Flush(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	log.Info("after")
	if err := q.Close(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	out := sink.String()
	// Whatever the writer had taken when the queue filled, every record is either
	// written or counted in a report, and at most the queue plus the one in hand got out.
	written := strings.Count(out, "msg=record scan=7")
	reported := 0
	for _, line := range strings.Split(out, "\n") {
		if i := strings.Index(line, " dropped="); i >= 0 && strings.Contains(line, "log records dropped") {
			n, _ := strconv.Atoi(line[i+len(" dropped="):])
			reported += n
		}
	}
	if written+reported != 20 || written > 5 || reported == 0 {
		t.Errorf("%d written, %d reported dropped; want 20 in all, at most 5 written:\n%s", written, reported, out)
	}
	if !strings.Contains(out, "msg=record scan=7 i=0") || !strings.Contains(out, "msg=after scan=7") {
		t.Errorf("queued records lost or attributes missing:\n%s", out)
	}
	if q.Dropped() != 0 {
		t.Errorf("%d drops left unreported", q.Dropped())
	}
	log.Info("after close") // must neither block nor panic
}

func TestQueueCloseHasADeadline(t *testing.T) {
	sink := &stalled{release: make(chan struct{})}
	defer close(sink.release)
	q := NewQueue(slog.NewTextHandler(sink, nil), 8)
	slog.New(q).Info("stuck")
	slog.New(q).Info("queued")
	start := time.Now()
	err := q.Close(100 * time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "not written within") {
		t.Errorf("Close with a stalled sink: %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("Close took %v", time.Since(start))
	}
}

// Start puts the file and stderr behind the queue; Close writes what is queued.
func TestStartWritesThroughQueue(t *testing.T) {
	var stderr lockedBuffer
	path := filepath.Join(t.TempDir(), "mm.log")
	s := Start(Options{Level: slog.LevelInfo, Stderr: &stderr, FilePath: path})
	s.Logger.Warn("hello", "pid", 5)
	if err := s.Close(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	for name, out := range map[string]string{"stderr": stderr.String(), "file": string(b)} {
		if !strings.Contains(out, "msg=hello pid=5") {
			t.Errorf("%s: %q", name, out)
		}
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// brokenStderrChild is what TestBrokenStderr runs in a child whose stderr is a pipe with
// no reader: it logs as the daemon does (SIGPIPE ignored, as the CLI does) and exits 0.
const brokenStderrChild = "MEMORY_MONITOR_TEST_BROKEN_STDERR"

func TestMain(m *testing.M) {
	if path := os.Getenv(brokenStderrChild); path != "" {
		signal.Ignore(syscall.SIGPIPE)
		s := Start(Options{Level: slog.LevelInfo, Stderr: os.Stderr, FilePath: path})
		for i := range 3 {
			s.Logger.Warn("terminating process over the threshold", "pid", 100+i)
		}
		if err := s.Close(10 * time.Second); err != nil {
			os.Exit(3)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// A stderr whose reader has gone must neither end the daemon nor cost the file its records.
func TestBrokenStderr(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	path := filepath.Join(t.TempDir(), "mm.log")
	cmd := exec.CommandContext(context.Background(), os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), brokenStderrChild+"="+path)
	cmd.Stderr = w
	err = cmd.Run()
	w.Close()
	if errors.Is(err, syscall.ENOEXEC) {
		t.Skip("cannot re-execute the test binary here (an emulated architecture without binfmt_misc)")
	}
	if err != nil {
		t.Fatalf("child with a broken stderr: %v", err)
	}
	b, _ := os.ReadFile(path)
	if strings.Count(string(b), "terminating process over the threshold") != 3 {
		t.Errorf("file records:\n%s", b)
	}
}
