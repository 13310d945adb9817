package monitor

import (
	"context"
	"math"
	"time"

	"github.com/memory-monitor/memory-monitor/internal/policy"
	"github.com/memory-monitor/memory-monitor/internal/proc"
)

// waiting is a process over the threshold that is waiting out --sustain.
type waiting struct {
	pid  int
	st   policy.SustainState
	next time.Time // next re-check; zero once the period is over (the process is acted on)
}

// sustainState is what the loop keeps for --sustain: the processes waiting, and one
// timer for the earliest re-check among them. Re-checks read only the waiting processes'
// statm (and their details while they stay over), independently of the full scans.
type sustainState struct {
	procs map[key]*waiting
	timer *time.Timer
}

func newSustainState() sustainState {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return sustainState{procs: map[key]*waiting{}, timer: t}
}

// arm sets the timer to the earliest re-check due.
func (s *sustainState) arm(now time.Time) {
	var first time.Time
	for _, w := range s.procs {
		if !w.next.IsZero() && (first.IsZero() || w.next.Before(first)) {
			first = w.next
		}
	}
	if first.IsZero() {
		s.timer.Stop()
		return
	}
	s.timer.Reset(max(first.Sub(now), 0))
}

// forgetUnseen drops the processes the last full scan did not find over the threshold:
// they went back below it (or exited).
func (m *Monitor) forgetUnseen() {
	for k, w := range m.sus.procs {
		if _, ok := m.seen[k]; !ok {
			m.forgive(k, w.pid, 0)
		}
	}
}

// sustained applies --sustain to a process found over the threshold (and not protected):
// it reports whether to act on it now, and otherwise schedules its next re-check.
func (m *Monitor) sustained(k key, info proc.Info) bool {
	if m.o.Config.Sustain <= 0 {
		return true
	}
	now := time.Now()
	w := m.sus.procs[k]
	var st policy.SustainState
	if w != nil {
		st = w.st
	}
	res := policy.Sustain(st, true, now, m.o.Config.Sustain)
	if w == nil {
		w = &waiting{pid: info.PID}
		m.sus.procs[k] = w
	}
	w.st = res.State
	if res.Verdict != policy.SustainWait {
		w.next = time.Time{}
		return true
	}
	if w.next.IsZero() {
		m.log.Debug("process over the threshold; waiting out the sustain period",
			append(m.procAttrs(info), "sustain", m.o.Config.Sustain, "act_at", res.State.Since.Add(m.o.Config.Sustain))...)
	}
	w.next = res.Next
	return false
}

// forgive drops a process that went back below the threshold (value, when known) while
// it waited.
func (m *Monitor) forgive(k key, pid int, value uint64) {
	w, ok := m.sus.procs[k]
	if !ok {
		return
	}
	delete(m.sus.procs, k)
	if !w.next.IsZero() {
		attrs := []any{"pid", pid, "over_for", time.Since(w.st.Since).Round(time.Millisecond)}
		if value > 0 {
			attrs = append(attrs, "memory_bytes", value)
		}
		m.log.Debug("process back below the threshold within the sustain period; forgiven", attrs...)
	}
}

// recheck looks again at the waiting processes whose re-check is due: one statm read
// each, and the full details only for those still over the threshold.
func (m *Monitor) recheck(ctx context.Context) {
	now := time.Now()
	for k, w := range m.sus.procs {
		if w.next.IsZero() || w.next.After(now) {
			continue
		}
		rss, size, err := m.o.Scanner.Statm(w.pid)
		if err != nil {
			delete(m.sus.procs, k)
			continue
		}
		if m.rules.Metric.Bound(rss, size, m.swap) <= m.rules.Threshold {
			m.forgive(k, w.pid, rss)
			continue
		}
		m.consider(ctx, sample{w.pid, rss})
		// A process that vanished, or whose PID now belongs to another process, was not
		// rescheduled by consider: drop it rather than re-check it in a loop.
		if w2, ok := m.sus.procs[k]; ok && !w2.next.IsZero() && !w2.next.After(now) {
			delete(m.sus.procs, k)
		}
	}
	m.sus.arm(time.Now())
}

// measureNow measures a process again by the metric in use, just before it is signalled.
func (m *Monitor) measureNow(info proc.Info) (uint64, error) {
	switch m.rules.Metric {
	case proc.MetricPSS:
		return m.o.Procs.PSS(info.PID)
	case proc.MetricSwap:
		rss, swap, err := m.o.Procs.Swap(info.PID)
		return rss + swap, err
	}
	return m.o.Procs.RSS(info.PID)
}

// swapUsed is the swap in use, which bounds what a process can have swapped out; only
// --metric=swap needs it. When it cannot be read, no bound is assumed.
func (m *Monitor) swapUsed() uint64 {
	if m.rules.Metric != proc.MetricSwap {
		return 0
	}
	if m.fast.mi != nil && m.fast.ok {
		return m.fast.last.SwapUsed() // read by fastBegin for this scan, without allocating
	}
	used, err := m.o.Procs.SwapUsed()
	if err != nil {
		m.log.Debug("cannot read the swap in use; checking every process's swap", "error", err)
		return math.MaxUint64
	}
	return used
}

// warnState remembers the processes already warned about while over --warn-threshold.
type warnState struct {
	warned map[key]struct{}
	seen   map[key]struct{} // observed over the warning threshold since the last scan
}

func newWarnState() warnState {
	return warnState{warned: map[key]struct{}{}, seen: map[key]struct{}{}}
}

// forgetUnseen drops the processes not observed over the warning threshold since the last
// full scan: they dropped below it (or exited), so a new crossing warns again.
func (w *warnState) forgetUnseen() {
	for k := range w.warned {
		if _, ok := w.seen[k]; !ok {
			delete(w.warned, k)
		}
	}
	clear(w.seen)
}

// checkWarn applies --warn-threshold to a measured process.
func (m *Monitor) checkWarn(k key, info proc.Info) {
	limit := m.o.Config.WarnThreshold
	if limit == 0 {
		return
	}
	_, warned := m.warn.warned[k]
	emit, now := policy.Warn(m.rules.Metric.Of(info), limit, warned)
	if !now {
		delete(m.warn.warned, k)
		return
	}
	m.warn.warned[k] = struct{}{}
	m.warn.seen[k] = struct{}{}
	if emit {
		attrs := append(m.procAttrs(info), "warn_threshold_bytes", limit, "message_id", MsgWarn)
		if why := policy.Protected(info, m.rules); why != "" {
			attrs = append(attrs, "protected", why)
		}
		m.o.Metrics.Warned()
		m.log.Warn("process over the warning threshold", attrs...)
	}
}
