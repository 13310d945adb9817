package monitor

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/memory-monitor/memory-monitor/internal/config"
	"github.com/memory-monitor/memory-monitor/internal/kill"
	"github.com/memory-monitor/memory-monitor/internal/proc"
)

// fixture is a /proc tree with PID 1, kernel threads, a zombie, an oom_score_adj -1000
// process and a hostile name, all over a 20 GiB threshold, plus two ordinary processes.
const fixture = "../proc/testdata/proc"

// syncBuffer lets stop goroutines log while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) lines(substrs ...string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, l := range strings.Split(s.b.String(), "\n") {
		ok := l != ""
		for _, sub := range substrs {
			ok = ok && strings.Contains(l, sub)
		}
		if ok {
			out = append(out, l)
		}
	}
	return out
}

func newFixtureMonitor(t *testing.T, dryRun bool) (*Monitor, *kill.Fake, *syncBuffer) {
	t.Helper()
	s, err := proc.NewScanner(fixture)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	r, err := proc.NewReader(fixture)
	if err != nil {
		t.Fatal(err)
	}
	fake := kill.NewFake()
	// Start times as in the fixture's stat files.
	for pid, start := range map[int]uint64{1: 10, 3: 12, 100: 500, 200: 600, 300: 700, 400: 800, 500: 900, 600: 1000} {
		fake.Add(pid, &kill.FakeProcess{StartTime: start})
	}
	buf := &syncBuffer{}
	m := New(Options{
		Config: config.Config{
			Threshold: 20 << 30,
			Interval:  time.Minute,
			Grace:     time.Second,
			DryRun:    dryRun,
			ProcRoot:  fixture,
		},
		Logger:  slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Scanner: s,
		Procs:   r,
		Opener:  fake,
		Self:    4242,
	})
	return m, fake, buf
}

func TestScanStopsOnlyUnprotectedOffenders(t *testing.T) {
	m, fake, log := newFixtureMonitor(t, false)
	for range 3 {
		if err := m.Scan(context.Background()); err != nil {
			t.Fatal(err)
		}
		m.Wait()
	}
	for pid, want := range map[int][]unix.Signal{
		1: nil, 3: nil, 100: nil, 200: nil, 500: nil, 600: nil, // protected or under
		300: {unix.SIGTERM}, 400: {unix.SIGTERM}, // over: once, not again at later scans
	} {
		if got := fake.Sent(pid); !slices.Equal(got, want) {
			t.Errorf("pid %d got %v, want %v", pid, got, want)
		}
	}
	for pid, reason := range map[string]string{"1": `"pid 1"`, "3": `"kernel thread"`, "100": "zombie", "200": `"oom_score_adj -1000"`} {
		got := log.lines("sparing protected process", "pid="+pid+" ", "reason="+reason, "message_id="+MsgSpared)
		if len(got) != 1 {
			t.Errorf("pid %s: want one spared entry over three scans, got %q", pid, got)
		}
	}
	if got := log.lines("signal=SIGTERM", "pid=400 ", "comm=python3", "uid=4000001", "rss_bytes=25769803776",
		"threshold_bytes=21474836480", "dry_run=false", "considered=9", "message_id="+MsgAction); len(got) != 1 {
		t.Errorf("want one SIGTERM entry for pid 400 with every field, got %q", got)
	}
	if got := log.lines("signal=SIGTERM", `comm="x\nlevel=ERROR msg=fake"`); len(got) != 1 {
		t.Errorf("want the hostile name quoted, got %q", got)
	}
	if got := log.lines("outcome=exited", "message_id="+MsgOutcome); len(got) != 2 {
		t.Errorf("want two outcome=exited entries, got %q", got)
	}
	if st := m.status(); !strings.HasPrefix(st, "Watching 9 processes, threshold 20.0 GiB; last action: SIGTERM to ") {
		t.Errorf("status %q", st)
	}
}

func TestDryRunLogsOnceAndSendsNothing(t *testing.T) {
	m, fake, log := newFixtureMonitor(t, true)
	for range 3 {
		if err := m.Scan(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	m.Wait()
	for _, pid := range []int{300, 400} {
		if got := fake.Sent(pid); len(got) != 0 {
			t.Errorf("dry run signalled pid %d: %v", pid, got)
		}
	}
	for _, pid := range []string{"300", "400"} {
		if got := log.lines("would terminate", "pid="+pid+" ", "dry_run=true", "signal=SIGTERM"); len(got) != 1 {
			t.Errorf("pid %s: want one would-terminate entry over three scans, got %q", pid, got)
		}
	}
	if st := m.status(); !strings.Contains(st, "(dry run)") {
		t.Errorf("status %q does not say dry run", st)
	}
}

func TestRunNotifiesSystemd(t *testing.T) {
	m, _, _ := newFixtureMonitor(t, true)
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var states []string
	m.o.Notify = func(s string) {
		mu.Lock()
		defer mu.Unlock()
		states = append(states, s)
		if strings.HasPrefix(s, "READY=1") {
			cancel()
		}
	}
	m.o.Watchdog = time.Hour
	if err := m.Run(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	joined := strings.Join(states, "|")
	for _, want := range []string{"READY=1\nSTATUS=Watching 9 processes, threshold 20.0 GiB (dry run); last action: none", "WATCHDOG=1", "STOPPING=1"} {
		if !strings.Contains(joined, want) {
			t.Errorf("notifications %q lack %q", states, want)
		}
	}
	if !strings.HasPrefix(states[0], "READY=1") {
		t.Errorf("READY=1 must come first (after the first complete scan), got %q", states)
	}
}

func TestSelfTestOnFixture(t *testing.T) {
	m, _, _ := newFixtureMonitor(t, true)
	if err := m.SelfTest(); err != nil {
		t.Errorf("self-test on a fixture tree: %v", err)
	}
	empty := t.TempDir()
	s, err := proc.NewScanner(empty)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m.o.Scanner = s
	if err := m.SelfTest(); err == nil || !strings.Contains(err.Error(), "no process readable") {
		t.Errorf("self-test on an empty tree: %v", err)
	}
}

func TestStatusIsRateLimitedButActionsGoOut(t *testing.T) {
	m, _, _ := newFixtureMonitor(t, true)
	var sent []string
	m.o.Notify = func(s string) { sent = append(sent, s) }
	if err := m.Scan(context.Background()); err != nil {
		t.Fatal(err)
	}
	m.notifyStatus("READY=1\n")
	m.notifyStatus("")
	m.notifyStatus("")
	if len(sent) != 1 || !strings.HasPrefix(sent[0], "READY=1\nSTATUS=Watching 9 processes") {
		t.Fatalf("want READY with STATUS once and no refresh within %v, got %q", statusEvery, sent)
	}
	m.mu.Lock()
	m.last = "SIGTERM to 400 (python3) at 12:00:00"
	m.mu.Unlock()
	m.notifyStatus("")
	if len(sent) != 2 || !strings.HasSuffix(sent[1], "last action: SIGTERM to 400 (python3) at 12:00:00") {
		t.Errorf("an action must reach STATUS at once, got %q", sent)
	}
	m.statusAt = time.Now().Add(-statusEvery)
	m.notifyStatus("")
	if len(sent) != 3 {
		t.Errorf("want a refresh after %v, got %q", statusEvery, sent)
	}
}
