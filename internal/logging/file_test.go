package logging

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// outages records the reports of a File.
type outages struct {
	fails     []error
	recovered int
}

func (o *outages) open(t *testing.T, path string, now func() time.Time) *File {
	t.Helper()
	f := openFile(path, func(err error) { o.fails = append(o.fails, err) }, func() { o.recovered++ }, now)
	t.Cleanup(func() { f.Close() })
	return f
}

// A log file that is a FIFO, a link or a device is refused at once, with an error that
// says what it is; a FIFO without a reader must not block the daemon in open(2).
func TestFileRefusesWhatIsNotARegularFile(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "passwd")
	os.WriteFile(target, []byte("root:x:0:0\n"), 0o644)
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	os.Symlink(target, link)
	dangling := filepath.Join(dir, "dangling")
	os.Symlink(filepath.Join(dir, "created-through-link"), dangling)
	for _, tc := range []struct{ path, what string }{
		{fifo, "a FIFO"},
		{link, "a symbolic link"},
		{dangling, "a symbolic link"},
		{"/dev/null", "a device"},
		{dir, "a directory"},
	} {
		var o outages
		done := make(chan *File, 1)
		go func() { done <- openFile(tc.path, func(err error) { o.fails = append(o.fails, err) }, nil, time.Now) }()
		var f *File
		select {
		case f = <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: open blocked", tc.path)
		}
		f.Write([]byte("level=INFO msg=x\n"))
		f.Close()
		if len(o.fails) != 1 || !errors.Is(o.fails[0], ErrNotRegular) || !strings.Contains(o.fails[0].Error(), tc.what) ||
			!strings.Contains(o.fails[0].Error(), tc.path) {
			t.Errorf("%s: reports %v, want one naming the path and saying it is %s", tc.path, o.fails, tc.what)
		}
	}
	if b, _ := os.ReadFile(target); string(b) != "root:x:0:0\n" {
		t.Errorf("written through a link: %q", b)
	}
	if _, err := os.Lstat(filepath.Join(dir, "created-through-link")); err == nil {
		t.Error("a dangling link's target was created")
	}
	// A FIFO that has a reader opens, and is refused all the same.
	r, err := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var o outages
	o.open(t, fifo, time.Now)
	if len(o.fails) != 1 || !strings.Contains(o.fails[0].Error(), "a FIFO") {
		t.Errorf("FIFO with a reader: %v", o.fails)
	}
}

// With the file system full (here: RLIMIT_FSIZE, which cuts a write short like ENOSPC
// does), each record is written whole or not at all, every outage is reported once and
// every recovery too, and the next record starts its own line.
func TestFileWholeRecordsEveryOutageAndRecovery(t *testing.T) {
	var orig unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_FSIZE, &orig); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Setrlimit(unix.RLIMIT_FSIZE, &orig) })
	limit := func(n uint64) {
		t.Helper()
		if err := unix.Setrlimit(unix.RLIMIT_FSIZE, &unix.Rlimit{Cur: n, Max: orig.Max}); err != nil {
			t.Skipf("cannot set RLIMIT_FSIZE: %v", err)
		}
	}
	path := filepath.Join(t.TempDir(), "mm.log")
	var o outages
	f := o.open(t, path, time.Now)
	rec := func(i int) []byte {
		return []byte("level=INFO msg=\"record " + string(rune('a'+i)) + "\" pad=" + strings.Repeat("x", 80) + "\n")
	}
	size := int64(len(rec(0)))
	f.Write(rec(0))
	f.Write(rec(1))
	limit(uint64(2*size + size/2)) // room for half a record
	f.Write(rec(2))                // cut short: removed again
	f.Write(rec(3))                // no room at all
	if len(o.fails) != 1 {
		t.Fatalf("first outage reported %d times: %v", len(o.fails), o.fails)
	}
	limit(orig.Cur)
	f.Write(rec(4))
	if o.recovered != 1 {
		t.Errorf("recovery reported %d times, want 1", o.recovered)
	}
	limit(uint64(3*size + size/3))
	f.Write(rec(5))
	if len(o.fails) != 2 {
		t.Errorf("second outage: %d reports, want 2 in all", len(o.fails))
	}
	limit(orig.Cur)
	f.Write(rec(6))
	if o.recovered != 2 {
		t.Errorf("second recovery: %d reports, want 2 in all", o.recovered)
	}
	b, _ := os.ReadFile(path)
	want := string(rec(0)) + string(rec(1)) + string(rec(4)) + string(rec(6))
	if string(b) != want {
		t.Errorf("file holds\n%s\nwant whole records only:\n%s", b, want)
	}
}

// A log file deleted or replaced behind the daemon's back is noticed within a second of
// writes, without a SIGHUP: the records go to a file at the path again.
func TestFileNoticesDeletedAndReplacedFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "mm.log")
	now := time.Unix(1000, 0)
	clock := func() time.Time { return now }
	var o outages
	f := o.open(t, path, clock)
	f.Write([]byte("one\n"))
	os.Remove(path)
	f.Write([]byte("lost-within-a-second\n")) // written to the deleted file: checked at most once a second
	now = now.Add(checkEvery)
	f.Write([]byte("two\n"))
	if b, err := os.ReadFile(path); err != nil || string(b) != "two\n" {
		t.Errorf("after deletion the path holds %q, %v; want the new record", b, err)
	}
	// Replaced: a rotation that moved a new file into place without telling the daemon.
	os.WriteFile(path+".new", []byte("new\n"), 0o640)
	os.Rename(path+".new", path)
	now = now.Add(checkEvery)
	f.Write([]byte("three\n"))
	if b, _ := os.ReadFile(path); string(b) != "new\nthree\n" {
		t.Errorf("after replacement the path holds %q", b)
	}
	if len(o.fails) != 0 {
		t.Errorf("unexpected failures %v", o.fails)
	}
	// Unchanged: no reopen, same file.
	now = now.Add(checkEvery)
	f.Write([]byte("four\n"))
	if b, _ := os.ReadFile(path); !bytes.HasSuffix(b, []byte("three\nfour\n")) {
		t.Errorf("holds %q", b)
	}
}
