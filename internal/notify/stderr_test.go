package notify

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// child starts `sleep` with stderr as its fd 2 (nil: fd 2 closed) and returns a pidfd
// for it. The test skips when this process may not take the child's descriptors.
func child(t *testing.T, stderr *os.File) int {
	t.Helper()
	var cmd *exec.Cmd
	if stderr == nil {
		cmd = exec.Command("sh", "-c", "exec 2>&-; exec sleep 60")
	} else {
		cmd = exec.Command("sleep", "60")
		cmd.Stderr = stderr
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	pidfd, err := unix.PidfdOpen(cmd.Process.Pid, 0)
	if err != nil {
		t.Fatalf("pidfd_open: %v", err)
	}
	t.Cleanup(func() { unix.Close(pidfd) })
	if stderr == nil {
		waitExec(t, cmd.Process.Pid, "sleep")
		// sleep's own start-up may briefly open a file as fd 2 (locale data): wait
		// until fd 2 is closed for good.
		for range 500 {
			if _, err := os.Readlink("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/fd/2"); err != nil {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// Probe for ptrace rights with fd 0, which every child here has.
	fd, err := unix.PidfdGetfd(pidfd, 0, 0)
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENOSYS) {
		t.Skipf("pidfd_getfd not allowed here (needs ptrace rights over a child: root, or kernel.yama.ptrace_scope<=1): %v", err)
	}
	if err != nil {
		t.Fatalf("pidfd_getfd probe: %v", err)
	}
	unix.Close(fd)
	return pidfd
}

// waitExec waits until pid runs comm, so the shell has closed fd 2 and exec'd.
func waitExec(t *testing.T, pid int, comm string) {
	t.Helper()
	for range 500 {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
		if strings.TrimSpace(string(b)) == comm {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("PID %d never ran %s", pid, comm)
}

func pipe(t *testing.T) (r, w *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	return r, w
}

// readSome reads what is there within a generous bound; the line was written before
// this is called, so the bound only matters when the test fails.
func readSome(t *testing.T, fd int) string {
	t.Helper()
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	if n, err := unix.Poll(fds, 10_000); err != nil || n == 0 {
		t.Fatalf("nothing to read (poll %d, %v)", n, err)
	}
	buf := make([]byte, 8192)
	n, err := unix.Read(fd, buf)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return string(buf[:n])
}

const testLine = "memory-monitor: stopping PID 1 (x): test\n"

func TestStderrPipe(t *testing.T) {
	r, w := pipe(t)
	pidfd := child(t, w)
	w.Close()
	if err := WriteStderr(pidfd, testLine); err != nil {
		t.Fatalf("WriteStderr: %v", err)
	}
	if got := readSome(t, int(r.Fd())); got != testLine {
		t.Errorf("pipe got %q, want %q", got, testLine)
	}
}

// TestStderrOutlivesProcess: the duplicate taken before the signal still carries the
// outcome line after the process has ended.
func TestStderrOutlivesProcess(t *testing.T) {
	r, w := pipe(t)
	cmd := exec.Command("sleep", "60")
	cmd.Stderr = w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	pidfd, err := unix.PidfdOpen(cmd.Process.Pid, 0)
	if err != nil {
		cmd.Process.Kill()
		t.Fatal(err)
	}
	defer unix.Close(pidfd)
	w.Close()
	s, err := OpenStderr(pidfd)
	if errors.Is(err, ErrNoAccess) {
		cmd.Process.Kill()
		t.Skipf("pidfd_getfd not allowed here: %v", err)
	}
	if err != nil {
		cmd.Process.Kill()
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Write("first\n"); err != nil {
		t.Fatal(err)
	}
	unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0)
	cmd.Wait()
	if _, err := OpenStderr(pidfd); !errors.Is(err, ErrGone) {
		t.Errorf("OpenStderr after exit: %v, want ErrGone", err)
	}
	if err := s.Write("after\n"); err != nil {
		t.Fatalf("Write after exit: %v", err)
	}
	if got := readSome(t, int(r.Fd())); got != "first\nafter\n" {
		t.Errorf("pipe got %q", got)
	}
}

// openPTY opens a pseudo-terminal pair through /dev/ptmx.
func openPTY(t *testing.T) (master int, slave *os.File, name string) {
	t.Helper()
	m, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { unix.Close(m) })
	if err := unix.IoctlSetPointerInt(m, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(m, unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("ptsname: %v", err)
	}
	name = "/dev/pts/" + strconv.Itoa(n)
	s, err := os.OpenFile(name, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	t.Cleanup(func() { s.Close() })
	return m, s, name
}

func TestStderrPTY(t *testing.T) {
	m, s, _ := openPTY(t)
	pidfd := child(t, s)
	o, err := OpenStderr(pidfd)
	if err != nil {
		t.Fatalf("OpenStderr: %v", err)
	}
	if o.TTY() == 0 {
		t.Error("TTY() = 0 for a pseudo-terminal")
	}
	if err := o.Write(testLine); err != nil {
		t.Fatalf("Write: %v", err)
	}
	o.Close()
	got := readSome(t, m)
	// The terminal's output processing turns \n into \r\n.
	if strings.TrimRight(got, "\r\n") != strings.TrimSuffix(testLine, "\n") {
		t.Errorf("terminal got %q, want %q", got, testLine)
	}
	// The victim's file description is untouched: still blocking.
	fl, err := unix.FcntlInt(s.Fd(), unix.F_GETFL, 0)
	if err != nil {
		t.Fatal(err)
	}
	if fl&unix.O_NONBLOCK != 0 {
		t.Error("the terminal's shared file description became non-blocking")
	}
}

func TestStderrSkipped(t *testing.T) {
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	dir := t.TempDir()
	plain, err := os.OpenFile(filepath.Join(dir, "plain.log"), os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	readOnly, err := os.Open(filepath.Join(dir, "plain.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer readOnly.Close()
	for _, c := range []struct {
		name   string
		stderr *os.File
		want   error
	}{
		{"/dev/null", devnull, ErrUnsuitable},
		{"regular file without O_APPEND", plain, ErrUnsuitable},
		{"read-only descriptor", readOnly, ErrUnsuitable},
		{"closed fd 2", nil, ErrNoStderr},
	} {
		t.Run(c.name, func(t *testing.T) {
			pidfd := child(t, c.stderr)
			if err := WriteStderr(pidfd, testLine); !errors.Is(err, c.want) {
				t.Errorf("WriteStderr: %v, want %v", err, c.want)
			}
		})
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "plain.log")); len(b) != 0 {
		t.Errorf("a file without O_APPEND got %q", b)
	}
}

func TestStderrAppendFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "nohup.out")
	if err := os.WriteFile(p, []byte("job output\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pidfd := child(t, f)
	if err := WriteStderr(pidfd, testLine); err != nil {
		t.Fatalf("WriteStderr: %v", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "job output\n"+testLine {
		t.Errorf("file holds %q", b)
	}
}

// TestStderrFullPipe: a pipe nobody reads, filled to the brim, gets nothing and the call
// returns (the test would hang here otherwise); the descriptor stays blocking.
func TestStderrFullPipe(t *testing.T) {
	_, w := pipe(t)
	fd := int(w.Fd()) // os.File.Fd puts the descriptor in blocking mode
	if err := unix.SetNonblock(fd, true); err != nil {
		t.Fatal(err)
	}
	junk := bytes.Repeat([]byte("x"), 4096)
	for {
		if _, err := unix.Write(fd, junk); err != nil {
			break
		}
	}
	for {
		if _, err := unix.Write(fd, junk[:1]); err != nil {
			break
		}
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		t.Fatal(err)
	}
	pidfd := child(t, w)
	if err := WriteStderr(pidfd, testLine); !errors.Is(err, ErrNotReady) {
		t.Errorf("WriteStderr to a full pipe: %v, want ErrNotReady", err)
	}
	fl, _ := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if fl&unix.O_NONBLOCK != 0 {
		t.Error("the pipe's shared file description became non-blocking")
	}
}

func TestStderrHungUp(t *testing.T) {
	r, w := pipe(t)
	pidfd := child(t, w)
	r.Close() // the reader is gone: a write would be EPIPE
	if err := WriteStderr(pidfd, testLine); !errors.Is(err, ErrNotReady) {
		t.Errorf("WriteStderr with no reader: %v, want ErrNotReady", err)
	}
}

// TestStderrEscapes: a process named with terminal escapes cannot get a raw ESC byte
// through the line.
func TestStderrEscapes(t *testing.T) {
	r, w := pipe(t)
	pidfd := child(t, w)
	w.Close()
	line := StopLine(Target{PID: 1, Name: "\x1b[2J\x1b]0;owned\x07\x1b\\\u009b1m\r"},
		Measure{What: "resident memory", Bytes: 2 * gib, Limit: gib}, 5*time.Second)
	if err := WriteStderr(pidfd, line); err != nil {
		t.Fatal(err)
	}
	got := readSome(t, int(r.Fd()))
	if strings.ContainsAny(got, "\x1b\r\x07\u009b") {
		t.Errorf("raw control bytes reached the pipe: %q", got)
	}
	if !strings.Contains(got, `(\x1b[2J\x1b]0;owned\x07\x1b\\\u009b1m\x0d)`) {
		t.Errorf("the name is not shown escaped: %q", got)
	}
}

// BenchmarkWriteStderr is the cost a stop pays for the message: pidfd_getfd, the checks,
// one poll, one write and the close, to a pipe (the test drains it after each line).
func BenchmarkWriteStderr(b *testing.B) {
	r, w, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	cmd := exec.Command("sleep", "60")
	cmd.Stderr = w
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	w.Close()
	pidfd, err := unix.PidfdOpen(cmd.Process.Pid, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer unix.Close(pidfd)
	buf := make([]byte, MaxLine)
	line := StopLine(Target{PID: 4242, Name: "python3"}, Measure{What: "resident memory", Bytes: 21 * gib, Limit: 20 * gib}, 5*time.Second)
	for b.Loop() {
		if err := WriteStderr(pidfd, line); err != nil {
			b.Fatalf("WriteStderr: %v", err)
		}
		if _, err := r.Read(buf); err != nil {
			b.Fatal(err)
		}
	}
}
