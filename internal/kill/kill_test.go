package kill

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestStop(t *testing.T) {
	eperm := unix.EPERM
	for _, tc := range []struct {
		name    string
		p       FakeProcess
		grace   time.Duration
		cancel  bool
		want    Outcome
		signals []unix.Signal // delivered
		logged  []unix.Signal // reported through sent()
	}{
		{"exits on SIGTERM", FakeProcess{}, time.Second, false, Exited,
			[]unix.Signal{unix.SIGTERM}, []unix.Signal{unix.SIGTERM}},
		{"ignores SIGTERM", FakeProcess{IgnoresTerm: true}, time.Second, false, Killed,
			[]unix.Signal{unix.SIGTERM, unix.SIGKILL}, []unix.Signal{unix.SIGTERM, unix.SIGKILL}},
		{"grace 0 sends SIGKILL at once", FakeProcess{}, 0, false, Killed,
			[]unix.Signal{unix.SIGKILL}, []unix.Signal{unix.SIGKILL}},
		{"already gone", FakeProcess{Exited: true}, time.Second, false, Gone, nil, nil},
		{"already gone, grace 0", FakeProcess{Exited: true}, 0, false, Gone, nil, nil},
		{"not permitted", FakeProcess{SignalErr: eperm}, time.Second, false, Failed, nil, nil},
		{"survives SIGKILL", FakeProcess{IgnoresTerm: true, Unkillable: true}, time.Second, false, Failed,
			[]unix.Signal{unix.SIGTERM, unix.SIGKILL}, []unix.Signal{unix.SIGTERM, unix.SIGKILL}},
		{"daemon stops during grace", FakeProcess{IgnoresTerm: true}, time.Second, true, Abandoned,
			[]unix.Signal{unix.SIGTERM}, []unix.Signal{unix.SIGTERM}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := NewFake()
			p := tc.p
			p.StartTime = 77
			f.Add(10, &p)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.cancel {
				cancel()
			}
			var h Handle = &fakeHandle{f: f, p: &p}
			var logged []unix.Signal
			res := Stop(ctx, h, tc.grace, func(s unix.Signal) { logged = append(logged, s) })
			if res.Outcome != tc.want {
				t.Errorf("outcome %q, want %q (err %v)", res.Outcome, tc.want, res.Err)
			}
			if !slices.Equal(f.Sent(10), tc.signals) || !slices.Equal(logged, tc.logged) {
				t.Errorf("delivered %v logged %v, want %v and %v", f.Sent(10), logged, tc.signals, tc.logged)
			}
			if tc.want == Failed && res.Err == nil {
				t.Error("a failure without an error")
			}
			if tc.name == "not permitted" && !errors.Is(res.Err, unix.EPERM) {
				t.Errorf("err %v, want EPERM", res.Err)
			}
		})
	}
}

func TestFakeOpenChecksIdentity(t *testing.T) {
	f := NewFake()
	f.Add(10, &FakeProcess{StartTime: 77})
	if _, err := f.Open(10, 78); !errors.Is(err, ErrGone) {
		t.Errorf("open with another start time: %v, want ErrGone", err)
	}
	if _, err := f.Open(11, 77); !errors.Is(err, ErrGone) {
		t.Errorf("open of a missing pid: %v, want ErrGone", err)
	}
	if _, err := f.Open(10, 77); err != nil {
		t.Errorf("open: %v", err)
	}
}

// procStart reads the start time of a real process, as the daemon's proc.Reader does.
type procStart struct{}

func (procStart) StartTime(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	return strconv.ParseUint(f[19], 10, 64)
}

// TestPidfdOnRealChild signals only a child this test started.
func TestPidfdOnRealChild(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Skip("cannot start sleep:", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	pid := cmd.Process.Pid
	start, err := procStart{}.StartTime(pid)
	if err != nil {
		t.Fatal(err)
	}
	o := Pidfd{Procs: procStart{}}
	if _, err := o.Open(pid, start+1); !errors.Is(err, ErrGone) {
		t.Fatalf("open with a wrong start time: %v, want ErrGone (a reused PID must not be hit)", err)
	}
	h, err := o.Open(pid, start)
	if err != nil {
		if errors.Is(err, unix.ENOSYS) {
			t.Skip("no pidfd_open here")
		}
		t.Fatal(err)
	}
	defer h.Close()
	if exited, err := h.Wait(context.Background(), 50*time.Millisecond); exited || err != nil {
		t.Fatalf("wait before any signal: %v %v", exited, err)
	}
	var sent []unix.Signal
	res := Stop(context.Background(), h, 2*time.Second, func(s unix.Signal) { sent = append(sent, s) })
	if res.Outcome != Exited || !slices.Equal(sent, []unix.Signal{unix.SIGTERM}) {
		t.Fatalf("stop: %+v, sent %v; want exited after SIGTERM", res, sent)
	}
	err = <-done
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGTERM {
		t.Errorf("child ended with %v, want SIGTERM", err)
	}
	if err := h.Signal(unix.SIGKILL); !errors.Is(err, ErrGone) {
		t.Errorf("signal after exit: %v, want ErrGone", err)
	}
}

// startTimeErr fails every start-time read with err.
type startTimeErr struct{ err error }

func (s startTimeErr) StartTime(int) (uint64, error) { return 0, s.err }

// Running out of descriptors while confirming a process's identity is an error to report,
// not a sign that the process exited: only ENOENT and ESRCH mean gone.
func TestPidfdOpenReportsNonGoneErrors(t *testing.T) {
	emfile := &os.PathError{Op: "open", Path: "/proc/1/stat", Err: unix.EMFILE}
	_, err := Pidfd{Procs: startTimeErr{emfile}}.Open(os.Getpid(), 1)
	if err == nil || errors.Is(err, ErrGone) || !errors.Is(err, unix.EMFILE) {
		t.Errorf("EMFILE reading the start time: got %v, want an error wrapping EMFILE, not ErrGone", err)
	}
	enoent := &os.PathError{Op: "open", Path: "/proc/1/stat", Err: unix.ENOENT}
	if _, err := (Pidfd{Procs: startTimeErr{enoent}}).Open(os.Getpid(), 1); !errors.Is(err, ErrGone) {
		t.Errorf("ENOENT reading the start time: got %v, want ErrGone", err)
	}
}
