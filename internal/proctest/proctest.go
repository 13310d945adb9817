// Package proctest writes /proc trees for tests that need them to change while the
// daemon reads them: processes appear, grow, shrink and exit between two scans.
package proctest

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// Proc is one pretend process.
type Proc struct {
	Comm    string
	Cmdline string
	UID     int
	Start   uint64 // start time in clock ticks
	RSS     uint64 // bytes
	PSS     uint64 // bytes; 0: the same as RSS
	Swap    uint64 // bytes
	OOMAdj  int
	State   string // "R" unless set
	Cgroup  string // contents of /proc/PID/cgroup
}

// Tree is a /proc tree in a temporary directory.
type Tree struct {
	t    testing.TB
	Root string
	page uint64
}

// New returns an empty tree with meminfo and vmstat.
func New(t testing.TB) *Tree {
	tr := &Tree{t: t, Root: t.TempDir(), page: uint64(os.Getpagesize())}
	tr.Meminfo(64<<30, 0, 0)
	tr.Vmstat(0, 0)
	return tr
}

func (tr *Tree) write(rel, content string) {
	tr.t.Helper()
	path := filepath.Join(tr.Root, rel)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		tr.t.Fatal(err)
	}
	// In place, not renamed: the daemon keeps meminfo and vmstat open and rereads them.
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		tr.t.Fatal(err)
	}
}

// Meminfo sets /proc/meminfo: MemTotal, AnonPages and Mapped in bytes.
func (tr *Tree) Meminfo(total, anon, mapped uint64) {
	tr.write("meminfo", fmt.Sprintf("MemTotal: %d kB\nMemFree: %d kB\nMemAvailable: %d kB\nAnonPages: %d kB\nMapped: %d kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n",
		total>>10, total>>11, total>>11, anon>>10, mapped>>10))
}

// Vmstat sets /proc/vmstat: pages allocated so far, KiB read from disk.
func (tr *Tree) Vmstat(pgalloc, pgpgin uint64) {
	tr.write("vmstat", fmt.Sprintf("nr_free_pages 1\npgpgin %d\npgalloc_normal %d\npgfree 1\n", pgpgin, pgalloc))
}

// VmstatFaults is Vmstat with the page-fault count, which lets the daemon reuse a scan's
// readings while nothing changes (see sampler.Reuse).
func (tr *Tree) VmstatFaults(pgalloc, pgpgin, pgfault uint64) {
	tr.write("vmstat", fmt.Sprintf("nr_free_pages 1\npgpgin %d\npgalloc_normal %d\npgfree 1\npgfault %d\n", pgpgin, pgalloc, pgfault))
}

// Loadavg sets /proc/loadavg with the last PID handed out.
func (tr *Tree) Loadavg(lastPID int) {
	tr.write("loadavg", fmt.Sprintf("0.00 0.01 0.05 1/100 %d\n", lastPID))
}

// Add creates or replaces a process.
func (tr *Tree) Add(pid int, p Proc) {
	tr.t.Helper()
	if p.State == "" {
		p.State = "R"
	}
	if p.Cmdline == "" {
		p.Cmdline = p.Comm
	}
	d := strconv.Itoa(pid)
	pages := p.RSS / tr.page
	tr.write(d+"/stat", fmt.Sprintf("%d (%s) %s 1 %d %d 0 -1 4194304 100 0 0 0 5 3 0 0 20 0 1 0 %d %d %d 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n",
		pid, p.Comm, p.State, pid, pid, p.Start, 2*p.RSS, pages))
	tr.write(d+"/status", fmt.Sprintf("Name:\t%s\nState:\t%s (x)\nTgid:\t%d\nPid:\t%d\nPPid:\t1\nUid:\t%d\t%d\t%d\t%d\nGid:\t%d\t%d\t%d\t%d\nVmRSS:\t%d kB\nVmSwap:\t%d kB\nThreads:\t1\n",
		p.Comm, p.State, pid, pid, p.UID, p.UID, p.UID, p.UID, p.UID, p.UID, p.UID, p.UID, p.RSS>>10, p.Swap>>10))
	tr.write(d+"/statm", fmt.Sprintf("%d %d 100 10 0 %d 0\n", 2*pages, pages, pages))
	tr.write(d+"/cmdline", p.Cmdline+"\x00")
	tr.write(d+"/comm", p.Comm+"\n")
	tr.write(d+"/oom_score_adj", strconv.Itoa(p.OOMAdj)+"\n")
	tr.write(d+"/cgroup", p.Cgroup)
	pss := p.PSS
	if pss == 0 {
		pss = p.RSS
	}
	tr.write(d+"/smaps_rollup", fmt.Sprintf("00400000-7ffe00000000 ---p 00000000 00:00 0 [rollup]\nRss: %d kB\nPss: %d kB\n", p.RSS>>10, pss>>10))
}

// Remove makes a process exit.
func (tr *Tree) Remove(pid int) {
	tr.t.Helper()
	if err := os.RemoveAll(filepath.Join(tr.Root, strconv.Itoa(pid))); err != nil {
		tr.t.Fatal(err)
	}
}
