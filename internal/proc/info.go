package proc

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/prometheus/procfs"
)

// pfKthread is PF_KTHREAD from the kernel's include/linux/sched.h: the stat flags bit that
// marks a kernel thread.
const pfKthread = 0x00200000

// maxCmdline bounds the command line kept for logs and tables; some are megabytes long.
const maxCmdline = 4096

// Info is what the daemon needs to know about a process before deciding its fate.
type Info struct {
	PID          int
	PPID         int
	Comm         string // the kernel's short name (attacker-controlled text)
	Cmdline      string // arguments joined by spaces, or "[comm]" for kernel threads
	State        string // one-letter state from stat, "Z" for a zombie
	KernelThread bool
	StartTime    uint64 // in clock ticks since boot; with PID, identifies the process
	UID          uint64 // real user id
	OOMScoreAdj  int
	RSS          uint64 // bytes
	Swap         uint64 // VmSwap, bytes: anonymous memory swapped out
	PSS          uint64 // proportional set size, bytes; only after Reader.Measure with MetricPSS
	Exe          string // executable path, " (deleted)" cut off; "" when unreadable
	Cgroup       string // contents of /proc/PID/cgroup, for unit rules
}

// Zombie reports whether the process has exited and waits for its parent to reap it.
func (i Info) Zombie() bool { return i.State == "Z" }

// Reader reads process details through prometheus/procfs.
type Reader struct {
	root string
	fs   procfs.FS
}

// NewReader opens the /proc tree at root.
func NewReader(root string) (*Reader, error) {
	fs, err := procfs.NewFS(root)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", root, err)
	}
	return &Reader{root: root, fs: fs}, nil
}

// Root is the tree's path.
func (r *Reader) Root() string { return r.root }

// Info reads a process's identity, state and memory. A process that has gone returns an
// error for which IsGone is true.
func (r *Reader) Info(pid int) (Info, error) {
	p, err := r.fs.Proc(pid)
	if err != nil {
		return Info{}, err
	}
	st, err := p.Stat()
	if err != nil {
		return Info{}, err
	}
	status, err := p.NewStatus()
	if err != nil {
		return Info{}, err
	}
	adj, err := r.OOMScoreAdj(pid)
	if err != nil {
		return Info{}, err
	}
	sm, err := p.Statm()
	if err != nil {
		return Info{}, err
	}
	in := Info{
		PID:          pid,
		PPID:         st.PPID,
		Comm:         st.Comm,
		State:        st.State,
		KernelThread: st.Flags&pfKthread != 0,
		StartTime:    st.Starttime,
		UID:          status.UIDs[0],
		OOMScoreAdj:  adj,
		RSS:          sm.Resident * uint64(os.Getpagesize()),
		Swap:         status.VmSwap,
		Exe:          r.exe(pid),
		Cgroup:       r.cgroup(pid),
	}
	in.Cmdline = r.cmdline(pid)
	if in.Cmdline == "" {
		in.Cmdline = "[" + in.Comm + "]"
	}
	return in, nil
}

// StartTime reads the start time (clock ticks since boot) from /proc/PID/stat.
func (r *Reader) StartTime(pid int) (uint64, error) {
	p, err := r.fs.Proc(pid)
	if err != nil {
		return 0, err
	}
	st, err := p.Stat()
	if err != nil {
		return 0, err
	}
	return st.Starttime, nil
}

// RSS reads a process's resident set size in bytes from statm.
func (r *Reader) RSS(pid int) (uint64, error) {
	p, err := r.fs.Proc(pid)
	if err != nil {
		return 0, err
	}
	sm, err := p.Statm()
	if err != nil {
		return 0, err
	}
	return sm.Resident * uint64(os.Getpagesize()), nil
}

// OOMScoreAdj reads /proc/PID/oom_score_adj.
func (r *Reader) OOMScoreAdj(pid int) (int, error) {
	path := filepath.Join(r.root, strconv.Itoa(pid), "oom_score_adj")
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	v, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", path, err)
	}
	return v, nil
}

// MemTotal reads MemTotal from meminfo, in bytes.
func (r *Reader) MemTotal() (uint64, error) {
	mi, err := r.fs.Meminfo()
	if err != nil {
		return 0, fmt.Errorf("read %s/meminfo: %w", r.root, err)
	}
	if mi.MemTotalBytes == nil {
		return 0, fmt.Errorf("read %s/meminfo: no MemTotal", r.root)
	}
	return *mi.MemTotalBytes, nil
}

// cmdline reads the command line; a process that cannot be read gives "" (the caller
// falls back to the short name), since a missing command line never changes a decision.
func (r *Reader) cmdline(pid int) string {
	f, err := os.Open(filepath.Join(r.root, strconv.Itoa(pid), "cmdline"))
	if err != nil {
		return ""
	}
	defer f.Close()
	buf := make([]byte, maxCmdline)
	n, _ := f.Read(buf)
	b := bytes.TrimRight(buf[:n], "\x00")
	return string(bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
}

// maxCgroup bounds what is kept of /proc/PID/cgroup: a dozen v1 lines fit easily.
const maxCgroup = 8192

// exe reads the executable's path; "" for kernel threads and unreadable links. A binary
// replaced by a package upgrade reads "PATH (deleted)": the suffix is cut, so that exe
// rules keep protecting a daemon that has not been restarted since.
func (r *Reader) exe(pid int) string {
	s, err := os.Readlink(filepath.Join(r.root, strconv.Itoa(pid), "exe"))
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(s, " (deleted)")
}

// cgroup reads /proc/PID/cgroup; "" when unreadable (no unit rule then matches).
func (r *Reader) cgroup(pid int) string {
	f, err := os.Open(filepath.Join(r.root, strconv.Itoa(pid), "cgroup"))
	if err != nil {
		return ""
	}
	defer f.Close()
	buf := make([]byte, maxCgroup)
	n, _ := io.ReadFull(f, buf)
	return string(buf[:n])
}

// PSS reads the proportional set size in bytes from /proc/PID/smaps_rollup. It walks the
// process's page tables (about 12 ms per GiB of RSS), so it is read only for processes
// already over a threshold by RSS. Other users' processes need CAP_SYS_PTRACE.
func (r *Reader) PSS(pid int) (uint64, error) {
	p, err := r.fs.Proc(pid)
	if err != nil {
		return 0, err
	}
	sm, err := p.ProcSMapsRollup()
	if err != nil {
		return 0, fmt.Errorf("read %s/%d/smaps_rollup: %w", r.root, pid, err)
	}
	return sm.Pss, nil
}

// Swap reads VmRSS and VmSwap, in bytes, from /proc/PID/status.
func (r *Reader) Swap(pid int) (rss, swap uint64, err error) {
	p, err := r.fs.Proc(pid)
	if err != nil {
		return 0, 0, err
	}
	st, err := p.NewStatus()
	if err != nil {
		return 0, 0, err
	}
	return st.VmRSS, st.VmSwap, nil
}

// UserName returns the login name for uid, or the number when it has none.
func UserName(uid uint64) string {
	s := strconv.FormatUint(uid, 10)
	if u, err := user.LookupId(s); err == nil {
		return u.Username
	}
	return s
}
