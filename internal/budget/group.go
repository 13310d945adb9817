package budget

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/memory-monitor/memory-monitor/internal/proc"
	"github.com/memory-monitor/memory-monitor/internal/protect"
)

// Method is how a group's total was measured; it is named in every log entry about it.
type Method int

const (
	// MethodCgroup is cgroup v2's memory.stat anon + file_mapped (+ memory.swap.current
	// with --metric=swap), one read for the whole group: about what stopping its processes
	// would free. Page cache that no process maps is not counted.
	MethodCgroup Method = iota + 1
	// MethodRSSSum is the sum of the members' RSS: an upper bound, since pages shared by
	// forked workers count once per process. It is final only while under the budget.
	MethodRSSSum
	// MethodPSSSum is the sum of the members' PSS (smaps_rollup), read only when the RSS
	// sum is over the budget, to confirm before acting.
	MethodPSSSum
)

func (m Method) String() string {
	switch m {
	case MethodCgroup:
		return "cgroup"
	case MethodRSSSum:
		return "rss-sum"
	case MethodPSSSum:
		return "pss-sum"
	}
	return "unknown"
}

// Key names a group: a user by uid ("1000"), a unit by name ("gitlab-runner.service").
type Key struct {
	Kind Kind
	Name string
}

// String is "user:1000" or "unit:gitlab-runner.service": the GROUP field of log entries.
func (k Key) String() string { return string(k.Kind) + ":" + k.Name }

// Member is one process of a group, as the scan saw it.
type Member struct {
	PID  int
	RSS  uint64 // bytes, from the scan's statm
	PSS  uint64 // bytes; only in a MethodPSSSum measurement
	Swap uint64 // VmSwap bytes; only with --metric=swap
}

// Group is one measured group.
type Group struct {
	Key    Key
	Rule   Rule   // the budget in force (after precedence)
	User   string // user groups: the login name, "" when the uid has none
	Cgroup string // the cgroup v2 path of the group ("/user.slice/user-1000.slice"), "" when unknown
	Method Method
	Total  uint64 // bytes, by Method
	// Shmem is tmpfs, /dev/shm and shared anonymous memory charged to the group: no stop
	// frees it while the files remain. Known only with MethodCgroup.
	Shmem      uint64
	ShmemKnown bool
	RSSSum     uint64   // the members' RSS, always
	Members    []Member // largest RSS first
	// OOMKills is memory.events oom_kill: processes the kernel's OOM killer took from the
	// group. Known only where the memory controller covers the group.
	OOMKills uint64
	OOMKnown bool
}

// Over reports whether the group is above its budget.
func (g Group) Over() bool { return g.Total > g.Rule.Limit }

// Options configure a Grouper.
type Options struct {
	ProcRoot   string      // normally /proc
	CgroupRoot string      // the cgroup v2 mount, normally /sys/fs/cgroup
	Metric     proc.Metric // swap adds VmSwap / memory.swap.current to the totals
	// UserName gives the login name of uid ("" when none), for user globs and tables; nil
	// uses os/user. It is called once per uid for the Grouper's life.
	UserName func(uid uint64) string
	// PSS reads a process's proportional set size in bytes; nil reads smaps_rollup below
	// ProcRoot.
	PSS func(pid int) (uint64, error)
}

// Grouper sorts the processes of each scan into budget groups and measures the groups.
// Feed it every process of a scan with Add (the scanner's callback gives the RSS it read
// anyway), then call Groups. It is not safe for concurrent use.
//
// Per process of a scan it reads /proc/PID/status (the real uid) when a user budget is
// configured, and /proc/PID/cgroup when a unit budget is, or when cgroup v2 has the memory
// controller (to know whether a user's slice holds exactly that user's processes). Per
// group it reads memory.stat and memory.events (and memory.swap.current with
// --metric=swap) where the controller covers the group, and smaps_rollup of each member of
// a group whose RSS sum is over its budget where it does not.
type Grouper struct {
	set       *Set
	o         Options
	dirfd     int
	v2memory  bool // the cgroup v2 root offers the memory controller
	readCg    bool
	path      []byte
	status    []byte
	cgroupBuf []byte

	users  map[uint64]*userInfo
	known  map[int]identity   // by PID, from the previous scans
	cgs    map[string]*cgInfo // /proc/PID/cgroup contents -> what it means
	groups map[Key]*Group
	inUser map[uint64]int // per uid: processes in its user-UID.slice
	gen    int
}

// cgInfo is what one /proc/PID/cgroup content says, parsed once per distinct content.
type cgInfo struct {
	units    []unitGroup
	sliceUID uint64 // the uid of the user-UID.slice it lies in
	inSlice  bool
	gen      int // last scan that saw it
}

type unitGroup struct {
	rule Rule
	name string
	path string // cgroup v2 path, "" on a v1 host
}

// NewGrouper opens o.ProcRoot for set's budgets. set must not be empty: without budgets
// the daemon makes no Grouper at all.
func NewGrouper(set *Set, o Options) (*Grouper, error) {
	if set.Empty() {
		return nil, errors.New("no budgets")
	}
	fd, err := unix.Open(o.ProcRoot, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", o.ProcRoot, err)
	}
	if o.UserName == nil {
		o.UserName = func(uid uint64) string {
			if s := proc.UserName(uid); s != strconv.FormatUint(uid, 10) {
				return s
			}
			return ""
		}
	}
	if o.PSS == nil {
		r, err := proc.NewReader(o.ProcRoot)
		if err != nil {
			unix.Close(fd)
			return nil, err
		}
		o.PSS = r.PSS
	}
	g := &Grouper{set: set, o: o, dirfd: fd, path: make([]byte, 0, 64),
		status: make([]byte, 4096), cgroupBuf: make([]byte, 8192),
		users: map[uint64]*userInfo{}, known: map[int]identity{}, cgs: map[string]*cgInfo{}, groups: map[Key]*Group{}, inUser: map[uint64]int{}}
	g.v2memory = hasMemoryController(o.CgroupRoot)
	g.readCg = set.HasUnits() || (set.HasUsers() && g.v2memory)
	return g, nil
}

// hasMemoryController reports whether the cgroup v2 root offers memory to its children.
func hasMemoryController(root string) bool {
	b, err := os.ReadFile(filepath.Join(root, "cgroup.controllers"))
	if err != nil {
		return false
	}
	for _, c := range bytes.Fields(b) {
		if string(c) == "memory" {
			return true
		}
	}
	return false
}

// Close releases the /proc directory.
func (g *Grouper) Close() error { return unix.Close(g.dirfd) }

// Begin starts a scan: the groups of the previous one are forgotten.
func (g *Grouper) Begin() {
	g.gen++
	clear(g.groups)
	clear(g.inUser)
}

// Add places one process of the scan, of rss bytes, in its groups. A process that cannot
// be read (gone since the listing) is left out.
func (g *Grouper) Add(pid int, rss uint64) {
	id, ok := g.identity(pid)
	if !ok {
		return
	}
	m := Member{PID: pid, RSS: rss, Swap: id.swap}
	cg := id.cg
	if g.set.HasUsers() {
		if cg != nil && cg.inSlice {
			g.inUser[cg.sliceUID]++
		}
		u := g.user(id.uid)
		if u.hasRule {
			grp := g.group(Key{User, u.key}, u.rule)
			grp.User = u.name
			if cg == nil || !cg.inSlice || cg.sliceUID != id.uid {
				grp.Cgroup = "" // a member outside the slice: the slice does not measure the user
			}
			grp.Members = append(grp.Members, m)
		}
	}
	if cg != nil {
		for _, u := range cg.units {
			grp := g.group(Key{Unit, u.name}, u.rule)
			if grp.Cgroup == "" {
				grp.Cgroup = u.path
			}
			grp.Members = append(grp.Members, m)
		}
	}
}

// RefreshScans is how many scans a process's uid and cgroup are trusted before they are
// read again; a process new to the scan is always read. Each scan re-reads the processes
// whose PID falls in its share, so the cost is spread evenly. A process that changed user
// or cgroup since (or a PID reused by a new process between two scans) is in the wrong
// group for at most this many scans; Candidates checks every member it would choose
// against fresh /proc data, so such a process is never stopped for a group it is not in.
const RefreshScans = 8

// identity is what decides a process's groups.
type identity struct {
	uid  uint64
	swap uint64 // VmSwap bytes, --metric=swap only (read at every scan)
	cg   *cgInfo
	seen int // the scan that last saw it
}

// identity returns pid's uid and cgroup, from the previous scans when they are recent.
func (g *Grouper) identity(pid int) (identity, bool) {
	id, ok := g.known[pid]
	fresh := ok && id.seen == g.gen-1 && (pid+g.gen)%RefreshScans != 0 && g.o.Metric != proc.MetricSwap
	if fresh {
		id.seen = g.gen
		if id.cg != nil {
			id.cg.gen = g.gen
		}
		g.known[pid] = id
		return id, true
	}
	id = identity{seen: g.gen}
	var err error
	if g.set.HasUsers() {
		if id.uid, id.swap, err = g.readStatus(pid); err != nil {
			delete(g.known, pid)
			return id, false
		}
		if g.o.Metric != proc.MetricSwap {
			id.swap = 0
		}
	}
	if g.readCg {
		if id.cg, err = g.readCgroup(pid); err != nil {
			delete(g.known, pid)
			return id, false
		}
	}
	g.known[pid] = id
	return id, true
}

// userInfo is what is known about one uid, looked up once.
type userInfo struct {
	name    string
	key     string // the uid in decimal
	rule    Rule
	hasRule bool
}

func (g *Grouper) user(uid uint64) *userInfo {
	u := g.users[uid]
	if u == nil {
		u = &userInfo{name: g.o.UserName(uid), key: strconv.FormatUint(uid, 10)}
		u.rule, u.hasRule = g.set.MatchUser(uid, u.name)
		g.users[uid] = u
	}
	return u
}

func (g *Grouper) group(k Key, r Rule) *Group {
	grp := g.groups[k]
	if grp == nil {
		grp = &Group{Key: k, Rule: r}
		if k.Kind == User {
			grp.Cgroup = "/user.slice/user-" + k.Name + ".slice"
		}
		g.groups[k] = grp
	}
	return grp
}

// Groups measures the groups of the scan, sorted by key. Where cgroup v2's memory
// controller covers a group, one read of its memory.stat gives the total; elsewhere the
// members' RSS sum, confirmed by their PSS sum when it is over the budget.
func (g *Grouper) Groups() []Group {
	for k, c := range g.cgs {
		if c.gen != g.gen {
			delete(g.cgs, k)
		}
	}
	for pid, id := range g.known {
		if id.seen != g.gen {
			delete(g.known, pid) // exited
		}
	}
	out := make([]Group, 0, len(g.groups))
	for _, grp := range g.groups {
		if grp.Key.Kind == User && grp.Cgroup != "" && g.inUser[mustUID(grp.Key.Name)] != len(grp.Members) {
			grp.Cgroup = "" // someone else's process in the slice (sudo in a session): not just the user
		}
		slices.SortFunc(grp.Members, func(a, b Member) int {
			return cmp.Or(cmp.Compare(b.RSS, a.RSS), cmp.Compare(a.PID, b.PID))
		})
		for _, m := range grp.Members {
			grp.RSSSum += m.RSS
		}
		g.measure(grp)
		out = append(out, *grp)
	}
	slices.SortFunc(out, func(a, b Group) int {
		return cmp.Or(cmp.Compare(a.Key.Kind, b.Key.Kind), cmp.Compare(a.Key.Name, b.Key.Name))
	})
	return out
}

func mustUID(s string) uint64 {
	v, _ := strconv.ParseUint(s, 10, 64)
	return v
}

func (g *Grouper) measure(grp *Group) {
	if grp.Cgroup != "" && g.v2memory {
		dir := filepath.Join(g.o.CgroupRoot, grp.Cgroup)
		if st, err := ReadMemoryStat(filepath.Join(dir, "memory.stat")); err == nil {
			grp.Method = MethodCgroup
			grp.Total = st.Anon + st.FileMapped
			grp.Shmem, grp.ShmemKnown = st.Shmem, true
			if g.o.Metric == proc.MetricSwap {
				if s, err := readUint(filepath.Join(dir, "memory.swap.current")); err == nil {
					grp.Total += s
				}
			}
			grp.OOMKills, grp.OOMKnown = readOOMKills(filepath.Join(dir, "memory.events"))
			return
		}
	}
	grp.Method = MethodRSSSum
	grp.Total = 0
	for _, m := range grp.Members {
		grp.Total += m.RSS + m.Swap
	}
	if grp.Total <= grp.Rule.Limit {
		return
	}
	grp.Method = MethodPSSSum
	grp.Total = 0
	for i := range grp.Members {
		m := &grp.Members[i]
		pss, err := g.o.PSS(m.PID)
		switch {
		case proc.IsGone(err):
			pss = 0 // exited since the scan: its memory is free
		case err != nil:
			pss = m.RSS // unreadable (no CAP_SYS_PTRACE): its RSS, the bound
		}
		m.PSS = pss
		grp.Total += pss + m.Swap
	}
}

// readStatus reads the real uid and VmSwap (bytes) from /proc/PID/status into the reused
// buffer. The real uid, not the effective one or the owner of /proc/PID (root for a
// process that made itself non-dumpable), is what a user cannot change.
func (g *Grouper) readStatus(pid int) (uid, swap uint64, err error) {
	b, err := g.readProc(pid, "/status\x00", g.status)
	if err != nil {
		return 0, 0, err
	}
	v, ok := field(b, "\nUid:")
	if !ok {
		return 0, 0, fmt.Errorf("%s/%d/status: no Uid line", g.o.ProcRoot, pid)
	}
	swapKB, _ := field(b, "\nVmSwap:") // absent for kernel threads, or past the buffer
	return v, swapKB << 10, nil
}

// readCgroup reads /proc/PID/cgroup and returns what it means, parsed once per distinct
// content (a machine has far fewer cgroups than processes).
func (g *Grouper) readCgroup(pid int) (*cgInfo, error) {
	b, err := g.readProc(pid, "/cgroup\x00", g.cgroupBuf)
	if err != nil {
		return nil, err
	}
	if c, ok := g.cgs[string(b)]; ok {
		c.gen = g.gen
		return c, nil
	}
	s := string(b)
	c := &cgInfo{gen: g.gen}
	paths := protect.UnitPaths(s)
	for _, name := range protect.Units(s) {
		if r, ok := g.set.MatchUnit(name); ok {
			u := unitGroup{rule: r, name: name}
			for _, p := range paths {
				if p.Name == name {
					u.path = p.Path
				}
			}
			c.units = append(c.units, u)
		}
	}
	for _, p := range paths {
		if rest, ok := cutUserSlice(p.Name); ok && p.Path == "/user.slice/"+p.Name {
			c.sliceUID, c.inSlice = rest, true
		}
	}
	g.cgs[s] = c
	return c, nil
}

// cutUserSlice parses "user-1000.slice".
func cutUserSlice(name string) (uint64, bool) {
	if len(name) < len("user-.slice")+1 || name[:5] != "user-" || name[len(name)-6:] != ".slice" {
		return 0, false
	}
	v, err := strconv.ParseUint(name[5:len(name)-6], 10, 32)
	return v, err == nil
}

func (g *Grouper) readProc(pid int, file string, buf []byte) ([]byte, error) {
	g.path = strconv.AppendInt(g.path[:0], int64(pid), 10)
	g.path = append(g.path, file...)
	// Raw system calls, as in proc.Scanner: they never block, and the scheduler's path
	// would wake sysmon for every process of the scan.
	r, _, errno := unix.RawSyscall6(unix.SYS_OPENAT, uintptr(g.dirfd), uintptr(unsafe.Pointer(&g.path[0])),
		uintptr(unix.O_RDONLY|unix.O_CLOEXEC), 0, 0, 0)
	if errno != 0 {
		return nil, errno
	}
	n, _, errno := unix.RawSyscall(unix.SYS_READ, r, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)))
	unix.RawSyscall(unix.SYS_CLOSE, r, 0, 0)
	if errno != 0 {
		return nil, errno
	}
	return buf[:n], nil
}

// field parses the first number after key (e.g. "\nUid:") in b.
func field(b []byte, key string) (uint64, bool) {
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		return 0, false
	}
	b = b[i+len(key):]
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	var v uint64
	n := 0
	for ; n < len(b) && b[n] >= '0' && b[n] <= '9'; n++ {
		v = v*10 + uint64(b[n]-'0')
	}
	return v, n > 0
}

// Remeasure measures grp again between scans (a sustain re-check, or after a stop): one
// read of memory.stat where the cgroup covers it; else each known member's RSS again
// through rss (proc.Scanner.RSS), members that have gone dropped, and their PSS when the
// sum is over. Processes started since the scan join at the next one.
func (g *Grouper) Remeasure(grp Group, rss func(pid int) (uint64, error)) Group {
	out := grp
	out.Members = make([]Member, 0, len(grp.Members))
	out.RSSSum = 0
	for _, m := range grp.Members {
		if grp.Method != MethodCgroup {
			v, err := rss(m.PID)
			if err != nil {
				continue
			}
			m.RSS = v
		}
		m.PSS = 0
		out.Members = append(out.Members, m)
		out.RSSSum += m.RSS
	}
	slices.SortFunc(out.Members, func(a, b Member) int {
		return cmp.Or(cmp.Compare(b.RSS, a.RSS), cmp.Compare(a.PID, b.PID))
	})
	g.measure(&out)
	return out
}

// MESSAGE_IDs proposed for the journal entries that only budgets make; stops for a budget
// keep the action and outcome MESSAGE_IDs of every stop, with Attrs added.
const (
	// MsgOnlyProtected marks a group over its budget whose members are all protected.
	MsgOnlyProtected = "ec1fc65760eb43bbac9b011013ad51ba"
	// MsgKernelOOM marks the kernel's OOM killer having killed processes (priority warning).
	MsgKernelOOM = "c52bda52020a4ddca8d04c10ecffc16d"
)

// Attrs are the fields that name the budget in every log entry about the group: budget
// (as written), group, its total and limit in bytes, how the total was measured, and the
// shmem no stop frees where known. User and unit names come from /etc/passwd and the
// system manager, not from processes, but the log's sinks escape them anyway.
func (g Group) Attrs() []slog.Attr {
	a := []slog.Attr{
		slog.String("budget", g.Rule.String()),
		slog.String("group", g.Key.String()),
		slog.Uint64("group_total_bytes", g.Total),
		slog.Uint64("group_limit_bytes", g.Rule.Limit),
		slog.String("group_measured", g.Method.String()),
		slog.Int("group_members", len(g.Members)),
	}
	if g.User != "" {
		a = append(a, slog.String("group_user", g.User))
	}
	if g.ShmemKnown {
		a = append(a, slog.Uint64("group_shmem_bytes", g.Shmem))
	}
	return a
}
