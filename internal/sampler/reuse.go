package sampler

import (
	"os"
	"time"

	"github.com/memory-monitor/memory-monitor/internal/proc"
)

// A full scan that would read nothing new is not made: when it comes due, the tree is
// listed (a small part of the cost of reading every process), and the last scan's
// readings are reused if the same processes are listed and the kernel's counters show
// that no process can have grown enough to reach a threshold since they were taken. The
// listing itself is skipped while the last PID handed out (/proc/loadavg) is the one it
// was: no process has been created since, and one that ended cannot make another grow.
//
// The bound: whatever a process maps comes through a page fault (which maps at most one
// huge page) or is allocated first (counted by the fast path, which also sees memory
// newly mapped from the page cache); a process that starts by copying another's page
// tables (fork) is a new listing. The bound is summed from the last scan that read every
// process, so reused scans in a row add up; with the fast path's headroom (the largest
// process not re-read at each fast check) and the room below the warning threshold, it
// must leave room. Only with --metric=rss and without budgets: PSS grows when another
// process lets go of a shared page, the swap bound with the swap used anywhere, and a
// budget group with processes that change user or cgroup, none of which faults.
//
// reuseMax bounds the reused scans in a row: every process is read at least every
// reuseMax+1 intervals, whatever the counters say, so that a way to map memory without
// a fault (a driver inserting pages it allocated long ago, say) cannot hide for longer.
const reuseMax = 9

// reuseState is what a reused scan is judged against: the last scan that read every
// process.
type reuseState struct {
	ok       bool   // reuse is possible here (the fast path, vmstat); see Reuse for the rest
	valid    bool   // a scan read every process since the limits last changed
	listed   int    // of that scan
	digest   uint64 // of that scan
	maxLow   uint64 // the largest value under the lower threshold in that scan
	vm       proc.Vmstat
	faultMax uint64 // the most a fault can map: a PMD-sized huge page
	inRow    int    // reused scans since that scan
	listings uint64 // listings made by Reuse, for the tests

	la      *proc.LoadavgReader // nil where loadavg cannot be read: list every time
	lastPID int                 // as it was when the listing last matched
	pidOK   bool
}

func (r *reuseState) init(s *Sampler, root string) {
	r.ok = s.fast.on && s.fast.vm != nil
	page := uint64(os.Getpagesize())
	r.faultMax = page * (page / 8) // a page table page's worth of pages
	if r.ok {
		if la, err := proc.NewLoadavgReader(root); err == nil {
			if _, err := la.LastPID(); err == nil {
				r.la = la
			} else {
				la.Close()
			}
		}
	}
}

func (r *reuseState) close() {
	if r.la != nil {
		r.la.Close()
	}
}

// readLastPID is the last PID handed out, and whether it could be read.
func (r *reuseState) readLastPID() (int, bool) {
	if r.la == nil {
		return 0, false
	}
	pid, err := r.la.LastPID()
	return pid, err == nil
}

// reusable reports whether a scan may reuse readings under the settings in force. The
// metric and the budgets are judged at each use, not at start: a reload changes them.
func (s *Sampler) reusable() bool {
	return s.reuse.ok && s.o.Rules.Metric == proc.MetricRSS && s.grp == nil
}

// Reuse is called when a full scan is due: it reports whether the last readings can
// stand for it (see reuseMax), and then counts the scan as made. With false, the caller
// makes a full scan.
func (s *Sampler) Reuse(now time.Time) bool {
	r := &s.reuse
	if !s.reusable() || !r.valid || r.inRow >= reuseMax {
		return false
	}
	if pid, ok := r.readLastPID(); !ok || !r.pidOK || pid != r.lastPID {
		r.listings++
		n, digest, err := s.scanner.List()
		if err != nil || n != r.listed || digest != r.digest {
			return false
		}
		// The same processes: a thread, or a process that has ended since, took a PID.
		r.lastPID, r.pidOK = pid, ok
	}
	f := &s.fast
	f.read(now, true) // the growth since the last fast check, and vmstat now
	if !f.ok || !f.vmOK || !f.lastVm.HasFault || f.lastVm.PgFault < r.vm.PgFault {
		return false
	}
	faults := f.lastVm.PgFault - r.vm.PgFault
	if faults > (1<<63)/r.faultMax {
		return false
	}
	bound := f.grown + faults*r.faultMax
	room := f.headroom
	if s.low < s.o.Rules.Threshold { // the warning threshold is the lower
		room = min(room, s.low-min(r.maxLow, s.low))
	}
	if bound >= room {
		return false
	}
	r.inRow++
	return true
}

// LastScan is the statistics of the last full scan that read every process.
func (s *Sampler) LastScan() proc.ScanStats { return s.stats }

// scanned records a full scan that read every process: vm and the last PID as they
// were before its listing.
func (r *reuseState) scanned(st proc.ScanStats, vm proc.Vmstat, vmOK bool, maxLow uint64, lastPID int, pidOK bool) {
	r.valid = vmOK && vm.HasFault && st.Failed == 0
	r.listed, r.digest, r.maxLow, r.vm, r.inRow = st.Listed, st.Digest, maxLow, vm, 0
	r.lastPID, r.pidOK = lastPID, pidOK
}
