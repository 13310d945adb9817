package proc

import (
	"bytes"
	"fmt"
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
	rss, err := r.RSS(pid)
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
		RSS:          rss,
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

// UserName returns the login name for uid, or the number when it has none.
func UserName(uid uint64) string {
	s := strconv.FormatUint(uid, 10)
	if u, err := user.LookupId(s); err == nil {
		return u.Username
	}
	return s
}
