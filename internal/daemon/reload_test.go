package daemon

import (
	"github.com/memory-monitor/memory-monitor/internal/budget"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/memory-monitor/memory-monitor/internal/config"
	"github.com/memory-monitor/memory-monitor/internal/event"
	"github.com/memory-monitor/memory-monitor/internal/kill"
	"github.com/memory-monitor/memory-monitor/internal/protect"
	"github.com/memory-monitor/memory-monitor/internal/reload"
)

// reloadCfg is a complete configuration as a reload hands it over (Protect set, so the
// world keeps it as given).
func reloadCfg(t *testing.T, c config.Config) config.Config {
	t.Helper()
	set, err := protect.Compile(nil, protect.Options{NoDefaults: true})
	if err != nil {
		t.Fatal(err)
	}
	c.Protect = set
	if c.Interval == 0 {
		c.Interval = time.Minute
	}
	return c
}

// A reload during the loop's sleep takes effect at once, with a full scan under the new
// threshold; the interval then counts from that scan.
func TestReloadLowersThresholdAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf strings.Builder
		var mu sync.Mutex
		old := reloadCfg(t, config.Config{Threshold: 4 * gib, Grace: time.Second})
		w := newWorld(t, old, false, func(w *world) {
			w.proc(10, 2*gib, &kill.FakeProcess{})
			w.opts = func(o *Options) { o.Log = slog.New(slog.NewTextHandler(lockedWriter{&mu, &buf}, nil)) }
		})
		w.at(10 * time.Second)
		cfg := old
		cfg.Threshold = gib
		if err := w.d.Apply(cfg); err != nil {
			t.Fatal(err)
		}
		// In force when Apply returns: the scan under the new threshold has run.
		if got := w.fake.Sent(10); len(got) != 1 {
			t.Errorf("signals when Apply returned: %v", got)
		}
		w.at(80 * time.Second)
		w.stop()
		expect(t, w.log(stops...), "10s signal 10 SIGTERM", "10s outcome 10 exited")
		scans := w.log(event.Scanned)
		if strings.Join(scans, ",") != "0s scanned 0,10s scanned 0,1m10s scanned 0" {
			t.Errorf("scans %q", scans)
		}
		if l := w.d.Tracker().Limits(); l.Threshold != gib {
			t.Errorf("tracker threshold %d", l.Threshold)
		}
		mu.Lock()
		defer mu.Unlock()
		if !strings.Contains(buf.String(), `msg="settings reloaded: THRESHOLD 4.0 GiB -> 1.0 GiB"`) ||
			!strings.Contains(buf.String(), `threshold="4.0 GiB -> 1.0 GiB"`) ||
			!strings.Contains(buf.String(), "message_id="+reload.MsgReloaded) {
			t.Errorf("no reload entry naming the change:\n%s", buf.String())
		}
	})
}

// A stop in its grace period finishes with the grace it started with, although the
// reload shortens the grace; a stop started after the reload uses the new one.
func TestReloadKeepsStopInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		old := reloadCfg(t, config.Config{Threshold: gib, Grace: 5 * time.Second, Interval: 10 * time.Second})
		w := newWorld(t, old, false, func(w *world) {
			w.proc(10, 3*gib, &kill.FakeProcess{IgnoresTerm: true})
		})
		w.at(2 * time.Second)
		cfg := old
		cfg.Grace = time.Second
		if err := w.d.Apply(cfg); err != nil {
			t.Fatal(err)
		}
		w.at(3 * time.Second)
		w.proc(11, 3*gib, &kill.FakeProcess{IgnoresTerm: true})
		w.at(5 * time.Second)
		w.tree.Remove(10)
		w.at(13 * time.Second) // the scan at 12 s (10 s after the reload's) finds 11
		w.tree.Remove(11)
		w.at(14 * time.Second)
		w.stop()
		expect(t, w.log(stops...),
			"0s signal 10 SIGTERM",
			"5s signal 10 SIGKILL", "5s outcome 10 killed",
			"12s signal 11 SIGTERM",
			"13s signal 11 SIGKILL", "13s outcome 11 killed")
	})
}

// Sustain clocks survive a reload that keeps the process over: the stop comes when the
// period that began before the reload ends. One no longer over the new threshold is
// forgiven at the reload's scan.
func TestReloadKeepsSustainClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		old := reloadCfg(t, config.Config{Threshold: gib, Grace: time.Second, Sustain: 3 * time.Second})
		w := newWorld(t, old, false, func(w *world) {
			w.proc(10, 3*gib, &kill.FakeProcess{})
			w.proc(11, 1536*mib, &kill.FakeProcess{})
		})
		w.at(1500 * time.Millisecond)
		cfg := old
		cfg.Threshold = 2 * gib
		if err := w.d.Apply(cfg); err != nil {
			t.Fatal(err)
		}
		w.at(5 * time.Second)
		w.stop()
		expect(t, w.log(stops...),
			"0s wait 10", "0s wait 11",
			"1.5s forgiven 11",
			"3s signal 10 SIGTERM", "3s outcome 10 exited")
	})
}

// The warning state carries over: a process already warned about is not warned about
// again by the reload's scan.
func TestReloadKeepsWarnState(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		old := reloadCfg(t, config.Config{Threshold: 4 * gib, WarnThreshold: gib, Grace: time.Second})
		w := newWorld(t, old, false, func(w *world) {
			w.proc(10, 2*gib, &kill.FakeProcess{})
		})
		w.at(time.Second)
		cfg := old
		cfg.Threshold = 3 * gib
		if err := w.d.Apply(cfg); err != nil {
			t.Fatal(err)
		}
		w.stop()
		expect(t, w.log(stops...), "0s warn 10")
	})
}

// A setting that cannot change while running is refused and nothing changes; the
// hook for the settings outside the loop sees old and new of an accepted reload.
func TestReloadRefusesProcRootAndCallsHook(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var hooked []string
		old := reloadCfg(t, config.Config{Threshold: 4 * gib, Grace: time.Second, LogLevel: slog.LevelInfo})
		w := newWorld(t, old, false, func(w *world) {
			w.proc(10, 2*gib, &kill.FakeProcess{})
			w.opts = func(o *Options) {
				o.Reconfigure = func(a, b config.Config) {
					hooked = append(hooked, a.LogLevel.String()+" -> "+b.LogLevel.String())
				}
			}
		})
		bad := old
		bad.ProcRoot, bad.Threshold = "/elsewhere", gib
		err := w.d.Apply(bad)
		if err == nil || !strings.Contains(err.Error(), "--proc-root cannot change while the daemon runs") {
			t.Errorf("Apply = %v", err)
		}
		if l := w.d.Tracker().Limits(); l.Threshold != 4*gib {
			t.Errorf("refused reload changed the threshold to %d", l.Threshold)
		}
		otherCg := old
		otherCg.CgroupRoot = "/elsewhere"
		otherCg.Budgets = budget.NewSet([]budget.Rule{{Kind: budget.User, Pattern: "*", Limit: gib, Size: "1G"}}, budget.DefaultLoginRange())
		if err := w.d.Apply(otherCg); err == nil || !strings.Contains(err.Error(), "--cgroup-root cannot change while the daemon runs") {
			t.Errorf("Apply with another cgroup root = %v", err)
		}
		if w.d.bud != nil {
			t.Error("a refused reload turned budgets on")
		}
		good := old
		good.LogLevel = slog.LevelDebug
		if err := w.d.Apply(good); err != nil {
			t.Fatal(err)
		}
		w.stop()
		if strings.Join(hooked, ",") != "INFO -> DEBUG" {
			t.Errorf("hook calls %q", hooked)
		}
		if len(w.fake.Sent(10)) != 0 {
			t.Error("signalled under refused settings")
		}
		if err := w.d.Apply(good); err != ErrStopping {
			t.Errorf("Apply after the loop ended = %v", err)
		}
	})
}
