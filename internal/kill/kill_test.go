package kill

import (
	"errors"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A real child: the pidfd follows it, the epoll waiter reports its exit once, and a
// reaped PID opens as gone.
func TestPidfdAndEpollOnARealChild(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Skip(err)
	}
	defer cmd.Process.Kill()
	h, err := Pidfd{}.Open(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if h.Exited() {
		t.Fatal("a running child reads as exited")
	}
	d, err := h.Dup()
	if err != nil {
		t.Fatal(err)
	}
	w, err := NewEpoll()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Watch(7, d); err != nil {
		t.Fatal(err)
	}
	if err := h.Signal(0); err != nil {
		t.Fatalf("signal 0: %v", err)
	}
	if err := h.Signal(unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-w.Exits():
		if id != 7 {
			t.Errorf("exit of id %d, want 7", id)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no exit reported")
	}
	if !h.Exited() || !d.Exited() {
		t.Error("exited child does not read as exited")
	}
	if err := h.Release(); err == nil {
		t.Log("process_mrelease after exit succeeded (kernel reaped lazily)")
	}
	w.Unwatch(7, d)
	d.Close()
	cmd.Wait()
	if err := h.Signal(unix.SIGTERM); !errors.Is(err, ErrGone) {
		t.Errorf("signal to a reaped process: %v, want ErrGone", err)
	}
	if _, err := (Pidfd{}).Open(cmd.Process.Pid); !errors.Is(err, ErrGone) {
		t.Errorf("open of a reaped PID: %v, want ErrGone", err)
	}
	if err := w.Watch(1, &fakeHandle{}); err == nil {
		t.Error("epoll took a handle that is not a pidfd")
	}
}

// Only ESRCH means gone: any other failure (here EBADF from a closed descriptor) is an
// error to report.
func TestPidfdErrorsAreNotGone(t *testing.T) {
	p := &pidfd{fd: 999999, pid: 4242} // not open
	if err := p.Signal(unix.SIGTERM); err == nil || errors.Is(err, ErrGone) || !errors.Is(err, syscall.EBADF) {
		t.Errorf("signal through a bad fd: %v", err)
	}
	if !p.Exited() {
		t.Error("an unusable descriptor must read as exited, not as a live process")
	}
	if _, err := p.Dup(); err == nil {
		t.Error("dup of a bad fd succeeded")
	}
}

func TestFake(t *testing.T) {
	f := NewFake()
	f.Add(1, &FakeProcess{})
	f.Add(2, &FakeProcess{OpenErr: unix.EMFILE})
	f.Add(3, &FakeProcess{Exited: true})
	if _, err := f.Open(2); !errors.Is(err, unix.EMFILE) {
		t.Errorf("open error %v", err)
	}
	if _, err := f.Open(3); !errors.Is(err, ErrGone) {
		t.Errorf("open exited: %v", err)
	}
	h, _ := f.Open(1)
	d, _ := h.Dup()
	f.Watch(5, d)
	f.Exit(1)
	if id := <-f.Exits(); id != 5 {
		t.Errorf("exit id %d", id)
	}
	if !h.Exited() || h.Signal(unix.SIGTERM) != ErrGone {
		t.Error("fake exit not seen")
	}
	h.Close()
	h.Close()
	d.Close()
	if n := f.OpenHandles(); n != 0 {
		t.Errorf("%d handles open", n)
	}
	i, _ := Inert{}.Open(1)
	if i.Signal(unix.SIGTERM) == nil || i.Exited() {
		t.Error("inert handle signalled")
	}
}
