// Package monitor is the daemon's loop: scan every process's memory on an interval, decide
// with package policy, stop offenders with package kill (each in its own goroutine, so one
// grace period never delays another), and report to the log and to systemd.
package monitor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/memory-monitor/memory-monitor/internal/config"
	"github.com/memory-monitor/memory-monitor/internal/kill"
	"github.com/memory-monitor/memory-monitor/internal/metrics"
	"github.com/memory-monitor/memory-monitor/internal/policy"
	"github.com/memory-monitor/memory-monitor/internal/proc"
)

// MESSAGE_IDs of the journal entries, fixed forever so that filters keep working.
const (
	// MsgAction marks every signal sent and every dry-run decision.
	MsgAction = "0dd4266e9e43475fa2c798fff57e3afa"
	// MsgOutcome marks how a stop ended: exited, killed, gone, failed, abandoned.
	MsgOutcome = "0e7bfcfd95304fe3b7e7af0f07c49fe2"
	// MsgSpared marks a protected process over the threshold that was left alone.
	MsgSpared = "e842209cf7e84ded91dd239f0e4e7fde"
	// MsgStarted marks the start-up line with the effective configuration.
	MsgStarted = "fa013506715a458f954941e56b86baa0"
	// MsgWarn marks a process crossing --warn-threshold (priority warning).
	MsgWarn = "aa42224a747247dc8e37557d4b6c278d"
)

// Options are the monitor's dependencies.
type Options struct {
	Config   config.Config
	Logger   *slog.Logger
	Scanner  *proc.Scanner
	Procs    *proc.Reader
	Opener   kill.Opener
	Notify   func(state string) // sd_notify; nil when not under systemd
	Watchdog time.Duration      // systemd's WatchdogSec; 0 when off
	Self     int                // the daemon's PID, never a victim
	// Meminfo enables the fast path between full scans (fastpath.go); nil turns it off.
	Meminfo *proc.MeminfoReader
	// Metrics counts what the daemon does; nil turns counting off. When MetricsFile is
	// set, the metrics are written there after every full scan and every stop.
	Metrics     *metrics.Metrics
	MetricsFile string
}

// key identifies a process across scans: a PID alone may be reused.
type key struct {
	pid   int
	start uint64
}

type sample struct {
	pid int
	rss uint64
}

// note records what has been logged about a process over the threshold, so that it is
// logged once while it stays over, not at every scan.
type note int

const (
	notedSpared note = iota + 1
	notedWouldStop
)

// Monitor runs the scan loop. Create it with New.
type Monitor struct {
	o       Options
	rules   policy.Rules
	log     *slog.Logger
	collect func(pid int, rss, size uint64) // bound once: no allocation per scan
	low     uint64                          // lowest of the threshold and --warn-threshold

	// Owned by the scan loop.
	over  []sample
	noted map[key]note
	seen  map[key]struct{}
	stats proc.ScanStats
	swap  uint64 // swap in use at the start of the scan, for --metric=swap
	sus   sustainState
	warn  warnState

	fast fastPath // checks between full scans (fastpath.go), owned by the scan loop

	statusAt   time.Time // when STATUS= was last sent, by the scan loop
	statusLast string    // the last action it reported

	// Shared with the stop goroutines.
	wg     sync.WaitGroup
	mu     sync.Mutex
	active map[key]struct{}
	last   string // last action, for STATUS

	metricsFailing bool // a write of MetricsFile failed and was reported; guarded by mu
}

// New returns a Monitor.
func New(o Options) *Monitor {
	m := &Monitor{
		o:      o,
		rules:  policy.Rules{Threshold: o.Config.Threshold, Self: o.Self, Protect: o.Config.Protect, Metric: o.Config.Metric},
		log:    o.Logger,
		noted:  map[key]note{},
		seen:   map[key]struct{}{},
		active: map[key]struct{}{},
	}
	m.collect = m.collectOver
	if o.Meminfo != nil {
		m.fast.mi = o.Meminfo
		m.collect = m.collectFast
	}
	m.low = o.Config.Threshold
	if w := o.Config.WarnThreshold; w > 0 {
		m.low = min(m.low, w)
	}
	m.sus = newSustainState()
	m.warn = newWarnState()
	return m
}

// collectOver keeps the processes that may be over the lower threshold by the metric in
// use, judging from statm alone (see proc.Metric.Bound).
func (m *Monitor) collectOver(pid int, rss, size uint64) {
	if m.rules.Metric.Bound(rss, size, m.swap) > m.low {
		m.over = append(m.over, sample{pid, rss})
	}
}

// SelfTest checks, before the first scan, that the daemon can do its job here: the tree
// lists processes, and, on the real /proc, it can see itself and open a pidfd.
func (m *Monitor) SelfTest() error {
	sawSelf := false
	st, err := m.o.Scanner.Scan(func(pid int, rss uint64) {
		if pid == m.o.Self && rss > 0 {
			sawSelf = true
		}
	})
	if err != nil {
		return err
	}
	if st.Processes == 0 {
		return fmt.Errorf("self-test: no process readable under %s", m.o.Scanner.Root())
	}
	if m.o.Scanner.Root() != "/proc" {
		return nil
	}
	if !sawSelf {
		return fmt.Errorf("self-test: own process %d not found in /proc (is /proc from another PID namespace?)", m.o.Self)
	}
	fd, err := unix.PidfdOpen(m.o.Self, 0)
	if err != nil {
		return fmt.Errorf("self-test: pidfd_open: %w (Linux 5.3 or later is needed)", err)
	}
	return unix.Close(fd)
}

// Run scans at once, reports READY=1, then scans every interval until ctx ends. It returns
// an error only when the first scan fails; later failures are logged and retried.
func (m *Monitor) Run(ctx context.Context) error {
	if err := m.Scan(ctx); err != nil {
		return err
	}
	m.notifyStatus("READY=1\n")
	scan := time.NewTicker(m.o.Config.Interval)
	defer scan.Stop()
	var watchdog <-chan time.Time
	if m.o.Watchdog > 0 {
		t := time.NewTicker(m.o.Watchdog / 2)
		defer t.Stop()
		watchdog = t.C
		m.notify("WATCHDOG=1")
	}
	defer m.sus.timer.Stop()
	var fast <-chan time.Time
	if m.fast.mi != nil {
		m.fast.timer = time.NewTimer(fastMax)
		defer m.fast.timer.Stop()
		fast = m.fast.timer.C
		m.fastArm()
	}
	for {
		select {
		case <-ctx.Done():
			m.notify("STOPPING=1\nSTATUS=Stopping")
			m.wg.Wait()
			return nil
		case <-m.sus.timer.C:
			m.recheck(ctx)
		case <-scan.C:
			if err := m.Scan(ctx); err != nil {
				m.log.Error("scan failed", "error", err)
				continue
			}
			m.notifyStatus("")
		case <-fast:
			m.fastCheck(ctx)
		case <-watchdog:
			m.notify("WATCHDOG=1")
		}
	}
}

// Wait blocks until every stop in progress has ended.
func (m *Monitor) Wait() { m.wg.Wait() }

// Scan reads every process once and acts on those over the threshold.
func (m *Monitor) Scan(ctx context.Context) error {
	start := time.Now()
	m.over = m.over[:0]
	m.fastBegin()
	defer m.fastEnd()
	m.swap = m.swapUsed()
	st, err := m.o.Scanner.ScanSize(m.collect)
	if err != nil {
		m.o.Metrics.ScanFailed()
		return err
	}
	m.stats = st
	if st.FirstErr != nil {
		m.log.Debug("some processes could not be read", "count", st.Failed, "error", st.FirstErr)
	}
	clear(m.seen)
	for _, s := range m.over {
		m.consider(ctx, s)
	}
	for k := range m.noted {
		if _, ok := m.seen[k]; !ok {
			delete(m.noted, k)
		}
	}
	m.forgetUnseen()
	m.warn.forgetUnseen()
	m.sus.arm(time.Now())
	m.o.Metrics.Scanned(time.Since(start), st.Processes, st.MaxRSS, time.Now())
	m.writeMetrics()
	return nil
}

// writeMetrics writes the metrics file, if one is configured. A failure is logged once
// per outage: a missing directory must not flood the journal at every scan.
func (m *Monitor) writeMetrics() {
	if m.o.MetricsFile == "" {
		return
	}
	err := m.o.Metrics.WriteFile(m.o.MetricsFile)
	m.mu.Lock()
	was := m.metricsFailing
	m.metricsFailing = err != nil
	m.mu.Unlock()
	switch {
	case err != nil && !was:
		m.log.Warn("cannot write the metrics file; will keep trying", "path", m.o.MetricsFile, "error", err)
	case err == nil && was:
		m.log.Info("metrics file written again", "path", m.o.MetricsFile)
	}
}

// consider reads the details of one process found over the threshold and acts.
func (m *Monitor) consider(ctx context.Context, s sample) {
	info, err := m.o.Procs.Info(s.pid)
	if err != nil {
		if !proc.IsGone(err) {
			m.log.Warn("cannot read process over the threshold", "pid", s.pid, "error", err)
		}
		return
	}
	k := key{info.PID, info.StartTime}
	if err := m.o.Procs.Measure(&info, m.rules.Metric); err != nil {
		if !proc.IsGone(err) {
			m.log.Warn("cannot measure process over the threshold", "pid", s.pid, "metric", m.rules.Metric.String(), "error", err)
		}
		return
	}
	m.checkWarn(k, info)
	d := policy.Decide(info, m.rules)
	if d.Verdict == policy.Under {
		m.forgive(k, info.PID, m.rules.Metric.Of(info))
		return
	}
	m.seen[k] = struct{}{}
	if d.Verdict == policy.Stop && !m.sustained(k, info) {
		return
	}
	switch {
	case d.Verdict == policy.Spare:
		if m.noted[k] != notedSpared {
			m.noted[k] = notedSpared
			m.o.Metrics.Spared(d.Reason)
			m.log.Info("sparing protected process over the threshold",
				append(m.procAttrs(info), "reason", d.Reason, "message_id", MsgSpared)...)
		}
	case m.o.Config.DryRun:
		if m.noted[k] != notedWouldStop {
			m.noted[k] = notedWouldStop
			m.o.Metrics.DryRun()
			m.log.Warn("dry run: would terminate process over the threshold",
				append(m.procAttrs(info), "signal", m.firstSignal(), "dry_run", true,
					"considered", m.stats.Processes, "over", len(m.over), "message_id", MsgAction)...)
		}
	default:
		m.mu.Lock()
		_, busy := m.active[k]
		if !busy {
			m.active[k] = struct{}{}
		}
		m.mu.Unlock()
		if busy {
			return
		}
		considered, over := m.stats.Processes, len(m.over)
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			m.stop(ctx, info, considered, over)
			m.mu.Lock()
			delete(m.active, k)
			m.mu.Unlock()
		}()
	}
}

func (m *Monitor) firstSignal() string {
	if m.o.Config.Grace == 0 {
		return "SIGKILL"
	}
	return "SIGTERM"
}

// stop runs in its own goroutine: it opens a verified handle, re-checks the memory, and
// terminates the process.
func (m *Monitor) stop(ctx context.Context, info proc.Info, considered, over int) {
	attrs := m.procAttrs(info)
	h, err := m.o.Opener.Open(info.PID, info.StartTime)
	switch {
	case errors.Is(err, kill.ErrGone):
		m.outcome(info, attrs, kill.Result{Outcome: kill.Gone})
		return
	case err != nil:
		m.outcome(info, attrs, kill.Result{Outcome: kill.Failed, Err: err})
		return
	}
	defer h.Close()
	// Re-check through the verified handle's PID: a process that freed its memory since
	// the scan is left alone.
	rss, err := m.measureNow(info)
	if err != nil || rss <= m.rules.Threshold {
		m.log.Debug("process no longer over the threshold; not signalled", append(attrs, "rss_now_bytes", rss)...)
		return
	}
	attrs = m.procAttrs(info, rss)
	res := kill.Stop(ctx, h, m.o.Config.Grace, func(sig unix.Signal) {
		name := unix.SignalName(sig)
		msg := "terminating process over the threshold"
		if sig == unix.SIGKILL {
			msg = "killing process over the threshold"
			if m.o.Config.Grace > 0 {
				msg = "killing process still alive after the grace period"
			}
		}
		m.o.Metrics.Signal(name)
		m.log.Warn(msg, append(attrs, "signal", name, "dry_run", false,
			"considered", considered, "over", over, "message_id", MsgAction)...)
		m.mu.Lock()
		m.last = fmt.Sprintf("%s to %d (%s) at %s", name, info.PID, info.Comm, time.Now().Format(time.TimeOnly))
		m.mu.Unlock()
	})
	m.outcome(info, attrs, res)
}

// outcome logs how a stop ended, one entry per stop.
func (m *Monitor) outcome(info proc.Info, attrs []any, res kill.Result) {
	m.o.Metrics.Stopped(string(res.Outcome))
	defer m.writeMetrics()
	attrs = append(attrs, "outcome", string(res.Outcome), "message_id", MsgOutcome)
	if res.Took > 0 {
		attrs = append(attrs, "took", res.Took.Round(time.Millisecond))
	}
	switch {
	case res.Outcome == kill.Gone:
		m.log.Info("process already gone; nothing sent", attrs...)
	case res.Outcome == kill.Exited:
		m.log.Info("process exited after SIGTERM", attrs...)
	case res.Outcome == kill.Killed:
		if res.ReleaseErr != nil {
			// Usually the process died before the call: harmless, so debug only.
			m.log.Debug("process_mrelease failed", "pid", info.PID, "error", res.ReleaseErr)
		}
		m.log.Info("process killed with SIGKILL", attrs...)
	case res.Outcome == kill.Abandoned:
		m.log.Warn("daemon stopping during the grace period; SIGKILL not sent", attrs...)
	default:
		m.log.Error("could not stop process", append(attrs, "error", res.Err)...)
	}
}

// procAttrs are the fields that identify a process in every entry about it. rss, when
// given, replaces the memory measured during the scan (by the metric in use). With
// --metric=pss or swap, "metric" and "memory_bytes" tell what the threshold was compared
// with.
func (m *Monitor) procAttrs(in proc.Info, now ...uint64) []any {
	rss, mem := in.RSS, m.rules.Metric.Of(in)
	if len(now) > 0 {
		mem = now[0]
		if m.rules.Metric == proc.MetricRSS {
			rss = now[0]
		}
	}
	attrs := []any{"pid", in.PID, "comm", in.Comm, "uid", in.UID, "user", proc.UserName(in.UID), "rss_bytes", rss}
	if m.rules.Metric != proc.MetricRSS {
		attrs = append(attrs, "metric", m.rules.Metric.String(), "memory_bytes", mem)
	}
	return append(attrs, "threshold_bytes", m.rules.Threshold, "cmd", in.Cmdline)
}

func (m *Monitor) status() string {
	m.mu.Lock()
	last := m.last
	m.mu.Unlock()
	if last == "" {
		last = "none"
	}
	mode := ""
	if m.o.Config.DryRun {
		mode = " (dry run)"
	}
	return fmt.Sprintf("Watching %d processes, threshold %s%s; last action: %s",
		m.stats.Processes, config.FormatSize(m.rules.Threshold), mode, last)
}

// statusEvery bounds how often STATUS= is refreshed when nothing was done: every
// notification allocates and costs a socket round trip, and with a short interval the
// process count alone would change it at every scan.
const statusEvery = 10 * time.Second

// notifyStatus sends STATUS= (after prefix) to systemd: at once with a prefix (READY=1)
// or after an action, otherwise at most every statusEvery. Nothing is built when there is
// nobody to tell.
func (m *Monitor) notifyStatus(prefix string) {
	if m.o.Notify == nil {
		return
	}
	m.mu.Lock()
	last := m.last
	m.mu.Unlock()
	if prefix == "" && last == m.statusLast && time.Since(m.statusAt) < statusEvery {
		return
	}
	m.statusLast, m.statusAt = last, time.Now()
	m.o.Notify(prefix + "STATUS=" + m.status())
}

func (m *Monitor) notify(state string) {
	if m.o.Notify != nil {
		m.o.Notify(state)
	}
}
