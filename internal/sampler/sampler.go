// Package sampler owns everything the daemon reads about processes: the zero-allocation
// statm scanner, /proc/meminfo and /proc/vmstat for the fast checks between full scans,
// and the details of the few processes over a threshold, cached per process with the
// pidfd that proves whose details they are. It turns what it reads into
// policy.Observations for the tracker.
package sampler

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/memory-monitor/memory-monitor/internal/budget"
	"github.com/memory-monitor/memory-monitor/internal/kill"
	"github.com/memory-monitor/memory-monitor/internal/policy"
	"github.com/memory-monitor/memory-monitor/internal/proc"
)

// Options configure a Sampler.
type Options struct {
	Rules  policy.Rules // threshold, metric, protection, the daemon's own PID
	Warn   uint64       // --warn-threshold; 0: off
	Opener kill.Opener
	// FastPath turns on the checks between full scans (meminfo, vmstat, watch list).
	FastPath bool
	// GrowthRate is the growth in bytes per second the fast checks' pacing assumes at
	// least; 0 means fastRatePerCPU for each CPU.
	GrowthRate float64
	// PSSBudget bounds the time one full scan spends reading smaps_rollup (the rest
	// waits for the next scans); 0 means DefaultPSSBudget.
	PSSBudget time.Duration
	// Budgets are the --budget groups, measured in CgroupRoot; nil: none, and a scan
	// reads nothing more than without (see groups.go).
	Budgets    *budget.Set
	CgroupRoot string
}

// DefaultPSSBudget is the default time one full scan may spend reading PSS: a small part
// of the loop's time, so that neither the watchdog nor a grace period waits on it.
const DefaultPSSBudget = 200 * time.Millisecond

// Cache lifetimes: details (names, user, command line, cgroup) are re-read when older
// than detailsMaxAge, since a process can exec another program; a PSS reading is reused
// for pssMaxAge unless the RSS has grown by more than an eighth since.
const (
	detailsMaxAge = 10 * time.Second
	pssMaxAge     = 5 * time.Minute
)

// cached is what the sampler keeps about a process over the lower threshold.
type cached struct {
	key       policy.Key
	h         kill.Handle
	info      proc.Info
	protected string
	detailsAt time.Time
	pss       uint64 // 0: not read yet
	pssRSS    uint64 // the RSS when pss was read
	pssAt     time.Time
	scan      uint64 // the full scan that last saw it
}

type candidate struct {
	pid       int
	rss, size uint64
}

// Sampler is not safe for concurrent use: the daemon's loop owns it.
type Sampler struct {
	o        Options
	scanner  *proc.Scanner
	reader   *proc.Reader
	low      uint64 // the lower of the threshold and the warning threshold
	collect  func(pid int, rss, size uint64)
	swapUsed uint64 // for --metric=swap, at the start of the scan

	cache map[int]*cached
	scans uint64
	cands []candidate
	obs   []policy.Observation
	stats proc.ScanStats
	// pssReads counts the smaps_rollup reads of the scan under way.
	pssReads int

	fast   fastPath
	grp    *groupSampler // nil without budgets
	reuse  reuseState    // reuse.go
	maxLow uint64        // the largest value under the lower threshold, in the scan under way
}

// New opens the readers under root (normally /proc).
func New(root string, o Options) (*Sampler, error) {
	sc, err := proc.NewScanner(root)
	if err != nil {
		return nil, err
	}
	r, err := proc.NewReader(root)
	if err != nil {
		sc.Close()
		return nil, err
	}
	if o.PSSBudget <= 0 {
		o.PSSBudget = DefaultPSSBudget
	}
	s := &Sampler{o: o, scanner: sc, reader: r, cache: map[int]*cached{}}
	s.SetLimits(o.Rules.Threshold, o.Warn)
	s.collect = s.collectOne
	if err := s.openGroups(root); err != nil {
		sc.Close()
		return nil, err
	}
	if o.FastPath {
		if err := s.fast.open(root, o.GrowthRate); err != nil {
			sc.Close()
			return nil, err
		}
	}
	s.reuse.init(s, root)
	return s, nil
}

// Scanner is the statm scanner, for the self-test.
func (s *Sampler) Scanner() *proc.Scanner { return s.scanner }

// Reader is the detail reader.
func (s *Sampler) Reader() *proc.Reader { return s.reader }

// FastPath reports whether the fast checks are on.
func (s *Sampler) FastPath() bool { return s.fast.on }

// SetLimits changes the thresholds from the next scan on.
func (s *Sampler) SetLimits(threshold, warn uint64) {
	s.o.Rules.Threshold, s.o.Warn = threshold, warn
	s.low = threshold
	if warn > 0 {
		s.low = min(s.low, warn)
	}
	s.reuse.valid = false // the next scan due reads every process
}

// Rules are the rules in force (for a reload, which changes some of them).
func (s *Sampler) Rules() policy.Rules { return s.o.Rules }

// SetRules changes the protection rules (details are re-judged at once).
func (s *Sampler) SetRules(r policy.Rules) {
	s.o.Rules = r
	s.SetLimits(r.Threshold, s.o.Warn)
	for _, c := range s.cache {
		c.protected = policy.Protected(c.info, s.o.Rules)
	}
}

// Close releases every reader and handle.
func (s *Sampler) Close() {
	for pid, c := range s.cache {
		c.h.Close()
		delete(s.cache, pid)
	}
	s.fast.close()
	s.reuse.close()
	s.closeGroups()
	s.scanner.Close()
}

// collectOne is the scan callback: it keeps the processes that may be over the lower
// threshold, judging from statm alone (see proc.Metric.Bound), and offers the others to
// the fast path's watch list. It allocates nothing once the slices have grown.
func (s *Sampler) collectOne(pid int, rss, size uint64) {
	v := s.o.Rules.Metric.Bound(rss, size, s.swapUsed)
	if v > s.low {
		s.cands = append(s.cands, candidate{pid, rss, size})
	} else {
		s.maxLow = max(s.maxLow, v)
	}
	if s.fast.on && v <= s.o.Rules.Threshold {
		s.fast.offer(pid, v)
	}
}

// Full is the result of a full scan.
type Full struct {
	Obs        []policy.Observation // every process over the lower threshold (valid until the next call)
	Stats      proc.ScanStats
	Candidates int            // processes over the lower threshold by statm
	Pending    int            // candidates whose PSS the budget left for a later scan
	Errors     int            // candidates that could not be opened or read (not gone)
	FirstErr   error          // the first of those
	Took       time.Duration  // wall time of the scan
	Groups     []budget.Group // the budget groups measured (valid until the next call); nil without budgets
}

// Full reads every process and observes those over the lower threshold. settled says
// which processes need no expensive measurement (being stopped, or already spared).
func (s *Sampler) Full(now time.Time, settled func(policy.Key) bool) (Full, error) {
	start := time.Now()
	s.scans++
	s.pssReads = 0
	s.cands = s.cands[:0]
	s.obs = s.obs[:0]
	s.maxLow = 0
	s.fast.begin(now)
	vm, vmOK := s.fast.lastVm, s.fast.vmOK // as begin read them, before the listing
	var lastPID int
	var pidOK bool
	if s.reusable() { // the reference a later Reuse compares with; no read otherwise
		lastPID, pidOK = s.reuse.readLastPID()
	}
	s.swapUsed = s.swapInUse()
	s.beginGroups()
	st, err := s.scanner.ScanSize(s.collect)
	if err != nil {
		return Full{}, err
	}
	s.stats = st
	res := Full{Stats: st, Candidates: len(s.cands)}
	// Largest first, so that the PSS budget goes to the processes most likely over; and
	// with PSS, processes new since the last scan first, then those never measured, then
	// those measured already (a new hog must not wait behind a hundred forked workers
	// that appeared earlier and whose readings only age).
	slices.SortFunc(s.cands, func(a, b candidate) int {
		if s.o.Rules.Metric == proc.MetricPSS {
			if c := cmp.Compare(s.pssRank(a.pid), s.pssRank(b.pid)); c != 0 {
				return c
			}
		}
		return cmp.Compare(b.rss, a.rss)
	})
	budget := start.Add(s.o.PSSBudget)
	for _, c := range s.cands {
		o, err := s.observe(now, c, settled, budget)
		switch {
		case errors.Is(err, errPending):
			res.Pending++
		case err != nil:
			res.Errors++
			if res.FirstErr == nil {
				res.FirstErr = err
			}
		case o.Gone:
		default:
			s.obs = append(s.obs, o)
		}
	}
	for pid, c := range s.cache {
		if c.scan != s.scans {
			c.h.Close()
			delete(s.cache, pid)
		}
	}
	s.fast.end(s.o.Rules.Threshold)
	s.reuse.scanned(st, vm, vmOK && res.Pending == 0 && res.Errors == 0, s.maxLow, lastPID, pidOK)
	res.Groups = s.endGroups() // may lower the fast path's headroom
	if s.fast.on {
		s.fast.planVmstat()
	}
	res.Obs = s.obs
	res.Took = time.Since(start)
	return res, nil
}

var errPending = errors.New("measurement left for a later scan")

// pssRank orders candidates for the PSS budget: 0 not seen before, 1 never measured,
// 2 measured.
func (s *Sampler) pssRank(pid int) int {
	switch e := s.cache[pid]; {
	case e == nil:
		return 0
	case e.pss == 0:
		return 1
	}
	return 2
}

// observe turns one candidate into an observation: the cached details when the pidfd
// says they are still this process's, else fresh ones; then the memory by the metric.
func (s *Sampler) observe(now time.Time, c candidate, settled func(policy.Key) bool, budget time.Time) (policy.Observation, error) {
	e, err := s.entry(now, c.pid)
	if err != nil || e == nil {
		return policy.Observation{Gone: true}, err
	}
	e.scan = s.scans
	e.info.RSS = c.rss
	o := policy.Observation{Key: e.key, Info: e.info, Protected: e.protected}
	quiet := settled != nil && settled(e.key)
	switch s.o.Rules.Metric {
	case proc.MetricRSS:
		o.Value = c.rss
	case proc.MetricSwap:
		if quiet && e.info.Swap > 0 {
			o.Value = c.rss + e.info.Swap
			break
		}
		rss, swap, err := s.reader.Swap(c.pid)
		if err != nil {
			return s.lost(c.pid, e, err)
		}
		e.info.RSS, e.info.Swap = rss, swap
		o.Info, o.Value = e.info, rss+swap
	case proc.MetricPSS:
		fresh := e.pss > 0 && now.Sub(e.pssAt) < pssMaxAge && c.rss <= e.pssRSS+e.pssRSS/8
		if (quiet || e.protected != "") && e.pss > 0 {
			fresh = true // nothing new can come of measuring it again
		}
		if !fresh {
			// At least one read per scan, so that the budget never stops all progress.
			if !budget.IsZero() && s.pssReads > 0 && time.Now().After(budget) {
				if e.pss == 0 {
					return policy.Observation{}, errPending
				}
			} else if pss, err := s.reader.PSS(c.pid); err != nil {
				return s.lost(c.pid, e, err)
			} else {
				e.pss, e.pssRSS, e.pssAt = pss, c.rss, now
				s.pssReads++
			}
		}
		e.info.PSS = e.pss
		o.Info, o.Value = e.info, e.pss
	}
	if e.h.Exited() {
		return s.lost(c.pid, e, kill.ErrGone)
	}
	return o, nil
}

// lost drops a cache entry after a failed read; a process that is gone is not an error.
func (s *Sampler) lost(pid int, e *cached, err error) (policy.Observation, error) {
	if proc.IsGone(err) || errors.Is(err, kill.ErrGone) || e.h.Exited() {
		s.drop(pid)
		return policy.Observation{Key: e.key, Gone: true}, nil
	}
	return policy.Observation{}, fmt.Errorf("measure process %d: %w", pid, err)
}

func (s *Sampler) drop(pid int) {
	if c := s.cache[pid]; c != nil {
		c.h.Close()
		delete(s.cache, pid)
	}
}

// entry returns the cache entry of the process that has this PID now, opening a pidfd
// first and reading the details after it, so that the details are known to be that
// process's if it is still alive afterwards (a PID reused between two reads would
// otherwise pass any check based on /proc alone). nil, nil: the process is gone.
func (s *Sampler) entry(now time.Time, pid int) (*cached, error) {
	if e := s.cache[pid]; e != nil {
		if e.h.Exited() {
			s.drop(pid) // the PID may belong to another process now
		} else if now.Sub(e.detailsAt) < detailsMaxAge {
			return e, nil
		} else if info, err := s.reader.Info(pid); err == nil && info.StartTime == e.key.Start && !e.h.Exited() {
			e.info, e.detailsAt = info, now
			e.protected = policy.Protected(info, s.o.Rules)
			return e, nil
		} else {
			s.drop(pid)
		}
	}
	h, err := s.o.Opener.Open(pid)
	if errors.Is(err, kill.ErrGone) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	info, err := s.reader.Info(pid)
	if err != nil || h.Exited() {
		h.Close()
		if err == nil || proc.IsGone(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("read process %d: %w", pid, err)
	}
	e := &cached{key: policy.Key{PID: pid, Start: info.StartTime}, h: h, info: info, detailsAt: now,
		protected: policy.Protected(info, s.o.Rules), scan: s.scans}
	s.cache[pid] = e
	return e, nil
}

// Observe re-checks the given processes (sustain re-checks): one statm read each, and the
// cached details. A process that exited, or whose PID now belongs to another, is Gone.
func (s *Sampler) Observe(now time.Time, keys []policy.Key, settled func(policy.Key) bool) []policy.Observation {
	s.obs = s.obs[:0]
	for _, k := range keys {
		s.obs = append(s.obs, s.one(now, k, settled))
	}
	return s.obs
}

func (s *Sampler) one(now time.Time, k policy.Key, settled func(policy.Key) bool) policy.Observation {
	gone := policy.Observation{Key: k, Gone: true}
	rss, size, err := s.scanner.Statm(k.PID)
	if err != nil {
		return gone
	}
	e := s.cache[k.PID]
	if e == nil || e.key != k {
		// Not cached (a fast check found it): open and read as a full scan would.
		if e, err = s.entry(now, k.PID); err != nil || e == nil || e.key != k {
			return gone
		}
		e.scan = s.scans
	}
	o, err := s.observe(now, candidate{k.PID, rss, size}, settled, time.Time{})
	if err != nil {
		return gone
	}
	return o
}

// Confirm measures a process once more just before it is signalled and returns, when it
// is still the same process, a handle of its own for the stop (the caller closes it).
func (s *Sampler) Confirm(now time.Time, k policy.Key) (policy.Observation, kill.Handle, error) {
	o := s.one(now, k, nil)
	if o.Gone {
		return o, nil, nil
	}
	e := s.cache[k.PID]
	h, err := e.h.Dup()
	if err != nil {
		return o, nil, err
	}
	return o, h, nil
}

// Forget drops a process from the cache (it was stopped).
func (s *Sampler) Forget(k policy.Key) {
	if e := s.cache[k.PID]; e != nil && e.key == k {
		s.drop(k.PID)
	}
}

// Handle is the cached handle of process k, or nil when it is not cached. It is
// borrowed: valid until the next call that may change the cache (Full, Observe, Confirm,
// Forget), so the caller uses it at once and never keeps it.
func (s *Sampler) Handle(k policy.Key) kill.Handle {
	if e := s.cache[k.PID]; e != nil && e.key == k {
		return e.h
	}
	return nil
}

// Cached is the number of processes whose details and handles are kept.
func (s *Sampler) Cached() int { return len(s.cache) }

// swapInUse is the swap in use, which bounds what a process can have swapped out; only
// --metric=swap needs it. When it cannot be read, no bound is assumed.
func (s *Sampler) swapInUse() uint64 {
	if s.o.Rules.Metric != proc.MetricSwap {
		return 0
	}
	if s.fast.on && s.fast.ok {
		return s.fast.last.SwapUsed() // read by fast.begin for this scan, without allocating
	}
	used, err := s.reader.SwapUsed()
	if err != nil {
		return math.MaxUint64
	}
	return used
}
