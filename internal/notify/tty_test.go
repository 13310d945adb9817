package notify

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// encode is the kernel's new_encode_dev, as /proc/PID/stat prints tty_nr.
func encode(major, minor uint32) uint32 {
	return (minor & 0xff) | (major << 8) | ((minor &^ 0xff) << 12)
}

func TestTTYName(t *testing.T) {
	for _, c := range []struct {
		nr   uint32
		want string
	}{
		{0, ""},
		{encode(136, 0), "pts/0"},
		{encode(136, 3), "pts/3"},
		{encode(136, 255), "pts/255"},
		{encode(136, 256), "pts/256"}, // one major, a minor above 255
		{encode(136, 300), "pts/300"}, // the form the kernel uses today
		{encode(137, 44), "pts/300"},  // the historical second pts major
		{encode(139, 232), "pts/1000"},
		{encode(136, 70000), "pts/70000"},
		{encode(4, 1), "tty1"},
		{encode(4, 63), "tty63"},
		{encode(4, 64), ""}, // ttyS0: a serial line
		{encode(5, 1), ""},  // /dev/console
		{encode(1, 3), ""},  // /dev/null
	} {
		if got := TTYName(c.nr); got != c.want {
			t.Errorf("TTYName(%d) = %q, want %q", c.nr, got, c.want)
		}
	}
	if encode(136, 3) != 34819 || encode(137, 44) != 35116 {
		t.Fatal("encode does not match the fixture's tty_nr values")
	}
}

func TestTerminals(t *testing.T) {
	r := TTYRoots{Proc: "testdata/proc", Sessions: "testdata/sessions", Dev: "/dev"}
	// 6000's controlling terminal is pts/3 (34819), also its session's terminal;
	// 6001's is pts/300. Bob's, the closing session and the bad name are left out.
	for _, c := range []struct {
		pid  int
		uid  uint32
		want []string
	}{
		{6000, 1000, []string{"/dev/pts/3", "/dev/pts/7"}},
		{6001, 1000, []string{"/dev/pts/300", "/dev/pts/3", "/dev/pts/7"}},
		{4242, 1001, []string{"/dev/pts/4"}},
		{4242, 2000, nil},
	} {
		if got := Terminals(r, c.pid, c.uid); !slices.Equal(got, c.want) {
			t.Errorf("Terminals(%d, uid %d) = %q, want %q", c.pid, c.uid, got, c.want)
		}
	}
}

// TestWriteTerminals: real pseudo-terminals handed to test uids (root only). Only the
// owner's group-writable terminals get the line; the one already written is skipped.
func TestWriteTerminals(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give pseudo-terminals to other uids")
	}
	const alice, bob = 64201, 64202
	type term struct {
		master int
		name   string
	}
	mk := func(uid int, mode uint32) term {
		m, s, name := openPTY(t)
		if err := os.Chown(name, uid, 5); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(name, os.FileMode(mode)); err != nil {
			t.Fatal(err)
		}
		_ = s
		return term{m, name}
	}
	mine := mk(alice, 0o620)
	second := mk(alice, 0o620)
	mesgN := mk(alice, 0o600)
	other := mk(bob, 0o620)
	already := mk(alice, 0o620)
	var st unix.Stat_t
	if err := unix.Stat(already.name, &st); err != nil {
		t.Fatal(err)
	}

	// The session files name the terminals, as logind writes them.
	dir := t.TempDir()
	for i, tm := range []term{second, mesgN, other, already} {
		uid := alice
		if tm == other {
			uid = bob
		}
		body := "UID=" + strconv.Itoa(uid) + "\nSTATE=active\nTTY=" + strings.TrimPrefix(tm.name, "/dev/") + "\n"
		if err := os.WriteFile(filepath.Join(dir, strconv.Itoa(i+10)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The victim's controlling terminal comes from a fixture stat.
	proc := t.TempDir()
	n, _ := strconv.Atoi(strings.TrimPrefix(mine.name, "/dev/pts/"))
	os.MkdirAll(filepath.Join(proc, "77"), 0o755)
	stat := "77 (hog) R 1 77 77 " + strconv.Itoa(int(encode(136, uint32(n)))) + " -1 0\n"
	if n >= 256 {
		stat = "77 (hog) R 1 77 77 " + strconv.Itoa(int(encode(136+uint32(n/256), uint32(n%256)))) + " -1 0\n"
	}
	if err := os.WriteFile(filepath.Join(proc, "77", "stat"), []byte(stat), 0o644); err != nil {
		t.Fatal(err)
	}

	paths := Terminals(TTYRoots{Proc: proc, Sessions: dir, Dev: "/dev"}, 77, alice)
	for _, want := range []string{mine.name, second.name, mesgN.name, already.name} {
		if !slices.Contains(paths, want) {
			t.Errorf("Terminals = %q, lacks %s", paths, want)
		}
	}
	if slices.Contains(paths, other.name) {
		t.Errorf("Terminals = %q includes bob's %s", paths, other.name)
	}
	paths = append(paths, other.name) // even if asked, bob's terminal is refused

	got, err := WriteTerminals(paths, alice, st.Rdev, testLine)
	if got != 2 {
		t.Errorf("WriteTerminals wrote to %d terminals, want 2 (err %v)", got, err)
	}
	if !errors.Is(err, ErrUnsuitable) {
		t.Errorf("WriteTerminals error %v, want ErrUnsuitable for mesg n and bob", err)
	}
	for _, tm := range []term{mine, second} {
		if line := readSome(t, tm.master); strings.TrimRight(line, "\r\n") != strings.TrimSuffix(testLine, "\n") {
			t.Errorf("%s got %q", tm.name, line)
		}
	}
	for _, tm := range []term{mesgN, other, already} {
		fds := []unix.PollFd{{Fd: int32(tm.master), Events: unix.POLLIN}}
		if n, _ := unix.Poll(fds, 0); n > 0 {
			t.Errorf("%s got a line it must not get", tm.name)
		}
	}
}

func TestWriteTerminalsRefusesNonTerminals(t *testing.T) {
	got, err := WriteTerminals([]string{"/dev/null", "/nonexistent/pts/1", "testdata/sessions/3"}, 0, 0, testLine)
	if got != 0 || err == nil {
		t.Errorf("WriteTerminals = %d, %v; want 0 and errors", got, err)
	}
	if !errors.Is(err, ErrUnsuitable) {
		t.Errorf("err = %v, want ErrUnsuitable among them", err)
	}
}
