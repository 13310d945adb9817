package notify

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// TTYRoots are the root paths the tty channel reads; tests point them at fixtures.
type TTYRoots struct {
	Proc     string // normally /proc
	Sessions string // logind's session files, normally /run/systemd/sessions
	Dev      string // normally /dev
}

// SystemTTYRoots are the paths of a real system.
func SystemTTYRoots() TTYRoots {
	return TTYRoots{Proc: "/proc", Sessions: "/run/systemd/sessions", Dev: "/dev"}
}

// Terminals lists the terminals of process pid's owner (uid) that the tty channel writes
// to: the process's controlling terminal and the terminals of uid's login sessions as
// logind records them, without duplicates. It is read before the first signal, while
// /proc/PID still exists; WriteTerminals checks each one again when it opens it.
//
// logind's session files are used rather than utmp: they are plain text with a stable
// format, name the session's owner by uid, and are removed when the session ends, while
// utmp entries are written by each login program and are optional on newer systems.
func Terminals(r TTYRoots, pid int, uid uint32) []string {
	var out []string
	add := func(rel string) {
		if rel == "" {
			return
		}
		p := filepath.Join(r.Dev, rel)
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	if b, err := os.ReadFile(filepath.Join(r.Proc, strconv.Itoa(pid), "stat")); err == nil {
		if f := statFields(string(b)); len(f) > 4 { // state ppid pgrp session tty_nr
			if nr, err := strconv.ParseUint(f[4], 10, 32); err == nil {
				add(TTYName(uint32(nr)))
			}
		}
	}
	ents, _ := os.ReadDir(r.Sessions)
	for _, e := range ents {
		if e.IsDir() || strings.HasPrefix(e.Name(), ".") { // ".#..." are logind's temporary files
			continue
		}
		if tty, ok := sessionTTY(filepath.Join(r.Sessions, e.Name()), uid); ok {
			add(tty)
		}
	}
	return out
}

// sessionTTY reads a logind session file and returns its terminal relative to /dev
// ("pts/3", "tty2") when the session belongs to uid and is not closing.
func sessionTTY(path string, uid uint32) (string, bool) {
	f, err := os.Open(path)
	if err != nil {
		return "", false
	}
	defer f.Close()
	kv := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			kv[k] = v
		}
	}
	if kv["UID"] != strconv.FormatUint(uint64(uid), 10) || kv["STATE"] == "closing" {
		return "", false
	}
	tty := strings.TrimPrefix(kv["TTY"], "/dev/")
	if !validTTYName(tty) {
		return "", false
	}
	return tty, true
}

// validTTYName accepts the terminal names the tty channel writes to: pseudo-terminals
// and virtual consoles. Anything else (a serial line, a path with "..") is left alone.
func validTTYName(s string) bool {
	num := ""
	if n, ok := strings.CutPrefix(s, "pts/"); ok {
		num = n
	} else if n, ok := strings.CutPrefix(s, "tty"); ok {
		num = n
	}
	if num == "" || len(num) > 7 {
		return false
	}
	for _, c := range num {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// TTYName decodes a tty_nr from /proc/PID/stat into a name relative to /dev: "pts/N"
// for a pseudo-terminal, "ttyN" for a virtual console, "" for none or anything else.
// tty_nr is the kernel's new_encode_dev form: the minor's low 8 bits, then 12 bits of
// major, then the minor's remaining bits. Pseudo-terminals use majors 136-143, 256
// each, so pts/256 is 137:0.
func TTYName(ttyNr uint32) string {
	major := (ttyNr & 0xfff00) >> 8
	minor := (ttyNr & 0xff) | ((ttyNr >> 12) & 0xfff00)
	switch {
	case major >= 136 && major <= 143:
		return "pts/" + strconv.FormatUint(uint64((major-136)*256+minor), 10)
	case major == 4 && minor >= 1 && minor < 64:
		return "tty" + strconv.FormatUint(uint64(minor), 10)
	}
	return ""
}

// isTTYDevice reports whether a device number is a pseudo-terminal or virtual console.
func isTTYDevice(rdev uint64) bool {
	major, minor := unix.Major(rdev), unix.Minor(rdev)
	return (major >= 136 && major <= 143) || (major == 4 && minor >= 1 && minor < 64)
}

// WriteTerminals writes line once to each terminal in paths that belongs to uid and is
// group-writable (mesg y), skipping the device number skip (the terminal the process's
// own standard error already got; 0 skips nothing). Each terminal is opened with its own
// non-blocking file description, so a terminal with no room takes nothing and a stopped
// or hung-up one costs nothing. It returns how many terminals got the whole line and
// the reasons for the others, joined.
func WriteTerminals(paths []string, uid uint32, skip uint64, line string) (int, error) {
	n := 0
	var errs []error
	for _, p := range paths {
		err := writeTerminal(p, uid, skip, line)
		if err == nil {
			n++
		} else if !errors.Is(err, errSkipped) {
			errs = append(errs, fmt.Errorf("%s: %w", p, err))
		}
	}
	return n, errors.Join(errs...)
}

// errSkipped marks the terminal already written through standard error.
var errSkipped = errors.New("already written")

func writeTerminal(path string, uid uint32, skip uint64, line string) error {
	// Stat first: opening some character devices has side effects, so only a terminal
	// of the right owner is ever opened.
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return fmt.Errorf("stat: %w", err)
	}
	if err := checkTerminal(&st, uid); err != nil {
		return err
	}
	if st.Rdev == skip && skip != 0 {
		return errSkipped
	}
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM) {
		return fmt.Errorf("open: %w (%w)", ErrNoAccess, err)
	}
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer unix.Close(fd)
	// The name may have been replaced between stat and open: check what was opened.
	var got unix.Stat_t
	if err := unix.Fstat(fd, &got); err != nil {
		return fmt.Errorf("fstat: %w", err)
	}
	if err := checkTerminal(&got, uid); err != nil {
		return err
	}
	if got.Rdev != st.Rdev {
		return fmt.Errorf("%w: the device changed while it was opened", ErrUnsuitable)
	}
	if _, err := unix.IoctlGetTermios(fd, unix.TCGETS); err != nil {
		return fmt.Errorf("%w: not a terminal", ErrUnsuitable)
	}
	return write(fd, kindStream, line) // already its own non-blocking description
}

func checkTerminal(st *unix.Stat_t, uid uint32) error {
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFCHR || !isTTYDevice(st.Rdev):
		return fmt.Errorf("%w: not a terminal device", ErrUnsuitable)
	case st.Uid != uid:
		return fmt.Errorf("%w: the terminal belongs to uid %d", ErrUnsuitable, st.Uid)
	case st.Mode&unix.S_IWGRP == 0:
		return fmt.Errorf("%w: the owner turned messages off (mesg n)", ErrUnsuitable)
	}
	return nil
}
