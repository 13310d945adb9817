package sampler

import (
	"os"
	"runtime"
	"time"

	"github.com/memory-monitor/memory-monitor/internal/budget"
	"github.com/memory-monitor/memory-monitor/internal/policy"
	"github.com/memory-monitor/memory-monitor/internal/proc"
)

// The fast path reacts between full scans at almost no cost. A full scan reads every
// process; a fast check reads /proc/meminfo and /proc/vmstat once each and re-reads the
// statm of the few processes already near the limit (the watch list). A process the
// watch list does not cover can only reach the limit by growing by more than the
// headroom left by the largest such process at the last full scan, and its growth must
// be allocated: vmstat's pgalloc counters (less what was read from disk into the page
// cache) only grow, so memory that other processes free meanwhile cannot hide it, as it
// would in any level such as MemAvailable or AnonPages. Pages it maps from the page cache
// show in meminfo's Mapped. So a fast check starts a full scan at once when that growth,
// summed since the last full scan, exceeds the headroom. Pages a process maps that
// another process already maps show nowhere: the full scan on the interval stays.
//
// The checks are paced by the room left: the next one is due when the process nearest the
// limit could reach it growing at the fastest rate this machine allows (fastRatePerCPU
// per CPU, or twice the growth just measured if that is more), but never sooner than
// fastMin nor later than fastMax.
const (
	fastMin        = 100 * time.Millisecond
	fastMax        = time.Second
	fastRatePerCPU = 3 << 30 // bytes per second a single thread can fault in, and more
	// watchMax bounds the watch list, so that many processes near the limit cannot make
	// the fast checks expensive.
	watchMax = 8
)

// watched is a process on the watch list, with its memory by the metric's bound.
type watched struct {
	pid   int
	value uint64
}

// fastPath is the sampler's state for the checks between full scans.
type fastPath struct {
	on bool
	mi *proc.MeminfoReader
	vm *proc.VmstatReader // nil where /proc/vmstat cannot be read: meminfo alone then
	// rate is the growth the pacing assumes at least, bytes per second.
	rate     float64
	pageSize uint64

	// Filled during a full scan: the largest processes under the limit, largest first.
	top  [watchMax + 1]watched
	ntop int

	// Since the last full scan.
	watch    []watched    // re-read at every fast check
	headroom uint64       // limit - largest process not watched, at the last full scan
	grown    uint64       // growth bound since the last full scan: max(grownL, grownA)
	grownL   uint64       // increases of the levels in meminfo, summed check by check
	grownA   uint64       // pages allocated (vmstat) plus file pages newly mapped, summed
	last     proc.Meminfo // at the previous check
	lastVm   proc.Vmstat  // at the previous read of vmstat
	ok, vmOK bool         // last, lastVm are valid
	lastAt   time.Time    // when last was read
	vmAt     time.Time    // when lastVm was read
	vmDue    time.Time    // when vmstat must be read again
	measured float64      // growth rate at the last check, bytes per second

	// Counters, for the bench and the tests.
	checks, triggered, vmReads uint64
}

func (f *fastPath) open(root string, rate float64) error {
	mi, err := proc.NewMeminfoReader(root)
	if err != nil {
		return err
	}
	if _, err := mi.Read(); err != nil {
		mi.Close()
		return err
	}
	f.on, f.mi = true, mi
	if vm, err := proc.NewVmstatReader(root); err == nil {
		if _, err := vm.Read(); err == nil {
			f.vm = vm
		} else {
			vm.Close()
		}
	}
	f.rate = rate
	if rate <= 0 {
		f.rate = float64(fastRatePerCPU) * float64(max(runtime.NumCPU(), 1))
	}
	f.pageSize = uint64(os.Getpagesize())
	return nil
}

func (f *fastPath) close() {
	if f.mi != nil {
		f.mi.Close()
	}
	if f.vm != nil {
		f.vm.Close()
	}
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

// grewBy bounds how much any one process's memory can have grown between two readings:
// the pages allocated (less those read from disk, which go to the page cache) plus the
// growth of file pages mapped into processes. Without vmstat (prevVm, curVm nil), the
// increases of anonymous, mapped and swapped memory are summed, which memory freed
// elsewhere can hide. The larger of the two estimates counts.
func grewBy(prev, cur proc.Meminfo, prevVm, curVm *proc.Vmstat, pageSize uint64) uint64 {
	levels := levelGrowth(prev, cur)
	if prevVm == nil || curVm == nil || curVm.PgAlloc < prevVm.PgAlloc {
		return levels
	}
	alloc := allocGrowth(*prevVm, *curVm, pageSize)
	if cur.Mapped > prev.Mapped {
		alloc += cur.Mapped - prev.Mapped
	}
	return max(levels, alloc)
}

// levelGrowth is the sum of the increases of anonymous, file-mapped and swapped memory
// from prev to cur: what a process taking memory shows, unless others free as much.
func levelGrowth(prev, cur proc.Meminfo) uint64 {
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

// allocGrowth is the memory allocated from prev to cur, less what was read from disk into
// the page cache (0 when a counter went back).
func allocGrowth(prev, cur proc.Vmstat, pageSize uint64) uint64 {
	if cur.PgAlloc < prev.PgAlloc {
		return 0
	}
	alloc := (cur.PgAlloc - prev.PgAlloc) * pageSize
	if cur.PgpgIn > prev.PgpgIn {
		alloc -= min(alloc, (cur.PgpgIn-prev.PgpgIn)<<10)
	}
	return alloc
}

// vmstatMax bounds the time between two reads of vmstat. The counters only grow, so a
// read after a longer time still sees all the growth: vmstat is read when the growth
// allowed at the pacing rate could have used up the room, and at least this often;
// meminfo's levels, read at every check, see any growth that nothing masks.
const vmstatMax = 10 * time.Second

// nextCheck is the time to the next fast check: the time the process nearest the limit
// would need to reach it at rate, within [fastMin, fastMax]. Unwatched processes are
// headroom-grown away at most; watched ones limit-value.
func nextCheck(headroom, grown uint64, watch []watched, limit uint64, rate float64) time.Duration {
	room := headroom - min(grown, headroom)
	for _, w := range watch {
		room = min(room, limit-min(w.value, limit))
	}
	d := time.Duration(float64(room) / rate * float64(time.Second))
	return min(max(d, fastMin), fastMax)
}

// begin is called at the start of a full scan: the counters are read before the listing,
// so that growth during the scan counts towards the next one.
func (f *fastPath) begin(now time.Time) {
	f.ntop = 0
	if !f.on {
		return
	}
	f.read(now, true)
}

// read takes new readings: meminfo always, vmstat when it is due (or forced). It adds
// the growth since the previous readings to the sums and reports the growth bound of
// this check.
func (f *fastPath) read(now time.Time, forceVm bool) uint64 {
	mi, err := f.mi.Read()
	if err != nil {
		f.ok = false
		return 0
	}
	before := f.grown
	if f.ok {
		f.grownL += levelGrowth(f.last, mi)
		if mi.Mapped > f.last.Mapped {
			f.grownA += mi.Mapped - f.last.Mapped
		}
	}
	if f.vm != nil && (forceVm || !f.vmOK || !now.Before(f.vmDue)) {
		f.vmReads++
		if vm, err := f.vm.Read(); err != nil {
			f.vmOK = false
		} else {
			if f.vmOK {
				f.grownA += allocGrowth(f.lastVm, vm, f.pageSize)
			}
			f.lastVm, f.vmOK, f.vmAt = vm, true, now
		}
	}
	f.grown = max(f.grownL, f.grownA)
	g := f.grown - min(before, f.grown)
	if f.ok {
		if dt := now.Sub(f.lastAt).Seconds(); dt > 0 {
			f.measured = float64(g) / dt
		}
	}
	f.last, f.ok, f.lastAt = mi, true, now
	return g
}

// planVmstat sets when vmstat must be read next: before growth at the pacing rate since
// the last read could have used up the room left, and at most vmstatMax after that read.
func (f *fastPath) planVmstat() {
	room := f.headroom - min(f.grown, f.headroom)
	d := time.Duration(float64(room) / max(f.rate, 2*f.measured) * float64(time.Second))
	f.vmDue = f.vmAt.Add(min(max(d, fastMin), vmstatMax))
}

// end is called at the end of a full scan: it sets the watch list and the headroom.
func (f *fastPath) end(limit uint64) {
	f.watch, f.headroom = planWatch(f.top[:f.ntop], limit, f.watch)
	f.grown, f.grownL, f.grownA = 0, 0, 0
}

// Fast is the result of a fast check.
type Fast struct {
	Scan     bool                 // growth exceeded the headroom: a full scan is due now
	Grown    uint64               // growth bound since the last full scan
	Headroom uint64               // what it is compared with
	Obs      []policy.Observation // watched processes found over the threshold
	Next     time.Duration        // when the next fast check is due
	Groups   []budget.Group       // budget groups near their budget, measured again (groups.go)
}

// Fast is one check between full scans; see the comment on fastMin.
func (s *Sampler) Fast(now time.Time, settled func(policy.Key) bool) Fast {
	f := &s.fast
	if !f.on {
		return Fast{Next: fastMax}
	}
	f.checks++
	f.read(now, false)
	if !f.ok {
		return Fast{Next: fastMax}
	}
	f.planVmstat()
	limit := s.o.Rules.Threshold
	res := Fast{Grown: f.grown, Headroom: f.headroom}
	if f.grown > f.headroom {
		f.triggered++
		res.Scan = true
		return res
	}
	s.obs = s.obs[:0]
	keep := f.watch[:0]
	for _, w := range f.watch {
		rss, size, err := s.scanner.Statm(w.pid)
		if err != nil {
			continue // gone; anything else is retried by the next full scan
		}
		w.value = s.o.Rules.Metric.Bound(rss, size, s.swapUsed)
		if w.value > limit {
			// Observed like any process a full scan finds over; off the list until the
			// next full scan, so a spared process is not looked at in detail each time.
			if o, err := s.observe(now, candidate{w.pid, rss, size}, settled, time.Time{}); err == nil && !o.Gone {
				s.obs = append(s.obs, o)
			}
			continue
		}
		keep = append(keep, w)
	}
	f.watch = keep
	res.Obs = s.obs
	res.Groups = s.fastGroups()
	res.Next = s.groupPace(s.fast.next(limit))
	return res
}

// NextFast is when the first fast check after a full scan is due.
func (s *Sampler) NextFast() time.Duration {
	if !s.fast.on {
		return 0
	}
	return s.groupPace(s.fast.next(s.o.Rules.Threshold))
}

func (f *fastPath) next(limit uint64) time.Duration {
	return nextCheck(f.headroom, f.grown, f.watch, limit, max(f.rate, 2*f.measured))
}

// FastStats are the fast path's counters: checks made and full scans they started.
func (s *Sampler) FastStats() (checks, triggered uint64) { return s.fast.checks, s.fast.triggered }
