package monitor

import (
	"context"
	"log/slog"
	"time"

	"github.com/memory-monitor/memory-monitor/internal/proc"
)

// The fast path reacts between full scans at almost no cost. A full scan reads every
// process; a fast check reads /proc/meminfo once and re-reads the statm of the few
// processes already near the limit (the watch list). A process the watch list does not
// cover can only reach the limit by growing by more than the headroom left by the largest
// such process at the last full scan, and that growth shows in the system's totals of
// memory mapped into processes: AnonPages and Mapped in /proc/meminfo (plus the swap in
// use, for --metric=swap). So a fast check starts a full scan at once when those totals
// have grown, counting only increases, by more than that headroom since the last full
// scan. (MemAvailable would be the obvious measure, but it lags behind: pages freed by a
// process that just died wait in per-CPU lists, counted neither free nor used, and are
// handed out again first; this lag measured 100-180 MiB here.) Pages a process maps that
// another process already maps do not show in the totals: the full scan on the interval
// stays.
//
// The checks are paced by the room left: the next one is due when the process nearest the
// limit could reach it growing at fastRate, but never sooner than fastMin nor later than
// fastMax. Every wakeup costs CPU whatever it reads (on a VM, more than the read itself),
// so an idle machine must see few of them: with the default 20 GiB threshold the checks
// come about every 20 s (a Go timer wakeup costs about 4 ms of CPU on the VMs measured
// here); with a process closing in, every fastMin. A process growing faster
// than fastRate from far below the limit can overshoot by up to fastMax times the excess.
const (
	fastMin  = 200 * time.Millisecond
	fastMax  = 30 * time.Second
	fastRate = 1 << 30 // bytes per second: the growth the pacing assumes at most
	// watchMax bounds the watch list, so that many processes near the limit cannot make
	// the fast checks expensive.
	watchMax = 8
)

// watched is a process on the watch list, with its memory by the metric's bound.
type watched struct {
	pid   int
	value uint64
}

// fastPath is the loop's state for the checks between full scans. A nil meminfo reader
// turns the fast path off.
type fastPath struct {
	mi    *proc.MeminfoReader
	timer *time.Timer // nil until Run starts it

	// Filled during a full scan: the largest processes under the limit, largest first.
	top  [watchMax + 1]watched
	ntop int

	// Since the last full scan.
	watch    []watched    // re-read at every fast check
	headroom uint64       // limit - largest process not watched, at the last full scan
	grown    uint64       // increases of mapped memory (grewBy), summed
	last     proc.Meminfo // at the previous check
	ok       bool         // last is valid

	// Counters, for STATUS and the bench.
	checks, triggered uint64
}

// offer records a process under the limit seen by the full scan in progress.
func (f *fastPath) offer(pid int, value uint64) {
	f.ntop = insertTop(f.top[:], f.ntop, watched{pid, value})
}

// insertTop inserts w into top[:n], kept in descending order of value and bounded by
// len(top), and returns the new length. It allocates nothing: it runs for every process.
func insertTop(top []watched, n int, w watched) int {
	if n == len(top) {
		if w.value <= top[n-1].value {
			return n
		}
		n--
	}
	i := n
	for i > 0 && top[i-1].value < w.value {
		top[i] = top[i-1]
		i--
	}
	top[i] = w
	return n + 1
}

// planWatch splits the largest processes under limit (descending, as insertTop keeps
// them) into the watch list, those at or above half the limit (at most watchMax), and
// returns with it the headroom of the largest process left out.
func planWatch(top []watched, limit uint64, dst []watched) ([]watched, uint64) {
	dst = dst[:0]
	floor := limit / 2
	for _, w := range top {
		if len(dst) == watchMax || w.value < floor {
			return dst, limit - min(w.value, limit)
		}
		dst = append(dst, w)
	}
	return dst, limit
}

// grewBy is how much the memory mapped into processes grew from prev to cur, counting
// anonymous, file-mapped and swapped memory separately, so that one process releasing
// memory of one kind does not hide another taking memory of another kind, nor a page
// moving to swap pass for a release: it bounds the growth of any one process's RSS, PSS
// or RSS+swap over that time (pages shared with processes that already map them aside).
func grewBy(prev, cur proc.Meminfo) uint64 {
	var g uint64
	for _, d := range [...][2]uint64{
		{prev.AnonPages, cur.AnonPages},
		{prev.Mapped, cur.Mapped},
		{prev.SwapUsed(), cur.SwapUsed()},
	} {
		if d[1] > d[0] {
			g += d[1] - d[0]
		}
	}
	return g
}

// nextCheck is the time to the next fast check: the time the process nearest the limit
// would need to reach it at fastRate, within [fastMin, fastMax]. Unwatched processes are
// headroom-grown away at most; watched ones limit-value.
func nextCheck(headroom, grown uint64, watch []watched, limit uint64) time.Duration {
	room := headroom - min(grown, headroom)
	for _, w := range watch {
		room = min(room, limit-min(w.value, limit))
	}
	d := time.Duration(float64(room) / fastRate * float64(time.Second))
	return min(max(d, fastMin), fastMax)
}

// collectFast is the scan callback when the fast path is on: collectOver, plus the
// candidates for the watch list. The fast path watches the (stop) threshold; warnings
// above --warn-threshold come from the full scans.
func (m *Monitor) collectFast(pid int, rss, size uint64) {
	m.collectOver(pid, rss, size)
	if v := m.rules.Metric.Bound(rss, size, m.swap); v <= m.rules.Threshold {
		m.fast.offer(pid, v)
	}
}

// fastBegin is called at the start of a full scan: the used memory is read before the
// listing, so that growth during the scan counts towards the next one.
func (m *Monitor) fastBegin() {
	f := &m.fast
	f.ntop = 0
	if f.mi == nil {
		return
	}
	mi, err := f.mi.Read()
	f.ok = err == nil
	if err != nil {
		m.log.Debug("fast path: cannot read meminfo; next full scans only", "error", err)
		return
	}
	f.last = mi
}

// fastEnd is called at the end of a full scan: it sets the watch list and the headroom,
// and schedules the next fast check.
func (m *Monitor) fastEnd() {
	f := &m.fast
	f.watch, f.headroom = planWatch(f.top[:f.ntop], m.rules.Threshold, f.watch)
	f.grown = 0
	m.fastArm()
}

func (m *Monitor) fastArm() {
	f := &m.fast
	if f.timer != nil {
		f.timer.Reset(nextCheck(f.headroom, f.grown, f.watch, m.rules.Threshold))
	}
}

// fastCheck is one check between full scans; see the comment on fastMin.
func (m *Monitor) fastCheck(ctx context.Context) {
	f := &m.fast
	f.checks++
	mi, err := f.mi.Read()
	if err != nil || !f.ok {
		if err == nil {
			f.last, f.ok = mi, true
		} else {
			m.log.Debug("fast path: cannot read meminfo", "error", err)
		}
		if f.timer != nil {
			f.timer.Reset(fastMax)
		}
		return
	}
	f.grown += grewBy(f.last, mi)
	f.last = mi
	if f.grown > f.headroom {
		f.triggered++
		if m.log.Enabled(ctx, slog.LevelDebug) { // the attributes would allocate
			m.log.Debug("fast path: mapped memory grew past the headroom; full scan now",
				"grown_bytes", f.grown, "headroom_bytes", f.headroom, "triggered", f.triggered, "checks", f.checks)
		}
		if err := m.Scan(ctx); err != nil {
			m.log.Error("scan failed", "error", err)
			m.fastArm()
		}
		return
	}
	keep := f.watch[:0]
	for _, w := range f.watch {
		rss, size, err := m.o.Scanner.Statm(w.pid)
		if err != nil {
			continue // gone; anything else is retried by the next full scan
		}
		w.value = m.rules.Metric.Bound(rss, size, m.swap)
		if w.value > m.rules.Threshold {
			// Decided like any process a full scan finds over; off the list until the
			// next full scan, so a spared process is not looked at in detail each time.
			m.consider(ctx, sample{w.pid, rss})
			continue
		}
		keep = append(keep, w)
	}
	f.watch = keep
	m.fastArm()
}
