package proc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/prometheus/procfs"
	"golang.org/x/sys/unix"
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
	State        string // one-letter state from stat, "Z" for a zombie (see Thread)
	KernelThread bool
	StartTime    uint64 // in clock ticks since boot; with PID, identifies the process
	UID          uint64 // real user id
	OOMScoreAdj  int
	RSS          uint64 // bytes
	Swap         uint64 // VmSwap, bytes: anonymous memory swapped out
	PSS          uint64 // proportional set size, bytes; only after Reader.Measure with MetricPSS
	Exe          string // executable path, " (deleted)" cut off; "" when unreadable
	Cgroup       string // contents of /proc/PID/cgroup, for unit rules

	// Thread is the live thread the process was measured through when its thread-group
	// leader is a zombie (main called pthread_exit) while other threads run on: the
	// leader's own files then read no memory, no executable and no command line. State is
	// that thread's, so such a process is not a zombie. 0 when the leader itself was read.
	Thread int
	// MountNS is the /proc/PID/ns/mnt link ("mnt:[4026531841]"); "" when unreadable.
	MountNS string
	// ExeVerified is true when Exe names, as the administrator sees the file system (the
	// mount namespace of PID 1), the very file the process runs: the process is in that
	// namespace, or the path there leads to the same inode (a service with PrivateTmp= or
	// ProtectSystem= runs in a namespace of its own, but runs the host's binary). In a
	// namespace of their own (unshare -Urm) users can mount anything over any path, and
	// what their processes' exe links then say proves nothing. False when unknown.
	ExeVerified bool
	// ExeUnreadable is true when the exe or ns/mnt link exists but may not be read
	// (another user's process, read without root): exe rules cannot be judged.
	ExeUnreadable bool
}

// Zombie reports whether the process has exited and waits for its parent to reap it: a
// zombie leader whose other threads still run is not one (its State is a live thread's).
func (i Info) Zombie() bool { return i.State == "Z" }

// Reader reads process details through prometheus/procfs.
type Reader struct {
	root     string
	fs       procfs.FS
	pageSize uint64
	refNS    string // root/1/ns/mnt (else root/self/ns/mnt): the administrator's mount namespace
	refRoot  string // root/1/root (else root/self/root): that namespace's file system
	// fixture is true for a tree that is not a procfs mount (--proc-root, tests): no
	// symbolic link in it is followed, so a fixture cannot make `list` (run as root) print
	// a file outside the tree.
	fixture bool
}

// NewReader opens the /proc tree at root.
func NewReader(root string) (*Reader, error) {
	fs, err := procfs.NewFS(root)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", root, err)
	}
	var sfs unix.Statfs_t
	if err := unix.Statfs(root, &sfs); err != nil {
		return nil, fmt.Errorf("statfs %s: %w", root, err)
	}
	r := &Reader{root: root, fs: fs, pageSize: PageSize(root), fixture: sfs.Type != unix.PROC_SUPER_MAGIC}
	// The daemon's own namespace will not do: systemd gives the hardened service one of
	// its own. A user running list cannot read PID 1's; their own is the host's then.
	ref := "1"
	if _, err := os.Stat(filepath.Join(root, ref, "root")); err != nil {
		ref = "self"
	}
	r.refNS, _ = os.Readlink(filepath.Join(root, ref, "ns", "mnt"))
	r.refRoot = filepath.Join(root, ref, "root")
	return r, nil
}

// Root is the tree's path.
func (r *Reader) Root() string { return r.root }

// SelfExe reads the executable of the process reading the tree (root/self/exe); "" when
// unreadable. `list` uses it to recognise the running daemon.
func (r *Reader) SelfExe() string {
	s, err := os.Readlink(filepath.Join(r.root, "self", "exe"))
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(s, " (deleted)")
}

// errSymlink is what a symbolic link inside a fixture tree reads as.
var errSymlink = errors.New("a symbolic link in a tree that is not /proc; not followed")

// check refuses, in a fixture tree, a path below the root (given as components) whose
// components include a symbolic link. In a real /proc it does nothing: the files read
// there are never links.
func (r *Reader) check(parts ...string) error {
	if !r.fixture {
		return nil
	}
	p := r.root
	for _, c := range parts {
		p = filepath.Join(p, c)
		fi, err := os.Lstat(p)
		if err != nil {
			if errors.Is(err, unix.ENOENT) {
				return nil // reading it will fail the ordinary way
			}
			return err
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return &fs.PathError{Op: "open", Path: p, Err: errSymlink}
		}
	}
	return nil
}

// checkFiles checks dir (components below the root) and each of files in it.
func (r *Reader) checkFiles(dir []string, files ...string) error {
	if !r.fixture {
		return nil
	}
	if err := r.check(dir...); err != nil {
		return err
	}
	for _, f := range files {
		if err := r.check(append(dir[:len(dir):len(dir)], f)...); err != nil {
			return err
		}
	}
	return nil
}

// Info reads a process's identity, state and memory. A process that has gone returns an
// error for which IsGone is true.
func (r *Reader) Info(pid int) (Info, error) {
	ps := strconv.Itoa(pid)
	if err := r.checkFiles([]string{ps}, "stat", "status", "statm", "oom_score_adj"); err != nil {
		return Info{}, err
	}
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
		RSS:          sm.Resident * r.pageSize,
		Swap:         status.VmSwap,
	}
	dir := []string{ps} // where the memory map's files are read
	if !in.KernelThread && (st.State == "Z" || sm.Size == 0) {
		if t, ok := r.liveThread(pid); ok {
			in.Thread, in.State, in.RSS, in.Swap = t.tid, t.state, t.sm.Resident*r.pageSize, t.status.VmSwap
			dir = []string{ps, "task", strconv.Itoa(t.tid)}
		}
	}
	in.Exe, in.MountNS, in.ExeUnreadable = r.exeAndNS(dir)
	in.ExeVerified = in.Exe != "" && (in.MountNS != "" && in.MountNS == r.refNS || r.sameFile(dir, in.Exe))
	in.Cgroup = r.cgroup(dir)
	in.Cmdline = r.cmdline(dir)
	if in.Cmdline == "" {
		in.Cmdline = "[" + in.Comm + "]"
	}
	return in, nil
}

// thread is a live thread of a process whose leader is a zombie.
type thread struct {
	tid    int
	state  string
	sm     procfs.ProcStatm
	status procfs.ProcStatus
}

// liveThread finds a thread of pid other than the leader that has not exited; false when
// there is none (the process is a real zombie) or the task directory cannot be read.
func (r *Reader) liveThread(pid int) (thread, bool) {
	ps := strconv.Itoa(pid)
	if err := r.check(ps, "task"); err != nil {
		return thread{}, false
	}
	taskDir := filepath.Join(r.root, ps, "task")
	ents, err := os.ReadDir(taskDir)
	if err != nil {
		return thread{}, false
	}
	tfs, err := procfs.NewFS(taskDir)
	if err != nil {
		return thread{}, false
	}
	for _, e := range ents {
		tid, err := strconv.Atoi(e.Name())
		if err != nil || tid == pid {
			continue
		}
		if r.checkFiles([]string{ps, "task", e.Name()}, "stat", "status", "statm") != nil {
			continue
		}
		tp, err := tfs.Proc(tid)
		if err != nil {
			continue
		}
		ts, err := tp.Stat()
		if err != nil || ts.State == "Z" || ts.State == "X" {
			continue
		}
		sm, err := tp.Statm()
		if err != nil {
			continue
		}
		status, err := tp.NewStatus()
		if err != nil {
			continue
		}
		return thread{tid: tid, state: ts.State, sm: sm, status: status}, true
	}
	return thread{}, false
}

// RSS reads a process's resident set size in bytes from statm (a zombie leader's through
// a live thread).
func (r *Reader) RSS(pid int) (uint64, error) {
	if err := r.checkFiles([]string{strconv.Itoa(pid)}, "statm"); err != nil {
		return 0, err
	}
	p, err := r.fs.Proc(pid)
	if err != nil {
		return 0, err
	}
	sm, err := p.Statm()
	if err != nil {
		return 0, err
	}
	if sm.Size == 0 { // a zombie leader: its live threads hold the memory
		if t, ok := r.liveThread(pid); ok {
			return t.sm.Resident * r.pageSize, nil
		}
	}
	return sm.Resident * r.pageSize, nil
}

// OOMScoreAdj reads /proc/PID/oom_score_adj.
func (r *Reader) OOMScoreAdj(pid int) (int, error) {
	path := filepath.Join(r.root, strconv.Itoa(pid), "oom_score_adj")
	if err := r.check(strconv.Itoa(pid), "oom_score_adj"); err != nil {
		return 0, err
	}
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

// SwapTotal reads SwapTotal from meminfo, in bytes (0 without swap).
func (r *Reader) SwapTotal() (uint64, error) {
	mi, err := r.fs.Meminfo()
	if err != nil {
		return 0, fmt.Errorf("read %s/meminfo: %w", r.root, err)
	}
	if mi.SwapTotalBytes == nil {
		return 0, nil
	}
	return *mi.SwapTotalBytes, nil
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

// cmdline reads the command line in dir (components below the root); a process that cannot
// be read gives "" (the caller falls back to the short name), since a missing command line
// never changes a decision.
func (r *Reader) cmdline(dir []string) string {
	b := r.readBounded(dir, "cmdline", maxCmdline)
	b = bytes.TrimRight(b, "\x00")
	return string(bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
}

// maxCgroup bounds what is kept of /proc/PID/cgroup: a dozen v1 lines fit easily.
const maxCgroup = 8192

// readBounded reads at most limit bytes of dir/name; nil when it cannot be read. The file
// is opened with O_NOFOLLOW and, in a fixture tree, only when no component is a link.
func (r *Reader) readBounded(dir []string, name string, limit int) []byte {
	if r.checkFiles(dir, name) != nil {
		return nil
	}
	f, err := os.OpenFile(filepath.Join(append([]string{r.root}, append(dir, name)...)...), os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil
	}
	defer f.Close()
	buf := make([]byte, limit)
	n, _ := io.ReadFull(f, buf)
	return buf[:n]
}

// exeAndNS reads the executable's path and the mount namespace link in dir; "" for
// kernel threads and unreadable links. A binary replaced by a package upgrade reads
// "PATH (deleted)": the suffix is cut, so that exe rules keep protecting a daemon that has
// not been restarted since. denied is true when either link exists but may not be read.
func (r *Reader) exeAndNS(dir []string) (exe, ns string, denied bool) {
	if r.check(dir...) != nil {
		return "", "", false
	}
	base := filepath.Join(append([]string{r.root}, dir...)...)
	denied = false
	exe, err := os.Readlink(filepath.Join(base, "exe"))
	if err != nil {
		exe = ""
		denied = errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM)
	}
	ns, err = os.Readlink(filepath.Join(base, "ns", "mnt"))
	if err != nil {
		ns = ""
		denied = denied || errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM)
	}
	return strings.TrimSuffix(exe, " (deleted)"), ns, denied
}

// sameFile reports whether the executable of the process in dir is the file that path names
// in the reference mount namespace (through root/1/root, or root/self/root). Never in a fixture tree, whose
// links lead out of it.
func (r *Reader) sameFile(dir []string, path string) bool {
	if r.fixture {
		return false
	}
	var running, named unix.Stat_t
	if unix.Stat(filepath.Join(append(append([]string{r.root}, dir...), "exe")...), &running) != nil {
		return false
	}
	if unix.Stat(filepath.Join(r.refRoot, path), &named) != nil {
		return false
	}
	return running.Dev == named.Dev && running.Ino == named.Ino
}

// cgroup reads the cgroup file in dir; "" when unreadable (no unit rule then matches).
func (r *Reader) cgroup(dir []string) string {
	return string(r.readBounded(dir, "cgroup", maxCgroup))
}

// PSS reads the proportional set size in bytes from /proc/PID/smaps_rollup. It walks the
// process's page tables (about 12 ms per GiB of RSS), so it is read only for processes
// already over a threshold by RSS. Other users' processes need CAP_SYS_PTRACE. A zombie
// leader's is read through a live thread.
func (r *Reader) PSS(pid int) (uint64, error) {
	pss, err := r.pss(pid, 0)
	if err == nil && pss != 0 {
		return pss, nil
	}
	// A zombie leader has no memory map to walk; its live threads share theirs.
	if t, ok := r.liveThread(pid); ok {
		return r.pss(pid, t.tid)
	}
	return pss, err
}

// pss reads smaps_rollup of pid, or of its thread tid when not 0 (a zombie leader has no
// memory map of its own to walk).
func (r *Reader) pss(pid, tid int) (uint64, error) {
	ps := strconv.Itoa(pid)
	var p procfs.Proc
	var err error
	if tid == 0 {
		if err := r.checkFiles([]string{ps}, "smaps_rollup"); err != nil {
			return 0, err
		}
		p, err = r.fs.Proc(pid)
	} else {
		if err := r.checkFiles([]string{ps, "task", strconv.Itoa(tid)}, "smaps_rollup"); err != nil {
			return 0, err
		}
		var tfs procfs.FS
		if tfs, err = procfs.NewFS(filepath.Join(r.root, ps, "task")); err == nil {
			p, err = tfs.Proc(tid)
		}
	}
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
// A zombie leader's are read from one of its live threads.
func (r *Reader) Swap(pid int) (rss, swap uint64, err error) {
	if err := r.checkFiles([]string{strconv.Itoa(pid)}, "status"); err != nil {
		return 0, 0, err
	}
	p, err := r.fs.Proc(pid)
	if err != nil {
		return 0, 0, err
	}
	st, err := p.NewStatus()
	if err != nil {
		return 0, 0, err
	}
	if st.VmRSS == 0 {
		if t, ok := r.liveThread(pid); ok {
			return t.status.VmRSS, t.status.VmSwap, nil
		}
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
