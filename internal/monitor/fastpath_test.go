package monitor

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/memory-monitor/memory-monitor/internal/config"
	"github.com/memory-monitor/memory-monitor/internal/kill"
	"github.com/memory-monitor/memory-monitor/internal/proc"
)

const (
	mib = 1 << 20
	gib = 1 << 30
)

func TestInsertTop(t *testing.T) {
	var top [4]watched
	n := 0
	for i, v := range []uint64{5, 1, 9, 3, 7, 2, 9, 8} {
		n = insertTop(top[:], n, watched{pid: i + 1, value: v})
	}
	want := []watched{{3, 9}, {7, 9}, {8, 8}, {5, 7}}
	if !slices.Equal(top[:n], want) {
		t.Errorf("top = %v, want %v", top[:n], want)
	}
	if a := testing.AllocsPerRun(100, func() { insertTop(top[:], n, watched{1, 6}) }); a != 0 {
		t.Errorf("insertTop allocates %v times", a)
	}
}

func TestPlanWatch(t *testing.T) {
	const limit = 20 * gib
	many := make([]watched, watchMax+1)
	for i := range many {
		many[i] = watched{pid: i + 1, value: 19*gib - uint64(i)*mib}
	}
	tests := []struct {
		name     string
		top      []watched
		watch    []int // pids
		headroom uint64
	}{
		{"no process", nil, nil, limit},
		{"all small", []watched{{1, 2 * gib}, {2, gib}}, nil, 18 * gib},
		{"one near, one small", []watched{{1, 15 * gib}, {2, gib}}, []int{1}, 19 * gib},
		{"exactly half is watched", []watched{{1, 10 * gib}}, []int{1}, limit},
		{"at the limit", []watched{{1, limit}}, []int{1}, limit},
		{"more near than watchMax: the first left out sets the headroom", many,
			[]int{1, 2, 3, 4, 5, 6, 7, 8}, gib + watchMax*mib},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			watch, headroom := planWatch(tt.top, limit, nil)
			var pids []int
			for _, w := range watch {
				pids = append(pids, w.pid)
			}
			if !slices.Equal(pids, tt.watch) || headroom != tt.headroom {
				t.Errorf("planWatch = %v, %d; want %v, %d", pids, headroom, tt.watch, tt.headroom)
			}
		})
	}
}

func TestGrewBy(t *testing.T) {
	base := proc.Meminfo{MemTotal: 64 * gib, AnonPages: 10 * gib, Mapped: 2 * gib, SwapTotal: 8 * gib, SwapFree: 8 * gib}
	with := func(anon, mapped, swapFree uint64) proc.Meminfo {
		m := base
		m.AnonPages, m.Mapped, m.SwapFree = anon, mapped, swapFree
		m.MemAvailable = 1 // not looked at: it lags behind
		return m
	}
	tests := []struct {
		name string
		cur  proc.Meminfo
		want uint64
	}{
		{"unchanged", base, 0},
		{"anonymous memory grew", with(11*gib, 2*gib, 8*gib), gib},
		{"anonymous memory shrank: not negative", with(9*gib, 2*gib, 8*gib), 0},
		{"one kind released does not hide another taken", with(9*gib, 3*gib, 8*gib), gib},
		{"pages moved to swap count as swap growth", with(9*gib, 2*gib, 7*gib), gib},
		{"all grew", with(11*gib, 3*gib, 6*gib), 4 * gib},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := grewBy(base, tt.cur); got != tt.want {
				t.Errorf("grewBy = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestNextCheck(t *testing.T) {
	const limit = 20 * gib
	tests := []struct {
		name     string
		headroom uint64
		grown    uint64
		watch    []watched
		want     time.Duration
	}{
		{"idle, much room: paced by the room at fastRate", 19 * gib, 0, nil, 19 * time.Second},
		{"idle, more room than fastMax covers", 100 * gib, 0, nil, fastMax},
		{"room for 0.5 s at fastRate", 512 * mib, 0, nil, 500 * time.Millisecond},
		{"growth used the room up", gib, 2 * gib, nil, fastMin},
		{"a watched process close to the limit", 19 * gib, 0, []watched{{1, limit - 10*mib}}, fastMin},
		{"a watched process over the limit", 19 * gib, 0, []watched{{1, limit + 1}}, fastMin},
		{"a watched process with room", 19 * gib, 0, []watched{{1, limit - 1536*mib}}, 1500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := nextCheck(tt.headroom, tt.grown, tt.watch, limit); got != tt.want {
				t.Errorf("nextCheck = %v, want %v", got, tt.want)
			}
		})
	}
}

// fastFixture copies the fixture tree, so a test can change memory figures between checks.
type fastFixture struct {
	t    *testing.T
	root string
}

func (f fastFixture) setRSS(pid int, bytes uint64) {
	pages := bytes / uint64(os.Getpagesize())
	f.write(fmt.Sprintf("%d/statm", pid), fmt.Sprintf("%d %d 100 10 0 %d 0\n", pages*2, pages, pages))
}

func (f fastFixture) setAnon(bytes uint64) {
	f.write("meminfo", fmt.Sprintf("MemTotal: %d kB\nAnonPages: %d kB\nMapped: 1024 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n",
		64*gib>>10, bytes>>10))
}

func (f fastFixture) write(name, content string) {
	f.t.Helper()
	if err := os.WriteFile(filepath.Join(f.root, name), []byte(content), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

func newFastMonitor(t *testing.T) (*Monitor, *kill.Fake, fastFixture) {
	t.Helper()
	root := filepath.Join(t.TempDir(), "proc")
	if err := os.CopyFS(root, os.DirFS(fixture)); err != nil {
		t.Fatal(err)
	}
	fx := fastFixture{t, root}
	fx.setAnon(14 * gib)
	s, err := proc.NewScanner(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	r, err := proc.NewReader(root)
	if err != nil {
		t.Fatal(err)
	}
	mi, err := proc.NewMeminfoReader(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mi.Close() })
	fake := kill.NewFake()
	for pid, start := range map[int]uint64{300: 700, 400: 800, 500: 900, 600: 1000} {
		fake.Add(pid, &kill.FakeProcess{StartTime: start})
	}
	m := New(Options{
		Config:  config.Config{Threshold: 20 * gib, Interval: time.Minute, Grace: time.Second, ProcRoot: root},
		Logger:  slog.New(slog.DiscardHandler),
		Scanner: s,
		Procs:   r,
		Opener:  fake,
		Self:    4242,
		Meminfo: mi,
	})
	if err := m.Scan(context.Background()); err != nil {
		t.Fatal(err)
	}
	m.Wait()
	return m, fake, fx
}

// The fixture's pid 600 uses 18 GiB: it is watched; pid 500 uses 10 MiB: it is not, and
// the headroom is 20 GiB minus its size.
func TestFastPathWatchList(t *testing.T) {
	m, fake, fx := newFastMonitor(t)
	if len(m.fast.watch) != 1 || m.fast.watch[0].pid != 600 {
		t.Fatalf("watch list %v, want pid 600 alone", m.fast.watch)
	}
	if want := uint64(20*gib - 10*mib); m.fast.headroom != want {
		t.Errorf("headroom %d, want %d", m.fast.headroom, want)
	}
	// A watched process is re-read at each check: no full scan is needed to catch it.
	fx.setRSS(600, 21*gib)
	m.fastCheck(context.Background())
	m.Wait()
	if got := fake.Sent(600); !slices.Equal(got, []unix.Signal{unix.SIGTERM}) {
		t.Errorf("pid 600 got %v, want SIGTERM", got)
	}
	if m.fast.triggered != 0 {
		t.Errorf("%d full scans triggered, want 0", m.fast.triggered)
	}
}

func TestFastPathTriggersFullScan(t *testing.T) {
	m, fake, fx := newFastMonitor(t)
	ctx := context.Background()

	// Pid 500 grows past the limit from pages that do not show as used memory (a file
	// already cached): the fast path cannot see it; the interval's full scan will.
	fx.setRSS(500, 21*gib)
	m.fastCheck(ctx)
	m.Wait()
	if got := fake.Sent(500); got != nil || m.fast.triggered != 0 {
		t.Fatalf("without growth of mapped memory: pid 500 got %v, %d scans triggered; want nothing", got, m.fast.triggered)
	}

	// Mapped memory grows, but by less than the headroom: still no full scan.
	fx.setAnon(19 * gib)
	m.fastCheck(ctx)
	if m.fast.triggered != 0 {
		t.Fatalf("growth under the headroom triggered a full scan")
	}
	// Memory released and taken again still counts: only increases are summed.
	fx.setAnon(14 * gib)
	m.fastCheck(ctx)
	fx.setAnon(30 * gib)
	m.fastCheck(ctx)
	m.Wait()
	if m.fast.triggered != 1 {
		t.Fatalf("%d full scans triggered after 21 GiB of growth, want 1", m.fast.triggered)
	}
	if got := fake.Sent(500); !slices.Equal(got, []unix.Signal{unix.SIGTERM}) {
		t.Errorf("pid 500 got %v, want SIGTERM", got)
	}
	if m.fast.grown != 0 {
		t.Errorf("growth not reset by the full scan: %d", m.fast.grown)
	}
}

func TestFastPathOffWithoutMeminfo(t *testing.T) {
	m, _, _ := newFixtureMonitor(t, true)
	if err := m.Scan(context.Background()); err != nil {
		t.Fatal(err)
	}
	if m.fast.mi != nil || m.fast.timer != nil {
		t.Error("fast path on without a meminfo reader")
	}
}
