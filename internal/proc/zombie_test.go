package proc

import (
	"bufio"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

const zombieFixture = "testdata/zombie"

// A process whose main thread called pthread_exit has a zombie leader that reads zero in
// statm; the Scanner must measure it through its live thread, and still read a kernel
// thread and a real zombie (no other thread) as zero.
func TestScanMeasuresZombieLeaderThroughLiveThread(t *testing.T) {
	s, err := NewScanner(zombieFixture)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got := map[int][2]uint64{}
	st, err := s.ScanSize(func(pid int, rss, size uint64) { got[pid] = [2]uint64{rss, size} })
	if err != nil {
		t.Fatal(err)
	}
	const page = 4096 // the fixture's self/auxv
	want := map[int][2]uint64{700: {76800 * page, 80000 * page}, 800: {0, 0}, 2: {0, 0}}
	if len(got) != len(want) {
		t.Fatalf("scan = %v, want %v", got, want)
	}
	for pid, w := range want {
		if got[pid] != w {
			t.Errorf("pid %d: rss, size = %v, want %v", pid, got[pid], w)
		}
	}
	if st.Processes != 3 || st.Failed != 0 || st.MaxRSS != 76800*page {
		t.Errorf("stats %+v", st)
	}
	if rss, err := s.RSS(700); err != nil || rss != 76800*page {
		t.Errorf("RSS(700) = %d, %v", rss, err)
	}
	// The fallback stays free of allocations: the promise the idle cost rests on.
	fn := func(int, uint64, uint64) {}
	if a := testing.AllocsPerRun(20, func() { s.ScanSize(fn) }); a != 0 {
		t.Errorf("scan of a tree with zombie leaders allocates %v times, want 0", a)
	}
}

func TestInfoZombieLeaderIsAlive(t *testing.T) {
	r, err := NewReader(zombieFixture)
	if err != nil {
		t.Fatal(err)
	}
	in, err := r.Info(700)
	if err != nil {
		t.Fatal(err)
	}
	if in.Zombie() || in.Thread != 701 || in.State != "S" {
		t.Errorf("zombie leader with a live thread: Zombie %v Thread %d State %q; want alive, measured through 701",
			in.Zombie(), in.Thread, in.State)
	}
	if in.RSS != 76800*4096 || in.Swap != 1024<<10 {
		t.Errorf("RSS %d Swap %d, want the live thread's", in.RSS, in.Swap)
	}
	if in.Cmdline != "hog --hide" || in.Exe != "/usr/bin/hog" || !in.ExeVerified || in.StartTime != 900 || in.PID != 700 {
		t.Errorf("details not read through the live thread: %+v", in)
	}
	if rss, swap, err := r.Swap(700); err != nil || rss != 307200<<10 || swap != 1024<<10 {
		t.Errorf("Swap(700) = %d %d %v", rss, swap, err)
	}
	// The re-checks before a stop read single measures: each through the live thread too.
	if rss, err := r.RSS(700); err != nil || rss != 76800*4096 {
		t.Errorf("RSS(700) = %d, %v", rss, err)
	}
	if pss, err := r.PSS(700); err != nil || pss != 300000<<10 {
		t.Errorf("PSS(700) = %d, %v", pss, err)
	}
	if err := r.Measure(&in, MetricPSS); err != nil || in.PSS != 300000<<10 {
		t.Errorf("Measure(pss) = %d, %v", in.PSS, err)
	}
	dead, err := r.Info(800)
	if err != nil {
		t.Fatal(err)
	}
	if !dead.Zombie() || dead.Thread != 0 || dead.RSS != 0 {
		t.Errorf("a zombie without live threads: %+v", dead)
	}
	k, err := r.Info(2)
	if err != nil {
		t.Fatal(err)
	}
	if !k.KernelThread || k.Thread != 0 || k.Cmdline != "[kthreadd]" {
		t.Errorf("kernel thread: %+v", k)
	}
}

// TestRealZombieLeaderIsMeasured runs a C program whose main thread exits while another
// holds 64 MiB, and measures it as the daemon would. It needs gcc and pthreads; no daemon
// runs and nothing is signalled but the helper itself.
func TestRealZombieLeaderIsMeasured(t *testing.T) {
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("gcc not installed: cannot build the pthread_exit helper")
	}
	bin := filepath.Join(t.TempDir(), "leaderexit")
	if out, err := exec.Command(gcc, "-O1", "-pthread", "-o", bin, "testdata/src/leaderexit.c").CombinedOutput(); err != nil {
		t.Skipf("cannot build the helper: %v\n%s", err, out)
	}
	// prlimit execs the helper, which ends itself after 60 s at the latest.
	cmd := exec.Command("prlimit", "--as=1073741824", bin, "64")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "ready\n" {
		t.Fatalf("helper said %q, %v", line, err)
	}
	pid := cmd.Process.Pid
	st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil || !strings.Contains(string(st), ") Z ") {
		t.Fatalf("the helper's leader is not a zombie: %q %v", st, err)
	}
	s, err := NewScanner("/proc")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var scanned uint64
	if _, err := s.Scan(func(p int, rss uint64) {
		if p == pid {
			scanned = rss
		}
	}); err != nil {
		t.Fatal(err)
	}
	if scanned < 64<<20 {
		t.Errorf("scan measured the zombie leader's process at %d bytes, want at least 64 MiB", scanned)
	}
	r, err := NewReader("/proc")
	if err != nil {
		t.Fatal(err)
	}
	in, err := r.Info(pid)
	if err != nil {
		t.Fatal(err)
	}
	if in.Zombie() || in.Thread == 0 || in.RSS < 64<<20 || !strings.Contains(in.Cmdline, "leaderexit 64") || in.Exe != bin {
		t.Errorf("Info of the helper: %+v", in)
	}
	if err := r.Measure(&in, MetricPSS); err != nil || in.PSS < 60<<20 {
		t.Errorf("PSS %d, %v; want about 64 MiB", in.PSS, err)
	}
	if rss, err := r.RSS(pid); err != nil || rss < 64<<20 {
		t.Errorf("Reader.RSS = %d, %v; want at least 64 MiB", rss, err)
	}
	if pss, err := r.PSS(pid); err != nil || pss < 60<<20 {
		t.Errorf("Reader.PSS = %d, %v; want about 64 MiB", pss, err)
	}
}

func TestIsGoneOnlyForESRCHAndENOENT(t *testing.T) {
	for _, tc := range []struct {
		err  error
		gone bool
	}{
		{&fs.PathError{Op: "open", Path: "/proc/1/stat", Err: unix.ENOENT}, true},
		{&fs.PathError{Op: "read", Path: "/proc/1/stat", Err: unix.ESRCH}, true},
		{unix.ESRCH, true},
		{&fs.PathError{Op: "open", Path: "/proc/1/stat", Err: unix.EMFILE}, false},
		{unix.ENFILE, false},
		{unix.EACCES, false},
		{unix.EIO, false},
		{errors.New("anything"), false},
		{nil, false},
	} {
		if got := IsGone(tc.err); got != tc.gone {
			t.Errorf("IsGone(%v) = %v, want %v", tc.err, got, tc.gone)
		}
	}
}

// The statm counts are pages of the machine the tree was recorded on (self/auxv), not of
// the machine the tests run on.
func TestPageSizeFromTree(t *testing.T) {
	if got := PageSize("testdata/proc"); got != 4096 {
		t.Errorf("fixture page size %d, want 4096", got)
	}
	if got := PageSize("/proc"); got != uint64(os.Getpagesize()) {
		t.Errorf("/proc page size %d, want %d", got, os.Getpagesize())
	}
	root := writeTree(t, map[string]string{"42": "2000 1500 10 1 0 300 0\n"})
	writeAuxv(t, root, 65536)
	s, err := NewScanner(root)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if rss, size, err := s.Statm(42); err != nil || rss != 1500*65536 || size != 2000*65536 {
		t.Errorf("Statm on a 64 KiB-page tree = %d %d %v", rss, size, err)
	}
}

func writeAuxv(t *testing.T, root string, page uint64) {
	t.Helper()
	b := make([]byte, 0, 32)
	for _, v := range []uint64{6, page, 0, 0} {
		b = append(b, byte(v), byte(v>>8), byte(v>>16), byte(v>>24), byte(v>>32), byte(v>>40), byte(v>>48), byte(v>>56))
	}
	if strconv.IntSize != 64 || !littleEndian() {
		t.Skip("the auxv written here is for 64-bit little-endian machines")
	}
	if err := os.MkdirAll(filepath.Join(root, "self"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "self", "auxv"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func littleEndian() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}

// A PID that read zero (a kernel thread) is remembered by its directory's inode; a new
// process under the same PID (a new directory) is looked through again.
func TestScanRemembersEmptyProcessesByInode(t *testing.T) {
	root := writeTree(t, map[string]string{"50": "0 0 0 0 0 0 0\n"})
	mk := func(rel, statm string) {
		if err := os.MkdirAll(filepath.Join(root, rel), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, rel, "statm"), []byte(statm), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mk("50/task/50", "0 0 0 0 0 0 0\n")
	s, err := NewScanner(root)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	scan := func() uint64 {
		var got uint64
		if _, err := s.Scan(func(pid int, rss uint64) { got = rss }); err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := scan(); got != 0 {
		t.Fatalf("kernel-thread-like process read %d", got)
	}
	scan()
	// The PID is reused by a process whose leader is a zombie with a live thread.
	os.RemoveAll(filepath.Join(root, "50"))
	os.MkdirAll(filepath.Join(root, "tmp"), 0o755) // take the freed inode number elsewhere
	mk("50", "0 0 0 0 0 0 0\n")
	mk("50/task/50", "0 0 0 0 0 0 0\n")
	mk("50/task/51", "300 200 0 0 0 0 0\n")
	if got, page := scan(), uint64(os.Getpagesize()); got != 200*page {
		t.Errorf("new process under a remembered PID read %d, want %d", got, 200*page)
	}
}
