package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/memory-monitor/memory-monitor/internal/config"
	"github.com/memory-monitor/memory-monitor/internal/event"
	"github.com/memory-monitor/memory-monitor/internal/kill"
	"github.com/memory-monitor/memory-monitor/internal/policy"
	"github.com/memory-monitor/memory-monitor/internal/proctest"
	"github.com/memory-monitor/memory-monitor/internal/protect"
	"github.com/memory-monitor/memory-monitor/internal/sampler"
	"github.com/memory-monitor/memory-monitor/internal/sink"
)

const (
	mib = uint64(1) << 20
	gib = uint64(1) << 30
)

// world is a daemon over a changing fixture tree and pretend processes, run in a
// synctest bubble: every time below is virtual and exact.
type world struct {
	t      *testing.T
	tree   *proctest.Tree
	fake   *kill.Fake
	start  time.Time
	mu     sync.Mutex
	events []event.Event
	notes  []string // sd_notify states, "T+d state"
	reopen int
	hup    chan os.Signal
	cancel context.CancelFunc
	done   chan error
	d      *Daemon
	opts   func(*Options) // set by a setup to change the options (reload_test.go)
	also   event.Sink     // set by setup (owner_test.go): a second sink after w
}

func (w *world) Handle(e event.Event) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.events = append(w.events, e)
	if w.also != nil {
		w.also.Handle(e)
	}
}

func (w *world) notify(s string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.notes = append(w.notes, fmt.Sprintf("%v %s", time.Since(w.start), s))
}

// proc adds a pretend process to the tree and the fake.
func (w *world) proc(pid int, rss uint64, fp *kill.FakeProcess, mod ...func(*proctest.Proc)) {
	p := proctest.Proc{Comm: fmt.Sprintf("p%d", pid), RSS: rss, Start: uint64(pid), UID: 1000}
	for _, m := range mod {
		m(&p)
	}
	w.tree.Add(pid, p)
	if fp != nil {
		w.fake.Add(pid, fp)
	}
}

func newWorld(t *testing.T, cfg config.Config, fast bool, setup func(w *world)) *world {
	t.Helper()
	w := &world{t: t, tree: proctest.New(t), fake: kill.NewFake(), hup: make(chan os.Signal, 1), done: make(chan error, 1)}
	w.tree.Meminfo(64*gib, 4*gib, gib)
	if setup != nil {
		setup(w)
	}
	set, err := protect.Compile(nil, protect.Options{NoDefaults: true})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Protect == nil {
		cfg.Protect = set
	}
	if cfg.Interval == 0 {
		cfg.Interval = time.Minute
	}
	smp, err := sampler.New(w.tree.Root, sampler.Options{
		Rules: policy.Rules{Threshold: cfg.Threshold, Self: 4242, Protect: cfg.Protect, Metric: cfg.Metric},
		Warn:  cfg.WarnThreshold, Opener: w.fake, FastPath: fast, GrowthRate: 4 << 30,
		Budgets: cfg.Budgets, CgroupRoot: cfg.CgroupRoot,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(smp.Close)
	w.start = time.Now()
	o := Options{
		Config: cfg, Sampler: smp, Waiter: w.fake, Sink: w,
		Status: &sink.Status{Threshold: cfg.Threshold}, Log: slog.New(slog.DiscardHandler),
		Notify: w.notify, Watchdog: 10 * time.Second, Hup: w.hup,
		Reopen: func() { w.mu.Lock(); w.reopen++; w.mu.Unlock() },
	}
	if w.opts != nil {
		w.opts(&o)
	}
	w.d = New(o)
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	go func() { w.done <- w.d.Run(ctx) }()
	synctest.Wait()
	return w
}

// at sleeps until d after the start (virtual time) and lets the loop settle.
func (w *world) at(d time.Duration) {
	if left := d - time.Since(w.start); left > 0 {
		time.Sleep(left)
	}
	synctest.Wait()
}

func (w *world) stop() {
	w.cancel()
	if err := <-w.done; err != nil {
		w.t.Fatal(err)
	}
}

// log renders the events as "T+d kind pid detail" lines for exact comparison.
func (w *world) log(kinds ...event.Kind) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, e := range w.events {
		if len(kinds) > 0 && !slices.Contains(kinds, e.Kind) {
			continue
		}
		s := fmt.Sprintf("%v %s %d", e.Time.Sub(w.start), kindName(e.Kind), e.Proc.PID)
		switch e.Kind {
		case event.Signal:
			s += " " + e.Signal
		case event.Outcome:
			s += " " + e.Outcome
		case event.Spared:
			s += " " + e.Reason
		case event.Scanned:
			if e.Reused {
				s += " reused"
			}
		}
		out = append(out, s)
	}
	return out
}

func kindName(k event.Kind) string {
	return map[event.Kind]string{event.Signal: "signal", event.WouldStop: "would", event.Outcome: "outcome",
		event.NotOver: "notover", event.Spared: "spared", event.Warn: "warn", event.Wait: "wait",
		event.Forgiven: "forgiven", event.Scanned: "scanned", event.ScanFailed: "scanfailed",
		event.Triggered: "triggered", event.Finishing: "finishing"}[k]
}

// expect compares the events as sets: events at the same instant come in map order.
func expect(t *testing.T, got []string, want ...string) {
	t.Helper()
	got, want = slices.Clone(got), slices.Clone(want)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("events:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

var stops = []event.Kind{event.Signal, event.Outcome, event.WouldStop, event.Spared, event.Warn, event.Wait,
	event.Forgiven, event.NotOver, event.Finishing}

func TestStopAtStartExactGrace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld(t, config.Config{Threshold: gib, Grace: 5 * time.Second}, false, func(w *world) {
			w.proc(10, 2*gib, &kill.FakeProcess{})                  // exits on SIGTERM
			w.proc(11, 3*gib, &kill.FakeProcess{IgnoresTerm: true}) // needs SIGKILL
			w.proc(12, 3*gib, &kill.FakeProcess{TermTakes: 2 * time.Second})
			w.proc(13, 100*mib, &kill.FakeProcess{})
		})
		w.tree.Remove(10) // the kernel removes /proc/PID once reaped
		w.at(2 * time.Second)
		w.tree.Remove(12)
		w.at(5 * time.Second)
		w.tree.Remove(11)
		w.at(6 * time.Second)
		w.stop()
		expect(t, w.log(stops...),
			"0s outcome 10 exited",
			"0s signal 10 SIGTERM",
			"0s signal 11 SIGTERM",
			"0s signal 12 SIGTERM",
			"2s outcome 12 exited",
			"5s outcome 11 killed",
			"5s signal 11 SIGKILL")
		if got := w.fake.Sent(13); got != nil {
			t.Errorf("small process got %v", got)
		}
		if n := w.fake.OpenHandles(); n != 0 {
			t.Errorf("%d handles left open", n)
		}
	})
}

func TestNotifyReadyWatchdogStatusAndHup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld(t, config.Config{Threshold: gib, Grace: time.Second, Interval: time.Minute}, false, nil)
		w.at(20 * time.Second)
		w.proc(10, 2*gib, &kill.FakeProcess{})
		w.at(61 * time.Second) // found by the scan at 60 s
		w.hup <- syscall.SIGHUP
		w.at(62 * time.Second)
		w.stop()
		w.mu.Lock()
		defer w.mu.Unlock()
		want := []string{
			"0s READY=1\nSTATUS=Watching 0 processes, threshold 1.0 GiB; last action: none",
			"0s WATCHDOG=1",
			"5s WATCHDOG=1",
			"10s WATCHDOG=1",
			"15s WATCHDOG=1",
			"20s WATCHDOG=1", // the same STATUS is not sent again
			"25s WATCHDOG=1",
		}
		if !slices.Equal(w.notes[:len(want)], want) {
			t.Errorf("notifications:\n%q\nwant\n%q", w.notes[:len(want)], want)
		}
		// STATUS is refreshed at once after an action, not at the next 10 s.
		if !slices.ContainsFunc(w.notes, func(s string) bool {
			return strings.HasPrefix(s, "1m0s STATUS=Watching 1 processes, threshold 1.0 GiB; last action: SIGTERM to 10 (p10) at ")
		}) {
			t.Errorf("no STATUS at 60 s naming the SIGTERM: %q", w.notes)
		}
		if w.notes[len(w.notes)-1] != "1m2s STOPPING=1\nSTATUS=Stopping" {
			t.Errorf("last notification %q", w.notes[len(w.notes)-1])
		}
		if w.reopen != 1 {
			t.Errorf("reopened %d times on one SIGHUP", w.reopen)
		}
	})
}

func TestSustainInVirtualTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld(t, config.Config{Threshold: gib, Grace: time.Second, Sustain: 3 * time.Second}, false, func(w *world) {
			w.proc(10, 2*gib, &kill.FakeProcess{}) // steady: stopped when the period ends
			w.proc(11, 2*gib, &kill.FakeProcess{}) // spike: back below after 1.2 s
		})
		w.at(1100 * time.Millisecond) // between two re-checks (every 600 ms, a fifth)
		w.proc(11, 100*mib, nil)
		w.at(5 * time.Second)
		w.stop()
		expect(t, w.log(stops...),
			"0s wait 10",
			"0s wait 11",
			"1.2s forgiven 11",
			"3s signal 10 SIGTERM",
			"3s outcome 10 exited")
	})
}

// A grower the fast checks see between full scans: a full scan at once, and the
// interval starts again from it (no second scan right after).
func TestFastPathTriggersScanAndRestartsInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld(t, config.Config{Threshold: 20 * gib, Grace: time.Second, Interval: time.Minute}, true, func(w *world) {
			w.proc(10, 10*mib, &kill.FakeProcess{})
		})
		w.at(29500 * time.Millisecond)
		// 21 GiB allocated while the levels stay flat (others freed as much).
		w.proc(10, 21*gib, nil)
		w.tree.Vmstat(21*gib/4096, 0)
		w.at(100 * time.Second)
		w.stop()
		scans := w.log(event.Scanned, event.Triggered)
		// An idle machine with a 20 GiB threshold is checked every second.
		if len(scans) < 3 || scans[0] != "0s scanned 0" || scans[1] != "30s triggered 0" {
			t.Fatalf("scans %q", scans)
		}
		trig := strings.Fields(scans[1])[0]
		at, _ := time.ParseDuration(trig)
		want := []string{"0s scanned 0", trig + " triggered 0", trig + " scanned 0", (at + time.Minute).String() + " scanned 0"}
		if !slices.Equal(scans, want) {
			t.Errorf("scans %q, want %q: the interval restarts at the triggered scan", scans, want)
		}
		expect(t, w.log(stops...), trig+" signal 10 SIGTERM", trig+" outcome 10 exited")
		if c, trig := w.d.sampler.FastStats(); c != 100 || trig != 1 {
			t.Errorf("%d fast checks (%d triggered) in 100 s; want one a second on an idle machine", c, trig)
		}
	})
}

func TestWarnDryRunSpareAndRearm(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := config.Config{Threshold: gib, WarnThreshold: 512 * mib, DryRun: true, Grace: time.Second, Interval: 10 * time.Second}
		w := newWorld(t, cfg, false, func(w *world) {
			w.proc(10, 600*mib, &kill.FakeProcess{})
			w.proc(11, 2*gib, &kill.FakeProcess{})
			w.proc(12, 2*gib, &kill.FakeProcess{}, func(p *proctest.Proc) { p.OOMAdj = -1000 })
		})
		w.at(15 * time.Second)
		w.proc(10, 100*mib, nil) // below: re-armed
		w.at(25 * time.Second)
		w.proc(10, 700*mib, nil)
		w.at(35 * time.Second)
		w.stop()
		expect(t, w.log(stops...),
			"0s warn 10", "0s warn 11", "0s warn 12", "0s would 11", "0s spared 12 oom_score_adj -1000",
			"30s warn 10")
		if len(w.fake.Sent(11)) != 0 {
			t.Error("dry run signalled")
		}
	})
}

// EPERM: the failure is reported, and retried only after the backoff, not at every scan.
func TestBackoffAfterFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld(t, config.Config{Threshold: gib, Grace: time.Second, Interval: time.Second}, false, func(w *world) {
			w.proc(10, 2*gib, &kill.FakeProcess{SignalErr: syscall.EPERM})
		})
		w.at(35 * time.Second)
		w.stop()
		expect(t, w.log(event.Outcome), "0s outcome 10 failed", "10s outcome 10 failed", "30s outcome 10 failed")
	})
}

// Asked to exit during grace periods, the daemon finishes them; one longer than the stop
// budget allows is brought forward so that it ends in SIGKILL, not abandoned.
func TestShutdownFinishesStopsInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld(t, config.Config{Threshold: gib, Grace: time.Minute}, false, func(w *world) {
			w.proc(10, 2*gib, &kill.FakeProcess{IgnoresTerm: true})
			w.proc(11, 2*gib, &kill.FakeProcess{TermTakes: 3 * time.Second})
		})
		w.at(time.Second)
		w.cancel()
		w.at(30 * time.Second)
		if err := <-w.done; err != nil {
			t.Fatal(err)
		}
		expect(t, w.log(stops...),
			"0s signal 10 SIGTERM", "0s signal 11 SIGTERM",
			"1s finishing 0",
			"3s outcome 11 exited",
			"16s signal 10 SIGKILL", "16s outcome 10 killed") // 1 s + the 20 s budget - 5 s for the kill
	})
}

func TestShutdownAbandonsWhatOutlivesTheBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld(t, config.Config{Threshold: gib, Grace: time.Second}, false, func(w *world) {
			w.proc(10, 2*gib, &kill.FakeProcess{IgnoresTerm: true, Unkillable: true})
		})
		w.at(1500 * time.Millisecond)
		w.cancel()
		w.at(time.Minute)
		<-w.done
		expect(t, w.log(event.Signal, event.Outcome, event.Finishing),
			"0s signal 10 SIGTERM", "1s signal 10 SIGKILL", "1.5s finishing 0", "11s outcome 10 failed")
	})
}

// The check just before the first signal finds the process below: nothing is sent, and
// the next crossing is acted on.
func TestConfirmFindsItBelow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld(t, config.Config{Threshold: gib, Grace: time.Second, Interval: time.Second}, false, nil)
		w.proc(10, 2*gib, &kill.FakeProcess{})
		// Between the scan and the confirmation nothing can happen in a bubble; drive it
		// through the daemon's own parts instead.
		now := time.Now()
		r, _ := w.d.sampler.Full(now, nil)
		w.tree.Add(10, proctest.Proc{Comm: "p10", RSS: 100 * mib, Start: 10, UID: 1000})
		w.d.stop(now, r.Obs[0])
		w.stop()
		expect(t, w.log(event.NotOver, event.Signal), "0s notover 10")
	})
}

func TestFirstScanFailureIsReturned(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tree := proctest.New(t)
		smp, err := sampler.New(tree.Root, sampler.Options{Opener: kill.NewFake(), Rules: policy.Rules{Threshold: gib}})
		if err != nil {
			t.Fatal(err)
		}
		defer smp.Close()
		smp.Close() // the scanner's directory is closed: listing fails
		d := New(Options{Config: config.Config{Threshold: gib, Interval: time.Second}, Sampler: smp,
			Waiter: kill.NewFake(), Sink: event.Sinks{}, Log: slog.New(slog.DiscardHandler)})
		if err := d.Run(context.Background()); err == nil {
			t.Error("Run succeeded without a first scan")
		}
	})
}

func TestCrowdAtStartIsWarned(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf strings.Builder
		var mu sync.Mutex
		tree := proctest.New(t)
		f := kill.NewFake()
		for pid := 10; pid < 16; pid++ {
			tree.Add(pid, proctest.Proc{Comm: "shell", RSS: 30 * mib, Start: uint64(pid)})
			f.Add(pid, &kill.FakeProcess{})
		}
		smp, _ := sampler.New(tree.Root, sampler.Options{Opener: f, Rules: policy.Rules{Threshold: 20 * mib}})
		defer smp.Close()
		d := New(Options{Config: config.Config{Threshold: 20 * mib, Interval: time.Minute, DryRun: true}, Sampler: smp,
			Waiter: f, Sink: event.Sinks{}, Log: slog.New(slog.NewTextHandler(lockedWriter{&mu, &buf}, nil))})
		ctx, cancel := context.WithCancel(context.Background())
		go func() { time.Sleep(time.Second); cancel() }()
		d.Run(ctx)
		mu.Lock()
		defer mu.Unlock()
		if !strings.Contains(buf.String(), "many processes are over the threshold at start") || !strings.Contains(buf.String(), "over=6") {
			t.Errorf("no crowd warning: %s", buf.String())
		}
	})
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *strings.Builder
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// Gone between the scan and the confirmation: an outcome "gone", nothing sent, and the
// tracker forgets it.
func TestConfirmFindsItGone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld(t, config.Config{Threshold: gib, Grace: time.Second, Interval: time.Minute}, false, nil)
		w.proc(10, 2*gib, &kill.FakeProcess{})
		now := time.Now()
		r, _ := w.d.sampler.Full(now, nil)
		w.d.tracker.Observe(now, true, r.Obs)
		w.fake.Exit(10)
		w.tree.Remove(10)
		w.d.stop(now, r.Obs[0])
		w.stop()
		expect(t, w.log(event.Outcome, event.Signal), "0s outcome 10 gone")
		if w.d.tracker.Len() != 0 {
			t.Errorf("tracker keeps %d entries for a process that is gone", w.d.tracker.Len())
		}
	})
}
