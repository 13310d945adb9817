package sampler

import (
	"testing"
	"time"

	"github.com/memory-monitor/memory-monitor/internal/kill"
	"github.com/memory-monitor/memory-monitor/internal/proc"
	"github.com/memory-monitor/memory-monitor/internal/proctest"
)

func reuseTree(t *testing.T, metric proc.Metric) (*Sampler, *proctest.Tree) {
	t.Helper()
	tr := proctest.New(t)
	tr.VmstatFaults(0, 0, 1000)
	f := kill.NewFake()
	for pid, rss := range map[int]uint64{10: 10 * mib, 11: 100 * mib} {
		tr.Add(pid, proctest.Proc{Comm: "p", RSS: rss, Start: 1})
		f.Add(pid, &kill.FakeProcess{})
	}
	s := newSampler(t, tr, f, metric, true) // threshold 1 GiB, warning at 512 MiB
	if _, err := s.Full(t0, nil); err != nil {
		t.Fatal(err)
	}
	return s, tr
}

// A scan due while the same processes are listed and the fault count leaves room under
// the lower threshold reuses the readings; anything else reads every process.
func TestReuse(t *testing.T) {
	s, tr := reuseTree(t, proc.MetricRSS)
	at := t0
	next := func() time.Time { at = at.Add(time.Minute); return at }
	if !s.Reuse(next()) {
		t.Fatal("nothing changed, and the scan was not reused")
	}
	// Room under the warning threshold: 512 - 100 MiB. Faults add up from the last
	// scan that read every process, however many were reused in between.
	perFault := s.reuse.faultMax
	faults := func(n uint64) { tr.VmstatFaults(0, 0, 1000+n) }
	faults(200 * mib / perFault)
	if !s.Reuse(next()) {
		t.Errorf("faults that can map 200 MiB, 412 MiB of room: not reused")
	}
	faults(420 * mib / perFault)
	if s.Reuse(next()) {
		t.Errorf("faults that can map 420 MiB, 412 MiB of room: reused")
	}
	s.Full(at, nil)
	if !s.Reuse(next()) {
		t.Errorf("after a full scan the faults before it no longer count: not reused")
	}
	// Pages allocated count as the fast path counts them.
	tr.VmstatFaults(uint64(500*mib)/4096, 0, 1000+420*mib/perFault)
	if s.Reuse(next()) {
		t.Errorf("500 MiB allocated: reused")
	}
	s.Full(at, nil)

	// A process that starts or ends changes the listing.
	tr.Add(12, proctest.Proc{Comm: "new", RSS: mib, Start: 1})
	if s.Reuse(next()) {
		t.Errorf("a new process: reused")
	}
	s.Full(at, nil)
	tr.Remove(12)
	if s.Reuse(next()) {
		t.Errorf("an ended process: reused")
	}
	s.Full(at, nil)

	// New limits: the next scan due reads every process.
	s.SetLimits(gib, 512*mib)
	if s.Reuse(next()) {
		t.Errorf("after SetLimits: reused")
	}
	s.Full(at, nil)

	// reuseMax in a row at most.
	for i := range reuseMax {
		if !s.Reuse(next()) {
			t.Fatalf("reuse %d of %d refused", i+1, reuseMax)
		}
	}
	if s.Reuse(next()) {
		t.Errorf("reuse %d in a row allowed", reuseMax+1)
	}
	s.Full(at, nil)
	if !s.Reuse(next()) {
		t.Errorf("after the full scan: not reused")
	}
}

// No reuse with PSS (another process letting go of shared pages raises it, without a
// fault), nor where vmstat has no pgfault line, nor without the fast path.
func TestReuseOnlyWhereTheBoundHolds(t *testing.T) {
	s, _ := reuseTree(t, proc.MetricPSS)
	if s.Reuse(t0.Add(time.Minute)) {
		t.Error("reused with --metric=pss")
	}
	// A reload to PSS stops it too, and a reload back allows it again.
	s, _ = reuseTree(t, proc.MetricRSS)
	r := s.Rules()
	r.Metric = proc.MetricPSS
	s.SetRules(r)
	s.Full(t0.Add(time.Minute), nil)
	if s.Reuse(t0.Add(2 * time.Minute)) {
		t.Error("reused after a reload to --metric=pss")
	}
	r.Metric = proc.MetricRSS
	s.SetRules(r)
	s.Full(t0.Add(3*time.Minute), nil)
	if !s.Reuse(t0.Add(4 * time.Minute)) {
		t.Error("not reused after a reload back to --metric=rss")
	}
	s, tr := reuseTree(t, proc.MetricRSS)
	tr.Vmstat(0, 0) // no pgfault
	s.Full(t0.Add(time.Minute), nil)
	if s.Reuse(t0.Add(2 * time.Minute)) {
		t.Error("reused without a fault count")
	}
	tr = proctest.New(t)
	tr.VmstatFaults(0, 0, 1)
	tr.Add(10, proctest.Proc{Comm: "p", RSS: mib, Start: 1})
	s = newSampler(t, tr, kill.NewFake(), proc.MetricRSS, false)
	s.Full(t0, nil)
	if s.Reuse(t0.Add(time.Minute)) {
		t.Error("reused without the fast path")
	}
}

// While the last PID handed out is the same, no process can have been created, and the
// listing is skipped; a new last PID makes Reuse list again, and a listing that matches
// takes it as the new reference.
func TestReuseListsOnlyAfterANewPID(t *testing.T) {
	tr := proctest.New(t)
	tr.VmstatFaults(0, 0, 1000)
	tr.Loadavg(500)
	tr.Add(10, proctest.Proc{Comm: "p", RSS: 10 * mib, Start: 1})
	s := newSampler(t, tr, kill.NewFake(), proc.MetricRSS, true)
	if s.reuse.la == nil {
		t.Fatal("loadavg not opened")
	}
	s.Full(t0, nil)
	at := t0
	next := func() time.Time { at = at.Add(time.Minute); return at }
	if ok := s.Reuse(next()); !ok || s.reuse.listings != 0 {
		t.Fatalf("same last PID: reused %v after %d listings, want reused without one", ok, s.reuse.listings)
	}
	tr.Loadavg(501) // a thread, say: the same processes are listed
	if !s.Reuse(next()) || s.reuse.listings != 1 {
		t.Fatalf("new last PID, same processes: want reused after one listing (%d)", s.reuse.listings)
	}
	if !s.Reuse(next()) || s.reuse.listings != 1 {
		t.Errorf("the matching listing did not become the reference: %d listings", s.reuse.listings)
	}
	tr.Loadavg(502)
	tr.Add(502, proctest.Proc{Comm: "new", RSS: mib, Start: 2})
	if s.Reuse(next()) || s.reuse.listings != 2 {
		t.Errorf("a new process: want a listing that differs (%d listings)", s.reuse.listings)
	}
}
